"""The cells of a comparison: each run's durations, race statistics and last scalar values at each checkpoint.

A subject is one run or the runs of one variant (its seeds). A subject's cell is the mean over its runs that have
a value, with a bootstrap interval when two or more do (``stats.py``); ``n`` is what the cell was computed from,
summed over the runs: races for counts, rates and the first finish, finished races for times, values for scalars.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hairpin.analysis.axes import AXES
from hairpin.analysis.races import RaceKey, RaceSeries, RaceStats, map_limit_s, race_series, race_stats
from hairpin.analysis.run import Run
from hairpin.analysis.stats import Estimate, estimate, intervals_overlap

__all__ = [
    "RACE_STATISTICS",
    "SHARE_STATISTICS",
    "Cell",
    "Subject",
    "duration_cells",
    "overlap_notes",
    "race_cells",
    "scalar_cells",
]

_RACE_FIELDS = {
    "finished": ("finished", "races"),
    "best_s": ("best", "finished"),
    "best_to_limit": ("best_to_limit", "finished"),
    "mean_s": ("mean", "finished"),
    "median_s": ("median", "finished"),
    "finish_rate": ("finish_rate", "races"),
    "window_finish_rate": ("window_finish_rate", "window_races"),
    "first_finish": ("first_finish", "races"),
    "best_progress": ("best_progress", "races"),
}
"""Race statistic → (the RaceStats field of its value, the RaceStats field of its n)."""
RACE_STATISTICS = tuple(_RACE_FIELDS)
"""Race statistics, in table order."""
SHARE_STATISTICS = ("finish_rate", "window_finish_rate", "best_progress")
"""Race statistics that are shares (0 to 1), shown as percentages."""


@dataclass(frozen=True)
class Subject:
    """A line of the comparison: one run, or the runs of one variant."""

    name: str
    runs: tuple[Run, ...]


@dataclass(frozen=True)
class Cell:
    """One number of the comparison, machine-readable (CSV and JSON rows are these fields)."""

    section: str
    """``duration``, ``race`` or ``scalar``."""
    subject: str
    metric: str
    """The race (``eval blind sprint``), the scalar tag, or ``duration``."""
    statistic: str
    """A race statistic (``RACE_STATISTICS``), ``last`` for scalars, the axis name for durations."""
    at: float | None
    """The checkpoint, in the axis's unit (None for durations)."""
    value: float | None
    low: float | None
    high: float | None
    n: int
    runs_with_value: int
    runs: int
    kind: str = ""
    map: str = ""


def _cell(
    section: str,
    subject: Subject,
    metric: str,
    statistic: str,
    at: float,
    values: Sequence[float | None],
    n: int,
    seed: int,
    key: RaceKey | None = None,
) -> Cell:
    """The cell of ``subject`` from one value per run (None where a run has none)."""
    found: Estimate = estimate(values, seed=seed)
    return Cell(
        section=section,
        subject=subject.name,
        metric=metric,
        statistic=statistic,
        at=at,
        value=found.mean,
        low=found.low,
        high=found.high,
        n=n,
        runs_with_value=found.runs_with_value,
        runs=found.runs,
        kind=key.kind if key is not None else "",
        map=key.map if key is not None else "",
    )


def duration_cells(runs: Sequence[Run], has_batches: dict[str, bool]) -> list[Cell]:
    """How far each run reaches on every axis (batches only for runs that log the batch counter)."""
    cells = []
    for run in runs:
        for axis in AXES:
            value = run.duration(axis) if axis != "batches" or has_batches[run.name] else None
            cells.append(Cell("duration", run.name, "duration", axis, None, value, None, None, run.value_count, 1, 1))
    return cells


def race_cells(
    subjects: Sequence[Subject], keys: Sequence[RaceKey], axis: str, at: np.ndarray, window: float, seed: int
) -> list[Cell]:
    """Race statistics of every subject and key at every checkpoint in ``at``."""
    cells = []
    for subject in subjects:
        for key in keys:
            series: list[RaceSeries | None] = [race_series(run, key, axis) for run in subject.runs]
            limits = [map_limit_s(run, key.map) for run in subject.runs]
            for checkpoint in at:
                stats: list[RaceStats | None] = [
                    race_stats(s, float(checkpoint), window, limit) if s is not None else None
                    for s, limit in zip(series, limits, strict=True)
                ]
                for statistic in RACE_STATISTICS:
                    value_field, n_field = _RACE_FIELDS[statistic]
                    values = [getattr(s, value_field) if s is not None else None for s in stats]
                    n = sum(getattr(s, n_field) for s in stats if s is not None)
                    cells.append(_cell("race", subject, key.label, statistic, float(checkpoint), values, n, seed, key))
    return cells


def _last_values(run: Run, tag: str | None, axis: str, at: np.ndarray) -> list[tuple[float | None, int]]:
    """(last value at or before each checkpoint, values up to it) of ``tag`` in ``run``."""
    if tag is None:
        return [(None, 0)] * at.size
    series = run.series[tag]
    position = run.positions(series, axis)
    order = np.argsort(position, kind="stable")
    values = series.value[order]
    upto = np.searchsorted(position[order], at, side="right")
    return [(float(values[i - 1]) if i else None, int(i)) for i in upto]


def scalar_cells(
    subjects: Sequence[Subject], metrics: Sequence[str], axis: str, at: np.ndarray, seed: int
) -> list[Cell]:
    """The last value of each scalar metric at every checkpoint, per subject."""
    cells = []
    for subject in subjects:
        for metric in metrics:
            per_run = [_last_values(run, run.tag_for(metric), axis, at) for run in subject.runs]
            for c, checkpoint in enumerate(at):
                values = [found[c][0] for found in per_run]
                n = sum(found[c][1] for found in per_run)
                cells.append(_cell("scalar", subject, metric, "last", float(checkpoint), values, n, seed))
    return cells


def overlap_notes(cells: Sequence[Cell], unit: str) -> list[str]:
    """One note per metric, statistic and pair of subjects whose intervals overlap, with the checkpoints."""
    by_row: dict[tuple[str, str, float | None], list[Cell]] = {}
    for cell in cells:
        if cell.low is not None:
            by_row.setdefault((cell.metric, cell.statistic, cell.at), []).append(cell)
    pairs: dict[tuple[str, str, str, str], list[float]] = {}
    for (metric, statistic, at), row in by_row.items():
        for i, a in enumerate(row):
            for b in row[i + 1 :]:
                as_estimate = [Estimate(c.value, c.low, c.high, c.runs_with_value, c.runs) for c in (a, b)]
                if at is not None and intervals_overlap(*as_estimate):
                    pairs.setdefault((metric, statistic, a.subject, b.subject), []).append(at)
    return [
        f"{metric} · {statistic}: the 95% intervals of {a} and {b} overlap at "
        f"{', '.join(f'{x:g}' for x in sorted(ats))} "
        f"{unit} (no clear difference there)"
        for (metric, statistic, a, b), ats in pairs.items()
    ]
