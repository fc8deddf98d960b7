"""Race results: the TensorBoard scalars of each race (DESIGN §6 tag names) and per-map tallies for the display."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from hairpin.config.rl import MapCycleEntry
from hairpin.rl.map_cycle import race_kind

__all__ = ["MapTally", "RaceLog", "RaceNews", "race_scalars"]

WINDOW = 20
"""Races in the windowed finish rate of the display."""


def race_scalars(
    entry: MapCycleEntry,
    race_time_ms: int,
    finished: bool,
    mean_q: float,
    limit_ms: int | None = None,
    trained: frozenset[str] | None = None,
    progress: float | None = None,
) -> dict[str, float]:
    """The per-race scalars. A DNF logs 0 in ``_race_finished_`` and its real elapsed time in ``_race_time_``;
    a finished race on a map with a limit also logs its time over the limit (``Race/{kind}_limit_ratio_…``).
    ``trained``: the map cycle's ``trained_maps``, which name a race trained or blind. ``progress``: the share
    of the lap the race covered (1.0 for a finish), logged as ``_race_progress_`` when given."""
    kind, fill = race_kind(entry, trained)
    suffix = f"{fill}_{entry.short_name}"
    scalars = {
        f"Race/{kind}_race_time_{suffix}": race_time_ms / 1000.0,
        f"Race/{kind}_race_finished_{suffix}": float(finished),
        f"RL/avg_Q_{suffix}": mean_q,
    }
    if progress is not None:
        scalars[f"Race/{kind}_race_progress_{suffix}"] = 1.0 if finished else progress
    if finished:
        scalars[f"Race/{kind}_race_time_finished_{suffix}"] = race_time_ms / 1000.0
        if limit_ms:
            scalars[f"Race/{kind}_limit_ratio_{suffix}"] = race_time_ms / limit_ms
    return scalars


class RaceNews(NamedTuple):
    """What a race changed: strictly better than every earlier finish of its map, or of its kind there."""

    map_best: bool
    kind_best: bool


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

    def add(self, entry: MapCycleEntry, race_time_ms: int, finished: bool) -> RaceNews:
        """Count a race; say whether it beat the best time of its map, and of its kind on that map."""
        kind, _ = race_kind(entry)
        tally = self.tallies.setdefault((entry.short_name, kind), MapTally())
        tally.races += 1
        tally.finished += finished
        tally.recent.append(finished)
        if not finished:
            return RaceNews(False, False)
        kind_best = tally.best_ms is None or race_time_ms < tally.best_ms
        if kind_best:
            tally.best_ms = race_time_ms
        best = self.best_ms.get(entry.short_name)
        map_best = best is None or race_time_ms < best
        if map_best:
            self.best_ms[entry.short_name] = race_time_ms
        return RaceNews(map_best, kind_best)
