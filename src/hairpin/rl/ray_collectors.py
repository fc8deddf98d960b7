"""The Ray collector backend (``performance.collectors: ray``): each collector is a Ray actor, on any machine of
the cluster, that runs the shared collector loop (``collector.collect``) in a thread.

The learner owns every race it takes: races come back only as the results of its own ``exchange`` calls, one call
in flight per collector, so an actor that dies cannot take back a race already returned. Each call carries what the
collector must know: the learner's frame count and hold, the count of that incarnation's races taken (its
acknowledgement), and, when the collector's weights are older than the learner's, the latest weights as one object
of Ray's store (put once per version, whatever the number of collectors). A collector keeps at most its share of
``max_pending_races`` unacknowledged races (back-pressure: it waits, nothing is dropped), so when it dies at most that
many races are lost, and the restart event says so.

Actors are restarted by Ray when they die (``max_restarts=-1``; calls in flight are retried on the new incarnation),
each restart is logged as a local collector's is, and they stop with the learner (Ray ends an actor whose owner
dies). Sim collectors ask for ``performance.ray_cpus_per_collector`` CPUs anywhere; game collectors also ask for one
``hairpin_game`` resource, which only the machines started with the game declare.
"""

from __future__ import annotations

import math
import os
import secrets
import sys
import threading
import time
import traceback
import warnings
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from hairpin.config.rl import RLConfig
from hairpin.nets import IQNNetwork
from hairpin.ray_cluster import AT_NORMAL_PRIORITY
from hairpin.rl.collector import WAIT_POLL_S, collect
from hairpin.rl.collectors import CollectorCrashLoopError, CrashLoopGuard, EventSink
from hairpin.rl.race_channel import RaceRecord
from hairpin.rl.race_ledger import RaceLedger

__all__ = ["GAME_RESOURCE", "CollectorActor", "RayCollectors", "RemoteCollector"]

GAME_RESOURCE = "hairpin_game"
"""Custom Ray resource of a machine that runs the game: ``ray start ... --resources '{"hairpin_game": N}'``."""
EXCHANGE_WAIT_S = 0.2
"""How long an exchange waits for a race before answering with none."""
GATHER_S = 0.1
"""How long a finished race waits for others to travel with it (fewer, larger answers: less work per race for the
learner and Ray's daemons, for 0.1 s of latency on races that last seconds)."""
SILENT_AFTER_S = 60.0
"""A collector that has not answered for this long is reported (its machine may be gone)."""
STOP_TIMEOUT_S = 10.0
FAILURE_REPORT_S = 5.0
"""How long a collector whose loop failed waits for an exchange to take its error to the learner before it dies."""


