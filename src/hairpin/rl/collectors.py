"""The trainer's one view of its collectors, whatever runs them: processes on this machine (``local``) or Ray actors
anywhere on a cluster (``ray``), chosen by ``performance.collectors``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from torch import nn

from hairpin.config.rl import RLConfig
from hairpin.rl.race_channel import RaceRecord
from hairpin.rl.race_ledger import RaceLedger

__all__ = ["CollectorCrashLoopError", "Collectors", "CrashLoopGuard", "EventSink", "make_collectors"]

EventSink = Callable[[str, str], None]
"""Told of each collector event: (kind, message), as the run's event log takes them."""

CRASH_LOOP_RESTARTS = 5
"""More restarts than this within ``CRASH_LOOP_WINDOW_S`` means collectors cannot run: the run stops."""
CRASH_LOOP_WINDOW_S = 60.0


class CollectorCrashLoopError(RuntimeError):
    """Collectors die as fast as they are restarted (their error is in the output above)."""


class CrashLoopGuard:
    """Counts restarts and raises ``CollectorCrashLoopError`` when they come too fast."""

    def __init__(self) -> None:
        self.restarts = 0
        self._times: list[float] = []

    def record(self, what: str) -> None:
        now = time.monotonic()
        self._times = [t for t in self._times if now - t < CRASH_LOOP_WINDOW_S] + [now]
        if len(self._times) > CRASH_LOOP_RESTARTS:
            raise CollectorCrashLoopError(
                f"collectors died {len(self._times)} times in {CRASH_LOOP_WINDOW_S:.0f} s ({what}); see their error "
                "above"
            )
        self.restarts += 1

    def forget(self) -> None:
        """Start the window afresh (after deliberate kills)."""
        self._times.clear()


class Collectors(Protocol):
    """Start, publish weights, receive races, check health, stop."""

    ledger: RaceLedger
    """Every race ``receive`` returned, counted; duplicates never returned."""

    def start(self) -> None: ...

    def publish(self, net: nn.Module) -> int:
        """Make ``net``'s weights the ones collectors act with next; the new version."""
        ...

    def receive(self, timeout: float) -> list[RaceRecord]:
        """Every race handed over since the last call, waiting up to ``timeout`` seconds for the first."""
        ...

    def set_frames_played(self, frames: int) -> None:
        """The learner's frame count, which the collectors' schedules read."""
        ...

    def set_may_run(self, may_run: bool) -> None:
        """False holds every collector (the learner is behind); True lets them drive."""
        ...

    def check_health(self, on_event: EventSink) -> None:
        """Replace or report dead collectors and tell ``on_event`` what happened since the last call; raise
        ``CollectorCrashLoopError`` when they die as fast as they restart."""
        ...

    def stop(self) -> None:
        """Stop every collector and make sure each has."""
        ...


def make_collectors(cfg: RLConfig, net: nn.Module, seed: int) -> Collectors:
    """The backend ``performance.collectors`` names, not started."""
    if cfg.performance.collectors == "ray":
        from hairpin.rl.ray_collectors import RayCollectors

        return RayCollectors(cfg, net, seed)
    from hairpin.rl.collector_pool import CollectorPool

    return CollectorPool(cfg, net, seed)
