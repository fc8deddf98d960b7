"""What a study's runs say about each of its questions (issue 10 §4): every seed's value at the question's
checkpoint, each variant's mean and 95% interval, the difference A − B with its interval, and which side is better.

The numbers come from hairpin.analysis: ``race_cells`` and ``scalar_cells`` give a run's value at a point of the
axis, ``stats.estimate`` and ``stats.difference`` the intervals. This module picks the runs, the axis and the
checkpoint, and keeps every seed without a value in view with the reason (no run, never finished, no race, not
logged) instead of dropping it.

The verdict's rule: A and B differ when the 95% bootstrap interval of mean(A) − mean(B) excludes 0, and the side
whose mean is lower (``lower_is_better``) or higher wins. A side with fewer than ``MIN_VALUES_TO_COMPARE`` values is
not compared. A ranking (``variants: [...]``) orders the variants by mean and compares the first with each other.

A first finish is censored, not missing: a run that reached the checkpoint without finishing counts as finishing
at the checkpoint, the least its first finish can be. That can only shrink its side's mean, so a side that
finished sooner is called better only when it is, even against the censored value; a variant whose seeds never
finish is compared instead of being left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from hairpin.analysis.axes import AXES
from hairpin.analysis.errors import AnalysisError
from hairpin.analysis.races import RaceKey, race_keys
from hairpin.analysis.run import BATCHES_TAG, Run, load_run
from hairpin.analysis.runs import RunCatalog
from hairpin.analysis.stats import MIN_VALUES_TO_COMPARE, Difference, Estimate, difference, estimate
from hairpin.analysis.tables import RACE_STATISTICS, Subject, race_cells, scalar_cells
from hairpin.study.plan import run_name
from hairpin.study.spec import Budget, Question, StudyError, StudySpec
from hairpin.study.state import read_state

__all__ = [
    "GAPS",
    "NEVER_FINISHED",
    "NOT_FINITE",
    "NOT_LOGGED",
    "NO_LIMIT",
    "NO_RACE",
    "NO_RUN",
    "REACH_TOLERANCE",
    "TIME_STATISTICS",
    "Answer",
    "Comparison",
    "SeedValue",
    "Side",
    "StudyAxis",
    "StudyRun",
    "answer_question",
    "compare_sides",
    "load_study_runs",
    "placed_on",
    "study_axis",
]

NO_RUN = "no run"
"""The seed's run is not there (not run yet, failed before it logged, or unreadable)."""
NEVER_FINISHED = "never finished"
"""The run raced but finished no race by the checkpoint: a time, a ratio or a first finish has no value."""
NO_RACE = "no race"
"""The run ran no race of this kind on this map by the checkpoint (or, for the windowed rate, in the window)."""
NO_LIMIT = "no limit logged"
"""The run finished but logged no limit for the map, so its best time has no ratio to it."""
NOT_LOGGED = "not logged"
"""The run has no value of the scalar by the checkpoint."""
NOT_FINITE = "not finite"
"""The scalar's last value by the checkpoint is NaN or infinite (a diverged loss): no mean can hold it."""
GAPS = (NEVER_FINISHED, NO_RACE, NO_RUN, NO_LIMIT, NOT_LOGGED, NOT_FINITE)
"""Every reason a seed can lack a value, in the order the report lists them."""
TIME_STATISTICS = ("best_s", "mean_s", "median_s", "best_to_limit", "first_finish")
"""Statistics that only finished races have: a seed that never finished is missing from their mean, which flatters
the variant (a DNF is worse than any time)."""
REACH_TOLERANCE = 0.01
"""A run that stops more than this fraction short of the checkpoint is named: its value is the one at its end."""
PLAN = "plan.json"
"""The plan the runner records in the study directory: each node's content key."""
GAP_MINUTES = 30.0
"""Downtime threshold for runs read without sessions (study runs all have run.json, so it rarely matters)."""
Outcome = Literal["a_better", "b_better", "no_difference", "too_few_values"]


@dataclass(frozen=True)
class StudyRun:
    """One run the study expects: read from disk, or missing with the reason."""

    name: str
    variant: str
    seed: int
    run: Run | None
    problem: str | None = None
    """Why the run is missing or cannot be compared on the study's axis; None when it can."""
    state: str | None = None
    """What the study's state file says of it (done, failed, running, pending; changed when it is about an earlier
    version of the study), None without one."""
    error: str | None = None
    """The first line of the error the state file records for a failed run."""

    @property
    def usable(self) -> bool:
        """Whether the run is there and can be placed on the study's axis."""
        return self.run is not None and self.problem is None

    def durations(self) -> dict[str, float | None]:
        """How far the run reaches on every axis (None: no run, or no batch counter for the batches axis)."""
        run = self.run
        if run is None:
            return dict.fromkeys(AXES)
        return {
            axis: run.duration(axis) if axis != "batches" or run.tag_for(BATCHES_TAG) is not None else None
            for axis in AXES
        }


