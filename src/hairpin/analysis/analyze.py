"""A comparison of runs: find and read them, pick the axis and checkpoints, compute every cell (DESIGN §7).

Runs are compared up to their common window (the shortest run's reach on the axis), at checkpoints every
``interval``. ``auto`` picks training hours as soon as one run has several sessions or gaps, and says why; wall
minutes otherwise.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hairpin.analysis.axes import AXES, UNIT, checkpoints, nice_interval, parse_span
from hairpin.analysis.errors import AnalysisError
from hairpin.analysis.races import RaceKey, race_key, race_keys
from hairpin.analysis.run import BATCHES_TAG, Run, base_name, load_run
from hairpin.analysis.runs import RunCatalog
from hairpin.analysis.tables import Cell, Subject, duration_cells, overlap_notes, race_cells, scalar_cells

__all__ = ["DEFAULT_SCALARS", "Analysis", "AnalysisOptions", "analyze", "compare", "load_runs"]

DEFAULT_SCALARS = (
    "loss",
    "loss_test",
    "learning_rate",
    "epsilon",
    "learner_percentage_training",
    "transitions_learned_per_second",
)
"""Scalars tabled when ``metrics`` is empty (by base name, so Linesight's ``loss`` and hairpin's ``Training/loss``
meet), with every ``avg_Q_*`` tag."""
TIME_AXES = ("wall_minutes", "training_hours")


@dataclass(frozen=True)
class AnalysisOptions:
    """What to compare and how; built by the CLI and by the experiment registry."""

    runs: tuple[str, ...] = ()
    """Run names, glob patterns or directories."""
    logdir: Path = Path("tensorboard")
    runs_dir: Path = Path("runs")
    time_axis: str = "auto"
    interval: str | None = None
    """Checkpoint spacing on a time axis: ``30m``, ``2h``; a bare number is in the axis's unit."""
    step_interval: str | None = None
    """Checkpoint spacing on the frames or batches axis: ``1M``, ``500k``."""
    window: str | None = None
    """Span of the windowed finish rate, in the axis's terms; the checkpoint interval by default."""
    metrics: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    """``NAME=GLOB`` or ``GLOB``: runs whose names match are one variant, aggregated over seeds."""
    gap_minutes: float = 30.0
    """For runs without run.json: a stretch this long without a value is downtime."""
    seed: int = 0
    """Seed of the bootstrap generator."""

    @classmethod
    def from_cli(
        cls, runs: list[str] | None, *, metrics: list[str] | None, groups: list[str] | None, **options: Any
    ) -> AnalysisOptions:
        """Options from command-line values: missing lists are empty, ``--metrics a,b`` is split at commas."""
        split = [m.strip() for text in metrics or [] for m in text.split(",") if m.strip()]
        return cls(runs=tuple(runs or []), metrics=tuple(split), groups=tuple(groups or []), **options)


@dataclass
class Analysis:
    """Everything a comparison found: the runs, the axis and why, checkpoints, cells, notes and warnings."""

    options: AnalysisOptions
    runs: list[Run]
    subjects: list[Subject]
    axis: str
    axis_reason: str
    window_end: float
    limited_by: str
    interval: float
    checkpoints: np.ndarray  # (C,) in the axis's unit
    rate_window: float
    races: list[RaceKey]
    scalars: list[str]
    cells: list[Cell]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def unit(self) -> str:
        """Unit of the axis."""
        return UNIT[self.axis]


