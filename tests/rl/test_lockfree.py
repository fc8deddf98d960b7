"""The learner's links to its collectors: nothing a killed collector can leave held, nothing lost or leaked."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
from pathlib import Path

import pytest
import torch
from tests.rl.conftest import race_record, tiny_config
from torch import nn

from hairpin.rl.collector_pool import CollectorPool
from hairpin.rl.lockfree import RaceSlots, SharedFlag
from hairpin.rl.race_channel import RaceInbox, make_spool, send_race
from hairpin.rl.shared_weights import SharedWeights

CTX = multiprocessing.get_context("spawn")


def shared_objects(value: object, depth: int = 0) -> list[object]:
    """``value`` and everything reachable through its attributes, lists and dicts (a few levels deep)."""
    found = [value]
    if depth > 3:
        return found
    children: list[object] = []
    if isinstance(value, dict):
        children = list(value.values())
    elif isinstance(value, list | tuple):
        children = list(value)
    elif hasattr(value, "__dict__"):
        children = list(vars(value).values())
    for child in children:
        found += shared_objects(child, depth + 1)
    return found


def test_the_collector_links_hold_no_lock_event_or_semaphore(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    pool = CollectorPool(cfg, nn.Linear(2, 2), seed=0)  # type: ignore[arg-type]
    try:
        blocking = (multiprocessing.synchronize.SemLock, multiprocessing.synchronize.Condition,
                    multiprocessing.synchronize.Event)  # fmt: skip
        offenders = [type(o).__name__ for o in shared_objects(pool.links) if isinstance(o, blocking)]
        assert offenders == []
    finally:
        pool.inbox.close()


def test_shared_flag_set_clear_and_wait() -> None:
    flag = SharedFlag(CTX)
    assert not flag.is_set() and not flag.wait(0.0)
    flag.set()
    assert flag.is_set() and flag.wait(0.0)
    flag.clear()
    assert not flag.is_set()
    assert SharedFlag(CTX, True).is_set()


def test_race_slots_bound_each_collector_and_a_reset_frees_a_dead_ones() -> None:
    slots = RaceSlots(CTX, n_collectors=2, max_pending=3)
    assert slots.per_collector == 2
    slots.mark_sent(0)
    slots.mark_sent(0)
    assert not slots.has_room(0) and slots.has_room(1)
    assert not slots.wait_for_room(0, 0.0) and slots.wait_for_room(1, 0.0)
    slots.mark_taken(0)
    assert slots.has_room(0)
    slots.mark_sent(0)  # collector 0 dies with two races untaken, one of them never announced
    slots.reset(0)
    assert slots.sent[0].value == slots.taken[0].value == 1 and slots.has_room(0)
    assert RaceSlots(CTX, n_collectors=4, max_pending=1).per_collector == 1


def weights_of(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def test_published_weights_reach_a_pull_and_versions_count_publishes() -> None:
    torch.manual_seed(0)
    learner, collector = nn.Linear(3, 2), nn.Linear(3, 2)
    shared = SharedWeights(learner, CTX)
    assert shared.version == 0
    assert shared.publish(learner) == 1
    assert shared.pull(collector, -1) == 1
    assert all(torch.equal(a, b) for a, b in zip(weights_of(learner), weights_of(collector), strict=True))
    with torch.no_grad():
        learner.weight.add_(1.0)
    assert shared.pull(collector, 1) == 1  # not published yet: nothing to pull
    assert shared.publish(learner) == 2
    assert shared.pull(collector, 1) == 2
    assert torch.equal(collector.weight, learner.weight)


def test_a_pull_torn_by_a_publish_copies_again(monkeypatch: pytest.MonkeyPatch) -> None:
    learner, collector = nn.Linear(3, 2), nn.Linear(3, 2)
    shared = SharedWeights(learner, CTX)
    shared.publish(learner)
    copies = []
    real_load = nn.Module.load_state_dict

    def load_during_a_publish(self: nn.Module, state, strict: bool = True):  # type: ignore[no-untyped-def]
        copies.append(state["weight"].clone())
        if len(copies) == 1:  # the learner publishes newer weights while this copy is being made
            with torch.no_grad():
                learner.weight.fill_(7.0)
            shared.publish(learner)
        return real_load(self, state, strict=strict)

    monkeypatch.setattr(nn.Module, "load_state_dict", load_during_a_publish)
    assert shared.pull(collector, -1) == 2
    assert len(copies) == 2 and torch.all(collector.weight == 7.0)


def test_a_pull_during_a_publish_keeps_the_weights_it_has() -> None:
    net = nn.Linear(3, 2)
    shared = SharedWeights(net, CTX)
    shared.publish(net)
    shared._sequence.value += 1  # a publish of version 2 has begun and not finished
    assert shared.pull(nn.Linear(3, 2), 1) == 1


def test_races_a_dead_collector_announced_are_taken_and_its_slots_freed() -> None:
    slots = RaceSlots(CTX, n_collectors=1, max_pending=2)
    inbox = RaceInbox(make_spool(), slots)
    try:
        reader, writer = CTX.Pipe(duplex=False)
        inbox.attach(0, reader)
        for sequence, steps in enumerate((3, 5)):
            send_race(writer, inbox.spool, race_record(0, steps, sequence=sequence))
            slots.mark_sent(0)
        slots.mark_sent(0)  # died after counting a third race it never announced
        writer.close()
        inbox.detach(0)
        assert slots.has_room(0) and inbox.conns == {}
        assert [len(r.actions) for r in inbox.receive(timeout=0.0)] == [3, 5]
        assert inbox.receive(timeout=0.0) == [] and list(inbox.spool.iterdir()) == []
    finally:
        inbox.close()