def _plan_keys(study_dir: Path) -> dict[str, str]:
    """Each node's content key from the plan.json the runner wrote; empty without a readable one."""
    try:
        nodes = json.loads((study_dir / PLAN).read_text(encoding="utf-8"))["nodes"]
        return {str(node["name"]): str(node["key"]) for node in nodes}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _recorded_state(study_dir: Path, name: str, key: str | None) -> tuple[str | None, str | None]:
    """(state, first line of its error) from ``state/<name>.json``: ``changed`` when it is about another content key
    than the plan's (the study changed since), ``unreadable`` when it does not load."""
    try:
        recorded = read_state(study_dir, name)
    except StudyError as error:
        return "unreadable", str(error)
    if recorded is None:
        return None, None
    first_line = recorded.error.strip().splitlines()[0] if recorded.error and recorded.error.strip() else None
    return ("changed" if key is not None and recorded.key != key else recorded.state), first_line


def _absent(state: str | None, error: str | None, manifest: Path) -> str:
    """Why a run has no run.json, in the words of its state file."""
    if state == "failed":
        return f"failed{f' ({error})' if error else ''} before it wrote {manifest}"
    if state == "running":
        return f"interrupted before it wrote {manifest}"
    return f"not run (no {manifest})"


def load_study_runs(study: StudySpec, study_dir: Path) -> list[StudyRun]:
    """Every run the study expects (each variant × seed, in the study's order), read through run.json, with what
    the study's state files say of it."""
    catalog = RunCatalog(study_dir / "tensorboard", study_dir / "runs")
    keys = _plan_keys(study_dir)
    found = []
    for variant in study.variants:
        for seed in study.seeds:
            name = run_name(variant, seed)
            state, error = _recorded_state(study_dir, name, keys.get(name))
            run, problem = None, None
            if name in catalog.unreadable:
                problem = str(catalog.unreadable[name])
            elif name not in catalog.manifests:
                problem = _absent(state, error, Path("runs") / name / "run.json")
            elif state == "changed":
                problem = "stale: the run on disk was made for an earlier version of the study (its content key "
                problem += "differs from plan.json's); rerun the study to replace it"
            else:
                try:
                    run = load_run(catalog.resolve([name])[0], GAP_MINUTES)
                except AnalysisError as unreadable:
                    problem = str(unreadable)
            found.append(StudyRun(name, variant, seed, run, problem, state, error))
    return found


@dataclass(frozen=True)
class StudyAxis:
    """The axis the study's runs are compared on, where its budget ends on it, and why this axis."""

    name: str
    """An axis of hairpin.analysis: frames, batches, wall_minutes or training_hours."""
    budget: float
    """The budget in the axis's unit."""
    scale: float
    """Axis units per budget unit: a question's ``at`` number times this is its place on the axis."""
    reason: str


def study_axis(budget: Budget, runs: Sequence[StudyRun]) -> StudyAxis:
    """The budget's axis: frames, batches or training hours as counted; minutes of training are wall minutes when
    every run ran in one stretch (then they are the same), training hours when one was interrupted and resumed (the
    budget sums the sessions, so wall time would count the downtime against it)."""
    if budget.frames is not None:
        return StudyAxis("frames", float(budget.frames), 1.0, "the budget is counted in frames")
    if budget.batches is not None:
        return StudyAxis("batches", float(budget.batches), 1.0, "the budget is counted in gradient batches")
    if budget.training_hours is not None:
        return StudyAxis("training_hours", budget.training_hours, 1.0, "the budget is counted in training hours")
    minutes = budget.amount
    split = [r.name for r in runs if r.run is not None and r.run.timeline.active.shape[0] > 1]
    if split:
        why = f"the budget is minutes of training and {', '.join(split)} ran in several sessions, so wall time "
        return StudyAxis("training_hours", minutes / 60.0, 1 / 60.0, why + "would count their downtime")
    why = "the budget is minutes of training and every run ran in one stretch, so wall minutes are training minutes"
    return StudyAxis("wall_minutes", minutes, 1.0, why)


def placed_on(runs: Sequence[StudyRun], axis: str) -> list[StudyRun]:
    """``runs`` with a problem recorded for each that cannot be placed on ``axis`` (no batch counter, no extent)."""
    placed = []
    for study_run in runs:
        run = study_run.run
        if run is not None and study_run.problem is None:
            if axis == "batches" and run.tag_for(BATCHES_TAG) is None:
                study_run = replace(study_run, problem=f"logs no {BATCHES_TAG}: it has no place on the batches axis")
            elif not run.duration(axis) > 0:
                study_run = replace(study_run, problem=f"has no extent on the {axis} axis (a single logged point)")
        placed.append(study_run)
    return placed