class CollectorActor:
    """One collector on a Ray worker (made an actor by ``RayCollectors``); also the loop's ``CollectorPort``."""

    def __init__(self, index: int, cfg: RLConfig, seed: int, capacity: int, learner_version: str) -> None:
        import ray

        from hairpin.version import code_version

        here = code_version()
        if here != learner_version:
            raise RuntimeError(
                f"this worker runs hairpin {here}, the learner {learner_version}: install the same commit on every "
                "machine of the cluster"
            )
        torch.set_num_threads(1)
        os.environ.setdefault("NUMBA_NUM_THREADS", "1")
        self.index, self.capacity = index, capacity
        self.incarnation = secrets.randbits(62)
        with warnings.catch_warnings():  # Ray's own use of a deprecated name inside this property
            warnings.simplefilter("ignore", DeprecationWarning)
            reconstructed = ray.get_runtime_context().was_current_actor_reconstructed
        if reconstructed:
            seed ^= self.incarnation  # a new life drives new races
        self.ready = threading.Condition()
        self.outbox: deque[RaceRecord] = deque()
        self.oldest = 0.0  # when the oldest race of the outbox was put in
        self.failure: str | None = None  # the loop's traceback, for the learner, when it failed
        self.produced = self.acked = 0
        self.frames = 0
        self.hold_number = -1
        self.may_run = threading.Event()
        self.stopping = threading.Event()
        self.weights: tuple[int, dict[str, torch.Tensor] | None] = (-1, None)
        self.thread = threading.Thread(target=self._drive, args=(cfg, seed), name="hairpin-collector", daemon=True)
        self.thread.start()

    def _drive(self, cfg: RLConfig, seed: int) -> None:
        try:
            with ExitStack() as resources:
                collect(self.index, self.incarnation, cfg, self, seed, resources)
        except BaseException:  # the actor dies with it (and Ray starts a new one), once the learner has the error
            if not self.stopping.is_set():
                traceback.print_exc()
                sys.stderr.flush()
                with self.ready:
                    self.failure = traceback.format_exc()
                    self.ready.notify_all()
                threading.Timer(FAILURE_REPORT_S, os._exit, (1,)).start()

    # -- the learner's calls --------------------------------------------------------------------------------

    def exchange(
        self,
        incarnation: int | None,
        taken: int,
        hold: tuple[int, bool],
        frames: int,
        version: int,
        weights: list[Any] | None,
    ) -> dict[str, Any]:
        """Take the learner's news, then hand over the races waiting (waiting up to ``EXCHANGE_WAIT_S`` for one).

        ``taken`` counts the races of ``incarnation`` the learner holds; ``hold`` is (its number, may run) as in
        ``steer``; ``weights`` (a one-element list, so Ray leaves the reference unresolved) is fetched only when
        ``version`` is newer than the weights held."""
        import ray

        self.steer(*hold, frames)
        if weights is not None and version > self.weights[0]:
            self.weights = (version, ray.get(weights[0]))
        with self.ready:
            if incarnation == self.incarnation:
                self.acked = max(self.acked, taken)
                self.ready.notify_all()
            self.ready.wait_for(lambda: bool(self.outbox) or self.failure is not None, EXCHANGE_WAIT_S)
            while self.outbox and not self.stopping.is_set() and self.failure is None:
                waited = time.monotonic() - self.oldest
                if waited >= GATHER_S or self.produced - self.acked >= self.capacity:
                    break
                self.ready.wait(GATHER_S - waited)
            races = list(self.outbox)
            self.outbox.clear()
        if self.failure is not None:
            threading.Timer(0.5, os._exit, (1,)).start()  # after this answer has left
        return {
            "incarnation": self.incarnation,
            "races": races,
            "version": self.weights[0],
            "pid": os.getpid(),
            "failure": self.failure,
        }

    def steer(self, number: int, may_run: bool, frames: int) -> None:
        """Hold or release the collector at once (an exchange may be waiting for a race meanwhile); calls may run
        out of order, so a hold or release older than the last one applied (``number``) is ignored."""
        self.frames = max(self.frames, frames)
        with self.ready:
            if number < self.hold_number:
                return
            self.hold_number = number
            (self.may_run.set if may_run else self.may_run.clear)()

    def stop(self) -> None:
        """End the loop (closing a game it drives) and wait for it."""
        self.stopping.set()
        self.may_run.set()
        with self.ready:
            self.ready.notify_all()
        self.thread.join(STOP_TIMEOUT_S)

    # -- the collector loop's port --------------------------------------------------------------------------

    def running(self) -> bool:
        return not self.stopping.is_set()

    def wait_to_run(self, timeout: float) -> bool:
        return self.may_run.wait(timeout)

    def pull(self, net: IQNNetwork, version: int) -> int:
        held, state = self.weights
        if held > version and state is not None:
            net.load_state_dict(state, strict=True)
            return held
        return version

    def frames_played(self) -> int:
        return self.frames

    def send(self, record: RaceRecord) -> bool:
        with self.ready:
            while not self.stopping.is_set():
                if self.produced - self.acked < self.capacity:
                    if not self.outbox:
                        self.oldest = time.monotonic()
                    self.outbox.append(record)
                    self.produced += 1
                    self.ready.notify_all()
                    return True
                self.ready.wait(WAIT_POLL_S)
        return False


@dataclass
class RemoteCollector:
    """The learner's view of one collector actor."""

    actor: Any
    call: Any = None  # its exchange in flight
    incarnation: int | None = None  # its life, as its last answer gave it
    held_version: int = -1  # the weights it holds
    pid: int | None = None  # its process
    answers: int = 0  # exchanges it answered
    last_answer: float = field(default_factory=time.monotonic)
    silent_reported: bool = False