def _group_patterns(groups: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(name, glob)`` of each ``NAME=GLOB`` or ``GLOB`` option."""
    pairs = []
    for text in groups:
        name, equals, pattern = text.partition("=")
        pair = (name.strip(), pattern.strip()) if equals else (text, text)
        if not all(pair):
            raise AnalysisError(f"--group {text!r}: give NAME=GLOB (or a GLOB), both non-empty")
        pairs.append(pair)
    return pairs


def _subjects(runs: list[Run], groups: tuple[str, ...]) -> list[Subject]:
    """Runs gathered by ``--group`` patterns first, then by run.json group; any other run stands alone."""
    members: dict[str, list[Run]] = {}
    patterns = _group_patterns(groups)
    for run in runs:
        matched = list(dict.fromkeys(name for name, pattern in patterns if fnmatch.fnmatchcase(run.name, pattern)))
        if len(matched) > 1:
            raise AnalysisError(f"run {run.name} matches several --group patterns: {', '.join(matched)}")
        name = matched[0] if matched else run.group or run.name
        members.setdefault(name, []).append(run)
    for name, pattern in patterns:
        if not any(fnmatch.fnmatchcase(run.name, pattern) for run in runs):
            names = ", ".join(run.name for run in runs)
            raise AnalysisError(f"--group {name}={pattern}: no run matches {pattern!r}; the runs compared are: {names}")
    return [Subject(name, tuple(group)) for name, group in members.items()]


def _duration(seconds: float) -> str:
    """``42 s``, ``12.5 min``, ``3.00 h``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"


def _choose_axis(requested: str, runs: list[Run]) -> tuple[str, str]:
    """The axis and the reason it was chosen."""
    if requested not in (*AXES, "auto"):
        raise AnalysisError(f"unknown time axis {requested!r}; choose one of {', '.join((*AXES, 'auto'))}")
    if requested == "batches":
        lacking = [run.name for run in runs if run.tag_for(BATCHES_TAG) is None]
        if lacking:
            raise AnalysisError(f"the batches axis needs {BATCHES_TAG}, which {', '.join(lacking)} do not log")
    if requested != "auto":
        return requested, f"{requested} (asked for)"
    split = [run for run in runs if run.timeline.active.shape[0] > 1]
    if not split:
        return "wall_minutes", "wall_minutes (auto: every run ran in one stretch, so wall time is training time)"
    why = "; ".join(
        f"{run.name} ran in {run.timeline.active.shape[0]} stretches ({run.timeline.source}) with "
        f"{_duration(run.timeline.gaps_s.sum())} of downtime"
        for run in split
    )
    return "training_hours", f"training_hours (auto: {why})"


def _unknown_metric(metric: str, runs: list[Run]) -> AnalysisError:
    tags = sorted({tag for run in runs for tag in run.series})
    close = difflib.get_close_matches(metric, tags, n=3) or difflib.get_close_matches(
        base_name(metric), [base_name(t) for t in tags], n=3
    )
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return AnalysisError(f"no run has the tag {metric!r}{hint}; the runs have: {', '.join(tags)}")


def _metrics(runs: list[Run], asked: tuple[str, ...]) -> tuple[list[RaceKey], list[str]]:
    """The race keys and scalar metrics to table: those asked for (each must exist), or the defaults."""
    keys = sorted({key for run in runs for key in race_keys(run.series)})
    if not asked:
        scalars = []
        for base in sorted(
            {base_name(t) for run in runs for t in run.series if base_name(t).startswith("avg_Q_")}
        ) + list(DEFAULT_SCALARS):
            tag = next((t for run in runs if (t := run.tag_for(base)) is not None), None)
            if tag is not None:
                scalars.append(tag)
        return keys, sorted(set(scalars), key=scalars.index)
    races: list[RaceKey] = []
    scalars = []
    for metric in asked:
        found = race_key(metric)
        if found is not None:
            if found[0] not in keys:
                raise _unknown_metric(metric, runs)
            races.append(found[0])
        elif any(run.tag_for(metric) is not None for run in runs):
            scalars.append(metric)
        else:
            raise _unknown_metric(metric, runs)
    return sorted(set(races)), list(dict.fromkeys(scalars))


def _interval(options: AnalysisOptions, axis: str, window_end: float) -> float:
    time_axis = axis in TIME_AXES
    wrong = options.step_interval if time_axis else options.interval
    right = options.interval if time_axis else options.step_interval
    if wrong is not None and right is None and options.time_axis != "auto":
        flag = "--interval" if time_axis else "--step-interval"
        raise AnalysisError(f"on the {axis} axis the checkpoint spacing is {flag}")
    if right is not None:
        return parse_span(right, axis, "--interval" if time_axis else "--step-interval")
    return nice_interval(window_end, axis)


def load_runs(options: AnalysisOptions) -> list[Run]:
    """Read the runs ``options`` names (or its ``--group`` patterns match), in order."""
    if not options.gap_minutes > 0:
        raise AnalysisError(f"--gap-minutes must be positive, got {options.gap_minutes}")
    patterns = list(options.runs) or [pattern for _, pattern in _group_patterns(options.groups)]
    catalog = RunCatalog(options.logdir, options.runs_dir)
    if not patterns:
        raise AnalysisError(f"name at least one run; the runs are: {', '.join(catalog.names()) or 'none'}")
    return [load_run(source, options.gap_minutes) for source in catalog.resolve(patterns)]


def analyze(options: AnalysisOptions) -> Analysis:
    """Read the runs of ``options`` and compute the comparison."""
    return compare(load_runs(options), options)


def compare(runs: list[Run], options: AnalysisOptions) -> Analysis:
    """The comparison of ``runs``, already read (``options.runs`` is not looked at): a caller that compares
    several subsets of the same runs reads each run once."""
    if not runs:
        raise AnalysisError("nothing to compare: no run given")
    axis, reason = _choose_axis(options.time_axis, runs)
    durations = {run.name: run.duration(axis) for run in runs}
    limited_by = min(durations, key=lambda name: durations[name])
    window_end = durations[limited_by]
    if not window_end > 0:
        raise AnalysisError(f"run {limited_by} has no extent on the {axis} axis: nothing to compare")
    interval = _interval(options, axis, window_end)
    at = checkpoints(window_end, interval)
    rate_window = parse_span(options.window, axis, "--window") if options.window else interval
    races, scalars = _metrics(runs, options.metrics)
    subjects = _subjects(runs, options.groups)
    has_batches = {run.name: run.tag_for(BATCHES_TAG) is not None for run in runs}
    cells = [
        *duration_cells(runs, has_batches),
        *race_cells(subjects, races, axis, at, rate_window, options.seed),
        *scalar_cells(subjects, scalars, axis, at, options.seed),
    ]
    analysis = Analysis(
        options, runs, subjects, axis, reason, window_end, limited_by, interval, at, rate_window, races, scalars, cells
    )
    analysis.notes = _notes(analysis)
    analysis.warnings = [str(problem) for run in runs for problem in run.problems]
    return analysis


def _notes(analysis: Analysis) -> list[str]:
    """What a reader must know to trust the tables."""
    notes = [note for run in analysis.runs for note in run.notes]
    for run in analysis.runs:
        timeline = run.timeline
        if "training seconds" in timeline.source:
            notes.append(f"{run.name}: values are stamped with training seconds, so its wall minutes are training time")
        if timeline.active.shape[0] > 1:
            notes.append(
                f"{run.name}: {timeline.active.shape[0]} stretches ({timeline.source}); "
                f"{_duration(timeline.gaps_s.sum())} of downtime, removed on the training_hours axis only"
            )
    for metric in analysis.scalars:
        used = {run.name: run.tag_for(metric) for run in analysis.runs}
        if len({tag for tag in used.values() if tag is not None}) > 1:
            notes.append(f"{metric} is read from " + ", ".join(f"{tag} in {name}" for name, tag in used.items()))
        missing = [name for name, tag in used.items() if tag is None]
        if missing:
            notes.append(f"{metric}: not logged by {', '.join(missing)}")
    if all(len(subject.runs) == 1 for subject in analysis.subjects) and len(analysis.subjects) > 1:
        notes.append("one run per variant: differences between single seeds are anecdotes, not findings")
    notes.extend(overlap_notes(analysis.cells, analysis.unit))
    return notes