@dataclass(frozen=True)
class SeedValue:
    """One seed of a variant at the checkpoint: its value, or why it has none."""

    run: str
    seed: int
    value: float | None
    gap: str | None
    """None with a value; else NO_RUN, NEVER_FINISHED, NO_RACE, NO_LIMIT, NOT_LOGGED or NOT_FINITE."""
    reach: float | None
    """How far the run reaches on the axis (None: no run)."""
    censored: bool = False
    """A first finish the run never made by the checkpoint: ``value`` is the checkpoint, a lower bound."""


@dataclass(frozen=True)
class Side:
    """One variant of a question: every seed, and the mean and interval of those with a value."""

    variant: str
    seeds: tuple[SeedValue, ...]
    estimate: Estimate

    @property
    def values(self) -> list[float | None]:
        """One value per seed, None where it has none."""
        return [seed.value for seed in self.seeds]

    def with_gap(self, gap: str) -> list[SeedValue]:
        """The seeds without a value for reason ``gap``."""
        return [seed for seed in self.seeds if seed.gap == gap]

    @property
    def censored(self) -> list[SeedValue]:
        """The seeds whose value is a censored first finish."""
        return [seed for seed in self.seeds if seed.censored]


@dataclass(frozen=True)
class Comparison:
    """A − B: the difference of the means, its interval, and the outcome of the rule."""

    a: str
    b: str
    difference: Difference
    outcome: Outcome

    @property
    def winner(self) -> str | None:
        """The better variant, when the interval says so."""
        return {"a_better": self.a, "b_better": self.b}.get(self.outcome)


@dataclass(frozen=True)
class Answer:
    """One question answered from the runs, or the reason it could not be (``problem``)."""

    number: int
    """1-based, as the report numbers the questions."""
    question: Question
    axis: StudyAxis
    statistic: str
    """A race statistic (hairpin.analysis RACE_STATISTICS) or ``last`` for a scalar."""
    map: str | None
    """The map of a race metric."""
    checkpoint: float | None
    """Where on the axis the values are read."""
    rate_window: float | None
    sides: tuple[Side, ...]
    comparisons: tuple[Comparison, ...]
    runs: tuple[Run, ...]
    """The runs read, for the figures."""
    tags: tuple[str, ...]
    """The TensorBoard tags of the metric in those runs, for the figures."""
    problem: str | None = None

    @property
    def short_runs(self) -> list[SeedValue]:
        """Seeds whose run stops short of the checkpoint (its value is the one at its end)."""
        checkpoint = self.checkpoint
        if checkpoint is None:
            return []
        seeds = [s for side in self.sides for s in side.seeds]
        return [s for s in seeds if s.reach is not None and not _reaches(s.reach, checkpoint)]


def _reaches(reach: float, checkpoint: float) -> bool:
    """Whether a run that reaches ``reach`` on the axis got to ``checkpoint`` (within ``REACH_TOLERANCE``)."""
    return reach >= checkpoint * (1.0 - REACH_TOLERANCE)


def _race_key(run: Run, kind: str, map_name: str) -> tuple[RaceKey, str] | None:
    """The race key of ``kind`` races on ``map_name`` in ``run`` (trained or blind), and one of its tags."""
    found = [(key, next(iter(tags.values()))) for key, tags in race_keys(run.series).items() if key.kind == kind]
    found = [(key, tag) for key, tag in found if key.map == map_name]
    if len(found) > 1:
        names = ", ".join(key.label for key, _ in found)
        raise AnalysisError(f"run {run.name} logs {kind} races on {map_name} under several names: {names}")
    return found[0] if found else None


def _race_value(
    run: Run, key: RaceKey, statistic: str, axis: str, at: float, window: float
) -> tuple[float | None, str | None]:
    """The run's ``statistic`` at ``at``, or None and why."""
    cells = race_cells([Subject(run.name, (run,))], [key], axis, np.array([at]), window, seed=0)
    by_statistic = {cell.statistic: cell for cell in cells}
    value = by_statistic[statistic].value
    if value is not None:
        return value, None
    if by_statistic["finish_rate"].n == 0 or statistic == "window_finish_rate":
        return None, NO_RACE
    if statistic == "best_progress":
        return None, NOT_LOGGED  # races, but no progress tag (a run from before it was logged, or another tool)
    if not by_statistic["finished"].value:
        return None, NEVER_FINISHED
    return None, NO_LIMIT if statistic == "best_to_limit" else NOT_LOGGED


def _scalar_value(run: Run, metric: str, axis: str, at: float) -> tuple[float | None, str | None]:
    if run.tag_for(metric) is None:
        return None, NOT_LOGGED
    (cell,) = scalar_cells([Subject(run.name, (run,))], [metric], axis, np.array([at]), seed=0)
    if cell.value is None:
        return None, NOT_LOGGED
    return (cell.value, None) if math.isfinite(cell.value) else (None, NOT_FINITE)