class RayCollectors:
    """``performance.gpu_collectors_count`` collector actors on the Ray cluster ``performance.ray_address``."""

    def __init__(self, cfg: RLConfig, net: nn.Module, seed: int) -> None:
        from hairpin.ray_cluster import connect

        connect(cfg.performance.ray_address, "performance.ray_address", log_to_driver=True)
        self.cfg, self.seed = cfg, seed
        self.count = cfg.performance.gpu_collectors_count
        self.capacity = max(1, math.ceil(cfg.performance.max_pending_races / self.count))
        self.ledger = RaceLedger()
        self.guard = CrashLoopGuard()
        self.version = 0
        self._state: dict[str, torch.Tensor] = {}
        self._ref: Any = None  # the latest version in Ray's store, put on first need
        self.frames, self.may_run = 0, True
        self.hold_number = 0
        """Counts holds and releases, so that a collector applies only the newest."""
        self.remotes: list[RemoteCollector] = []
        self.publish(net)

    def start(self) -> None:
        import ray

        from hairpin.version import code_version

        options: dict[str, Any] = {
            "num_cpus": self.cfg.performance.ray_cpus_per_collector,
            "max_restarts": -1,
            "max_task_retries": -1,
            "max_concurrency": 4,  # an exchange, a hold or release and a stop may overlap
            "runtime_env": AT_NORMAL_PRIORITY,  # a collector competes with the learner as a local one does
        }
        if self.cfg.env.backend == "game":
            options["resources"] = {GAME_RESOURCE: 1}
        actor_class = ray.remote(CollectorActor)
        for index in range(self.count):
            seed = self.seed * 1_000_003 + 7919 * index
            actor = actor_class.options(**options, name=None).remote(
                index, self.cfg, seed, self.capacity, code_version()
            )
            self.remotes.append(RemoteCollector(actor))
            self._call(index)

    def publish(self, net: nn.Module) -> int:
        self._state = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
        self._ref = None
        self.version += 1
        return self.version

    def _weights(self) -> Any:
        import ray

        if self._ref is None:
            self._ref = ray.put(self._state)
        return self._ref

    def _call(self, index: int) -> None:
        remote = self.remotes[index]
        incarnation = remote.incarnation
        taken = self.ledger.life(index, incarnation).next_sequence if incarnation is not None else 0
        weights = [self._weights()] if remote.held_version < self.version else None
        remote.call = remote.actor.exchange.remote(
            incarnation, taken, (self.hold_number, self.may_run), self.frames, self.version, weights
        )

    def receive(self, timeout: float) -> list[RaceRecord]:
        import ray

        refs = [remote.call for remote in self.remotes]
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        done = {id(ref) for ref in ready}
        records: list[RaceRecord] = []
        for index, remote in enumerate(self.remotes):
            if id(remote.call) in done:
                records.extend(self._answer(index))
                self._call(index)
        return records

    def _answer(self, index: int) -> list[RaceRecord]:
        """The races of collector ``index``'s answered exchange (the ledger's new ones)."""
        import ray

        try:
            reply = ray.get(self.remotes[index].call)
        except ray.exceptions.ActorDiedError as error:  # it cannot be restarted (its constructor failed)
            raise CollectorCrashLoopError(f"collector {index} cannot start on Ray: {error}") from error
        except ray.exceptions.RayActorError:  # unreachable for now: ask again
            return []
        remote = self.remotes[index]
        remote.last_answer, remote.silent_reported = time.monotonic(), False
        remote.answers += 1
        remote.pid, remote.held_version = reply["pid"], reply["version"]
        if reply["incarnation"] != remote.incarnation:
            self._new_life(index, reply["incarnation"], reply["pid"])
        if reply["failure"] is not None:
            print(f"collector {index} (Ray, pid {reply['pid']}) failed:\n{reply['failure']}", file=sys.stderr)
            last_line = reply["failure"].strip().splitlines()[-1]
            self.ledger.events.append(
                ("collector_failed", f"collector {index} failed: {last_line}; Ray starts it again")
            )
        return [record for record in reply["races"] if self.ledger.accept(record)]

    def _new_life(self, index: int, incarnation: int, pid: int) -> None:
        remote = self.remotes[index]
        before, remote.incarnation = remote.incarnation, incarnation
        life = self.ledger.life(index, incarnation)
        if before is None:
            return
        self.guard.record(f"collector {index} on Ray")
        handed = self.ledger.life(index, before).next_sequence
        self.ledger.events.append(
            (
                "collector_restarted",
                f"collector {index} died and Ray started it again (life {life.number}, pid {pid}); the last life "
                f"handed over {handed} races, and at most {self.capacity} it had finished were lost with it",
            )
        )

    def set_frames_played(self, frames: int) -> None:
        self.frames = frames

    def set_may_run(self, may_run: bool) -> None:
        """A change reaches every collector at once, not with its next exchange."""
        if may_run != self.may_run:
            self.may_run = may_run
            self.hold_number += 1
            for remote in self.remotes:
                remote.actor.steer.remote(self.hold_number, may_run, self.frames)

    def check_health(self, on_event: EventSink) -> None:
        now = time.monotonic()
        for index, remote in enumerate(self.remotes):
            if now - remote.last_answer > SILENT_AFTER_S and not remote.silent_reported:
                remote.silent_reported = True
                self.ledger.events.append(
                    (
                        "collector_silent",
                        f"collector {index} has not answered for {SILENT_AFTER_S:.0f} s: its machine may be gone "
                        "(Ray starts it again where the cluster has room)",
                    )
                )
        for kind, message in self.ledger.drain_events():
            on_event(kind, message)

    def stop(self) -> None:
        import ray

        calls = [remote.call for remote in self.remotes]  # each answers within EXCHANGE_WAIT_S + GATHER_S
        ray.wait(calls, num_returns=len(calls), timeout=STOP_TIMEOUT_S)
        stops = [remote.actor.stop.remote() for remote in self.remotes]
        ray.wait(stops, num_returns=len(stops), timeout=STOP_TIMEOUT_S)
        for remote in self.remotes:
            ray.kill(remote.actor, no_restart=True)
        self.remotes = []
