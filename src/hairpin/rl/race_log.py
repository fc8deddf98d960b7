"""Race results: the TensorBoard scalars of each race (DESIGN §6 tag names) and per-map tallies for the display."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from hairpin.config.rl import MapCycleEntry
from hairpin.rl.map_cycle import race_kind

__all__ = ["MapTally", "RaceLog", "race_scalars"]

WINDOW = 20
"""Races in the windowed finish rate of the display."""


def race_scalars(entry: MapCycleEntry, race_time_ms: int, finished: bool, mean_q: float) -> dict[str, float]:
    """The per-race scalars. A DNF logs 0 in ``_race_finished_`` and its real elapsed time in ``_race_time_``."""
    kind, fill = race_kind(entry)
    suffix = f"{fill}_{entry.short_name}"
    scalars = {
        f"Race/{kind}_race_time_{suffix}": race_time_ms / 1000.0,
        f"Race/{kind}_race_finished_{suffix}": float(finished),
        f"RL/avg_Q_{suffix}": mean_q,
    }
    if finished:
        scalars[f"Race/{kind}_race_time_finished_{suffix}"] = race_time_ms / 1000.0
    return scalars


@dataclass
class MapTally:
    """Races of one map and kind."""

    races: int = 0
    finished: int = 0
    best_ms: int | None = None
    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=WINDOW))

    @property
    def recent_finish_rate(self) -> float:
        return sum(self.recent) / len(self.recent) if self.recent else 0.0


class RaceLog:
    """Tallies by (short_name, "eval" | "explo"), and the best finished time of each map over both kinds."""

    def __init__(self, best_ms: dict[str, int] | None = None) -> None:
        self.tallies: dict[tuple[str, str], MapTally] = {}
        self.best_ms: dict[str, int] = dict(best_ms or {})

    def add(self, entry: MapCycleEntry, race_time_ms: int, finished: bool) -> bool:
        """Count a race; return True when it is a new best time of its map."""
        kind, _ = race_kind(entry)
        tally = self.tallies.setdefault((entry.short_name, kind), MapTally())
        tally.races += 1
        tally.finished += finished
        tally.recent.append(finished)
        if not finished:
            return False
        if tally.best_ms is None or race_time_ms < tally.best_ms:
            tally.best_ms = race_time_ms
        best = self.best_ms.get(entry.short_name)
        if best is None or race_time_ms < best:
            self.best_ms[entry.short_name] = race_time_ms
            return True
        return False

    def best_eval_ms(self) -> dict[str, int]:
        """Best finished eval time of each map that has one."""
        return {name: t.best_ms for (name, kind), t in self.tallies.items() if kind == "eval" and t.best_ms is not None}
