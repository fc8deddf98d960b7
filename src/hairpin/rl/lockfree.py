"""What the learner and its collectors share besides weights, built so that a collector killed at any instant
leaves nothing held.

multiprocessing's Event, Lock, Semaphore and Condition are not: a process killed inside ``Event.wait`` makes the
next ``Event.set`` wait forever for it to acknowledge the wake-up, and one killed holding a lock keeps it. Here
every shared value has a single writer and is read without a lock; a waiting process polls.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

__all__ = ["POLL_S", "RaceSlots", "SharedFlag", "poll_until"]

POLL_S = 0.001
"""How often a waiting collector looks again."""


def poll_until(ready: Callable[[], bool], timeout: float) -> bool:
    """Look at ``ready()`` every ``POLL_S`` seconds for up to ``timeout`` seconds; whether it came true."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


class SharedFlag:
    """A boolean the learner writes and collectors read (a lock-free stand-in for ``multiprocessing.Event``)."""

    def __init__(self, ctx: Any, value: bool = False) -> None:
        self._value = ctx.Value("b", int(value), lock=False)

    def set(self) -> None:
        self._value.value = 1

    def clear(self) -> None:
        self._value.value = 0

    def is_set(self) -> bool:
        return bool(self._value.value)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the flag to be set; whether it is."""
        return poll_until(self.is_set, timeout)


class RaceSlots:
    """Bounds the races a collector has sent that the learner has not taken yet.

    Collector ``i`` counts what it sent, the learner what it took from ``i``; each counter has one writer. When a
    collector dies, the learner takes everything left in its pipe and then sets the sent count to the taken
    count, so its replacement starts with every slot free, whatever instant the old one died at.
    """

    def __init__(self, ctx: Any, n_collectors: int, max_pending: int) -> None:
        self.per_collector = max(1, math.ceil(max_pending / n_collectors))
        self.sent = [ctx.Value("q", 0, lock=False) for _ in range(n_collectors)]
        self.taken = [ctx.Value("q", 0, lock=False) for _ in range(n_collectors)]

    def has_room(self, collector: int) -> bool:
        return self.sent[collector].value - self.taken[collector].value < self.per_collector

    def wait_for_room(self, collector: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``collector`` to have room; whether it has."""
        return poll_until(lambda: self.has_room(collector), timeout)

    def mark_sent(self, collector: int) -> None:
        self.sent[collector].value += 1

    def mark_taken(self, collector: int) -> None:
        self.taken[collector].value += 1

    def reset(self, collector: int) -> None:
        """Forget a dead collector's count; call it after its pipe is drained and before its replacement starts."""
        self.sent[collector].value = self.taken[collector].value
