"""What the Ray collector tests share: a config with Ray collectors, and a learner that takes races as the trainer
does without training."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.rl.conftest import tiny_config

from hairpin.config.rl import RLConfig
from hairpin.rl.race_channel import RaceRecord
from hairpin.rl.ray_collectors import RayCollectors

DEADLINE_S = 120.0
"""A bound on waiting for the collectors, so that a broken backend fails instead of hanging."""


def ray_config(tmp_path: Path, **overrides: object) -> RLConfig:
    return tiny_config(
        tmp_path,
        **{
            "performance.collectors": "ray",
            "performance.gpu_collectors_count": 2,
            "performance.cars_per_collector": 2,
            "performance.max_pending_races": 4,
            **overrides,
        },
    )


class Learner:
    """Takes races as the trainer does, keeping them and the events."""

    def __init__(self, collectors: RayCollectors) -> None:
        self.collectors = collectors
        self.races: list[RaceRecord] = []
        self.events: list[tuple[str, str]] = []

    def take(self) -> list[RaceRecord]:
        got = self.collectors.receive(timeout=0.2)
        self.races += got
        self.collectors.set_frames_played(sum(len(r.actions) for r in self.races))
        self.collectors.check_health(lambda kind, message: self.events.append((kind, message)))
        return got

    def until(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not done():
            assert time.monotonic() < deadline, f"no {what} within {DEADLINE_S:.0f} s; events {self.events}"
            self.take()

    def lives(self, collector: int) -> list[int]:
        """The incarnations of ``collector`` in the order their races came."""
        return list(dict.fromkeys(r.incarnation for r in self.races if r.collector == collector))

    def answered(self, times: int) -> None:
        """Take races until every collector answered ``times`` more exchanges."""
        remotes = self.collectors.remotes
        target = [remote.answers + times for remote in remotes]
        self.until(lambda: all(r.answers >= t for r, t in zip(remotes, target, strict=True)), "answers")


def assert_each_life_gap_free(learner: Learner) -> None:
    seen: dict[tuple[int, int], list[int]] = {}
    for record in learner.races:
        seen.setdefault((record.collector, record.incarnation), []).append(record.sequence)
    for life, sequences in seen.items():
        assert sequences == list(range(len(sequences))), f"collector {life[0]}: {sequences}"
    ledger = learner.collectors.ledger
    assert ledger.duplicates == 0 and ledger.missing == 0
    assert ledger.taken == len(learner.races)
    assert ledger.frames == sum(len(r.actions) for r in learner.races)
