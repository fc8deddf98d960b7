"""Race results per map and race kind, read from the race tags, and their statistics at a checkpoint.

Tags (DESIGN §6; Linesight writes them without ``Race/``, its older versions without trained/blind):
``Race/{eval|explo}_race_time_{trained|blind}_{map}`` (s, the real elapsed time, DNF included),
``…_race_finished_…`` (1 finished, 0 DNF), ``…_race_time_finished_…`` (s, finished races only) and
``…_race_progress_…`` (the share of the lap covered, 1 for a finish; hairpin only).
Eval and exploration races are different keys and never mixed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from hairpin.analysis.run import Run

__all__ = [
    "RaceKey",
    "RaceSeries",
    "RaceStats",
    "map_limit_s",
    "race_key",
    "race_keys",
    "race_series",
    "race_stats",
]

_RACE_TAG = re.compile(
    r"^(?:Race/)?(?P<kind>eval|explo)_race_(?P<what>time_finished|time|finished|progress)_(?!robust_)"
    r"(?:(?P<fill>trained|blind)_)?(?P<map>.+)$"
)


@dataclass(frozen=True, order=True)
class RaceKey:
    """Races of one kind on one map: ``eval`` or ``explo``; ``trained``/``blind`` when the tags say it."""

    kind: str
    map: str
    fill: str = ""

    @property
    def label(self) -> str:
        """``eval blind sprint``."""
        return " ".join(part for part in (self.kind, self.fill, self.map) if part)

    @property
    def slug(self) -> str:
        """A file-name-safe form: ``eval_blind_sprint``."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", self.label.replace(" ", "_"))


def race_key(tag: str) -> tuple[RaceKey, str] | None:
    """(key, ``time`` | ``finished`` | ``time_finished`` | ``progress``) of a race tag, or None for any other
    tag."""
    match = _RACE_TAG.match(tag)
    if match is None:
        return None
    return RaceKey(match["kind"], match["map"], match["fill"] or ""), match["what"]


def race_keys(tags: Iterable[str]) -> dict[RaceKey, dict[str, str]]:
    """Every race key among ``tags``, with its tags by what they hold."""
    keys: dict[RaceKey, dict[str, str]] = {}
    for tag in tags:
        found = race_key(tag)
        if found is not None:
            keys.setdefault(found[0], {})[found[1]] = tag
    return dict(sorted(keys.items()))


def map_limit_s(run: Run, map_name: str) -> float | None:
    """The limit of ``map_name`` in s as the run logged it (``limit_ms_{map}``, DESIGN §8), None if it did not."""
    series = run.series.get(f"limit_ms_{map_name}")
    return float(series.value[-1]) / 1000.0 if series is not None and len(series.value) else None


@dataclass(frozen=True)
class RaceSeries:
    """The races of one key in one run, on one axis; R races of which F finished."""

    x: np.ndarray  # (R,) axis position of each race, sorted
    finished: np.ndarray | None  # (R,) bool; None when the run has no _race_finished_ tag
    finish_x: np.ndarray  # (F,) axis position of each finished race, sorted
    finish_time: np.ndarray  # (F,) race time in s
    progress_x: np.ndarray | None = None  # (P,) axis position of each race with a progress, sorted
    progress: np.ndarray | None = None  # (P,) share of the lap covered; None when the run logs no progress


def _sorted_on_axis(run: Run, tag: str, axis: str) -> tuple[np.ndarray, np.ndarray]:
    """(positions on ``axis``, values) of ``tag`` in ``run``, in axis order (ties in logging order)."""
    series = run.series[tag]
    x = run.positions(series, axis)
    order = np.argsort(x, kind="stable")
    return x[order], series.value[order]


def race_series(run: Run, key: RaceKey, axis: str) -> RaceSeries | None:
    """The races of ``key`` in ``run`` on ``axis``, or None when the run has none."""
    tags = race_keys(run.series).get(key, {})
    if not tags:
        return None
    finished = None
    if "finished" in tags:
        x, flags = _sorted_on_axis(run, tags["finished"], axis)
        finished = flags > 0.5
    else:
        times = run.series[tags["time"]]
        x = np.sort(run.positions(times, axis), kind="stable")
    if "time_finished" in tags:
        done = run.series[tags["time_finished"]]
        finish_x, finish_time = run.positions(done, axis), done.value
    elif "time" in tags and "finished" in tags and len(run.series[tags["time"]]) == len(run.series[tags["finished"]]):
        times, flags = run.series[tags["time"]], run.series[tags["finished"]]
        mask = flags.value > 0.5  # both logged together for each race, so they pair in logging order
        finish_x, finish_time = run.positions(times, axis)[mask], times.value[mask]
    else:
        finish_x, finish_time = np.zeros(0), np.zeros(0)
    order = np.argsort(finish_x, kind="stable")
    progress_x, progress = _sorted_on_axis(run, tags["progress"], axis) if "progress" in tags else (None, None)
    return RaceSeries(x, finished, finish_x[order], finish_time[order], progress_x, progress)


@dataclass(frozen=True)
class RaceStats:
    """Statistics of the races up to a checkpoint; None where there is nothing to compute them from."""

    races: int
    finished: int
    best: float | None
    mean: float | None
    median: float | None
    finish_rate: float | None
    window_races: int
    window_finish_rate: float | None
    first_finish: float | None
    """Axis position of the first finished race (in the axis's unit), if it came before the checkpoint."""
    best_to_limit: float | None = None
    """The best time as a multiple of the map's limit (None without a limit)."""
    best_progress: float | None = None
    """The largest share of the lap any race covered (1 once one finished; None when no progress is logged)."""


def race_stats(series: RaceSeries, at: float, window: float, limit_s: float | None = None) -> RaceStats:
    """Statistics of the races with position <= ``at``; windowed finish rate over ``(at - window, at]``;
    ``limit_s``: the map's limit, for the best time's ratio to it."""
    upto = int(np.searchsorted(series.x, at, side="right"))
    since = int(np.searchsorted(series.x, at - window, side="right"))
    times = series.finish_time[: int(np.searchsorted(series.finish_x, at, side="right"))]
    flags = series.finished
    rate = float(flags[:upto].mean()) if flags is not None and upto else None
    window_rate = float(flags[since:upto].mean()) if flags is not None and upto > since else None
    first = float(series.finish_x[0]) if series.finish_x.size and series.finish_x[0] <= at else None
    best = float(times.min()) if times.size else None
    best_progress = None
    if series.progress is not None and series.progress_x is not None:
        shares = series.progress[: int(np.searchsorted(series.progress_x, at, side="right"))]
        best_progress = float(shares.max()) if shares.size else None
    return RaceStats(
        races=upto,
        finished=int(flags[:upto].sum()) if flags is not None else int(times.size),
        best=best,
        mean=float(times.mean()) if times.size else None,
        median=float(np.median(times)) if times.size else None,
        finish_rate=rate,
        window_races=upto - since,
        window_finish_rate=window_rate,
        first_finish=first,
        best_to_limit=best / limit_s if best is not None and limit_s else None,
        best_progress=best_progress,
    )
