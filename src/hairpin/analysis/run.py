"""A run read from disk: one series per tag, its timeline, and each value's place on every axis."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from hairpin.analysis.axes import Timeline, timeline_from_gaps, timeline_from_sessions
from hairpin.analysis.errors import AnalysisError
from hairpin.analysis.events import ReadProblem
from hairpin.analysis.merge import Series, merge_files, read_run_files
from hairpin.analysis.runs import RunSource

__all__ = ["BATCHES_TAG", "Run", "base_name", "load_run"]

BATCHES_TAG = "cumul_number_batches_done"


def base_name(tag: str) -> str:
    """A tag without its group: ``Training/loss`` → ``loss`` (Linesight writes its tags without groups)."""
    return tag.rsplit("/", 1)[-1]


@dataclass
class Run:
    """One run's values, merged over its directories and sessions, with the axes they are compared on."""

    name: str
    group: str | None
    seed: int | None
    series: dict[str, Series]
    timeline: Timeline
    files: tuple[Path, ...]
    problems: list[ReadProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _durations: dict[str, float] = field(default_factory=dict, repr=False)

    def tag_for(self, name: str) -> str | None:
        """This run's tag for ``name``: the same tag, or the one tag with its base name (``loss``, ``Race/…``)."""
        if name in self.series:
            return name
        matches = sorted(tag for tag in self.series if base_name(tag) == base_name(name))
        if len(matches) > 1:
            raise AnalysisError(f"run {self.name}: {name!r} is ambiguous, it could be {', '.join(matches)}")
        return matches[0] if matches else None

    @property
    def value_count(self) -> int:
        """Number of values over all tags."""
        return sum(len(s) for s in self.series.values())

    def positions(self, series: Series, axis: str) -> np.ndarray:
        """(E,) where each value of ``series`` sits on ``axis``, in the axis's unit."""
        if axis == "wall_minutes":
            return self.timeline.wall_minutes(series.wall)
        if axis == "training_hours":
            return self.timeline.training_hours(series.wall)
        if axis == "frames":
            return series.step.astype(np.float64)
        if axis == "batches":
            steps, batches = self._batches_curve
            return np.interp(series.step, steps, batches)
        raise AnalysisError(f"unknown axis {axis!r}")

    @cached_property
    def _batches_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, batches) of the batch counter, sorted by step: the batches axis, sorted once per run."""
        tag = self.tag_for(BATCHES_TAG)
        if tag is None:
            raise AnalysisError(f"run {self.name} has no {BATCHES_TAG} scalar: the batches axis needs it")
        counter = self.series[tag]
        order = np.argsort(counter.step, kind="stable")
        return counter.step[order], counter.value[order]

    def duration(self, axis: str) -> float:
        """How far the run's values reach on ``axis``."""
        if axis not in self._durations:
            ends = [float(self.positions(s, axis).max()) for s in self.series.values() if len(s)]
            self._durations[axis] = max(ends, default=0.0)
        return self._durations[axis]


def load_run(source: RunSource, gap_minutes: float) -> Run:
    """Read every event file of ``source`` and merge them; the timeline comes from run.json sessions if any."""
    files = read_run_files(source.log_dirs)
    merged = merge_files(files)
    if not merged.series:
        dirs = ", ".join(str(d) for d in source.log_dirs)
        raise AnalysisError(f"run {source.name}: no scalar values in {dirs} ({len(files)} event files)")
    walls = np.sort(np.concatenate([s.wall for s in merged.series.values()]))
    notes = [*source.notes, *(f"{source.name}: {note}" for note in merged.notes)]
    sessions = source.manifest.sessions if source.manifest is not None else []
    if sessions:
        timeline, timeline_notes = timeline_from_sessions(sessions, walls)
        notes.extend(f"{source.name}: {note}" for note in timeline_notes)
    else:
        timeline = timeline_from_gaps(walls, gap_minutes)
    return Run(
        name=source.name,
        group=source.group,
        seed=source.seed,
        series=merged.series,
        timeline=timeline,
        files=merged.files,
        problems=merged.problems,
        notes=notes,
    )