def _checkpoint(question: Question, axis: StudyAxis, reaches: list[float]) -> float | None:
    if question.at == "end":
        return axis.budget
    if question.at == "common":
        return min(reaches) if reaches else None
    return float(question.at) * axis.scale


def _rank(sides: list[Side], lower_is_better: bool) -> list[Side]:
    """Sides with enough values first, best mean first."""

    def key(side: Side) -> tuple[bool, float]:
        mean = side.estimate.mean
        enough = side.estimate.runs_with_value >= MIN_VALUES_TO_COMPARE and mean is not None
        return not enough, (mean if lower_is_better else -mean) if mean is not None else 0.0

    return sorted(sides, key=key)


def compare_sides(a: Side, b: Side, lower_is_better: bool, *, seed: int = 0) -> Comparison:
    """A − B and the verdict's rule: better when the difference's interval excludes 0."""
    found = difference(a.values, b.values, seed=seed)
    outcome: Outcome
    if min(found.values_a, found.values_b) < MIN_VALUES_TO_COMPARE:
        outcome = "too_few_values"
    elif found.excludes_zero:
        a_lower = found.high is not None and found.high < 0
        outcome = "a_better" if a_lower == lower_is_better else "b_better"
    else:
        outcome = "no_difference"
    return Comparison(a.variant, b.variant, found, outcome)


def answer_question(
    number: int, question: Question, study: StudySpec, runs: Sequence[StudyRun], axis: StudyAxis
) -> Answer:
    """The answer to ``question`` from ``runs`` (every run of the study, missing ones included) on ``axis``."""
    is_race = question.metric in RACE_STATISTICS
    map_name = (question.map or (study.eval.maps[0] if study.eval.maps else None)) if is_race else None
    statistic = question.metric if is_race else "last"
    answer = Answer(number, question, axis, statistic, map_name, None, None, (), (), (), ())
    if is_race and map_name is None:
        return replace(answer, problem="the question names no map and the study has no eval maps")
    members = {v: [r for r in runs if r.variant == v] for v in question.variant_names}
    read = tuple(r.run for rs in members.values() for r in rs if r.usable and r.run is not None)
    checkpoint = _checkpoint(question, axis, [run.duration(axis.name) for run in read])
    if checkpoint is None or not read:
        return replace(answer, problem=f"no run of {' or '.join(members)} can be read")
    window = checkpoint * question.window
    answer = replace(answer, checkpoint=checkpoint, rate_window=window, runs=read)
    try:
        sides, tags = _sides(question, members, axis.name, checkpoint, window, map_name)
    except AnalysisError as error:
        return replace(answer, problem=str(error))
    if not tags:
        what = f"{question.kind} races on {map_name}" if is_race else f"the scalar {question.metric}"
        return replace(answer, problem=f"no run of {', '.join(members)} logged {what}")
    comparisons: tuple[Comparison, ...]
    if question.compare is not None:
        comparisons = (compare_sides(sides[0], sides[1], question.lower_is_better),)
    else:
        sides = _rank(sides, question.lower_is_better)
        comparisons = tuple(compare_sides(sides[0], other, question.lower_is_better) for other in sides[1:])
    return replace(answer, sides=tuple(sides), comparisons=comparisons, tags=tags)


def _sides(
    question: Question,
    members: dict[str, list[StudyRun]],
    axis: str,
    at: float,
    window: float,
    map_name: str | None,
) -> tuple[list[Side], tuple[str, ...]]:
    """Every variant's seeds at ``at``, and the tags of the metric the runs logged."""
    sides, tags = [], []
    for variant, study_runs in members.items():
        seeds = []
        for study_run in study_runs:
            run = study_run.run
            if run is None or not study_run.usable:
                seeds.append(SeedValue(study_run.name, study_run.seed, None, NO_RUN, None))
                continue
            value: float | None
            gap: str | None
            if map_name is not None:
                found = _race_key(run, question.kind, map_name)
                if found is None:
                    value, gap = None, NO_RACE
                else:
                    tags.append(found[1])
                    value, gap = _race_value(run, found[0], question.metric, axis, at, window)
            else:
                tag = run.tag_for(question.metric)
                tags.extend([tag] if tag is not None else [])
                value, gap = _scalar_value(run, question.metric, axis, at)
            reach = run.duration(axis)
            if question.metric == "first_finish" and gap == NEVER_FINISHED and _reaches(reach, at):
                seeds.append(SeedValue(study_run.name, study_run.seed, at, None, reach, censored=True))
                continue
            seeds.append(SeedValue(study_run.name, study_run.seed, value, gap, reach))
        sides.append(Side(variant, tuple(seeds), estimate([s.value for s in seeds])))
    return sides, tuple(dict.fromkeys(tags))
