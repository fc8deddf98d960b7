"""The report of a study (issue 10 §4): ``report.md``, ``results.json`` and ``figures/*.png`` in its directory.

For each question: every variant's value per seed, its mean and 95% interval; the difference with its interval; the
verdict in words; the seeds without a value and the runs that stop short of the checkpoint, named. For the study:
each run's duration on every axis (so no one compares the last values of runs of different lengths), the missing
runs, the exact command and the study file's hash. The numbers come from ``answers`` (through hairpin.analysis),
the figures from hairpin.analysis.plots, one metric per figure; this module only words and writes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hairpin.analysis.analyze import AnalysisOptions, compare
from hairpin.analysis.errors import AnalysisError
from hairpin.analysis.plots import write_plots
from hairpin.analysis.stats import LEVEL, MIN_VALUES_TO_COMPARE, RESAMPLES, intervals_overlap
from hairpin.analysis.tables import SHARE_STATISTICS
from hairpin.atomic import atomic_write_text
from hairpin.study.answers import (
    GAPS,
    NEVER_FINISHED,
    NO_LIMIT,
    NO_RACE,
    NO_RUN,
    NOT_FINITE,
    NOT_LOGGED,
    TIME_STATISTICS,
    Answer,
    Comparison,
    Side,
    StudyAxis,
    StudyRun,
    answer_question,
    load_study_runs,
    placed_on,
    study_axis,
)
from hairpin.study.spec import StudyError, StudySpec

__all__ = ["FIGURES", "REPORT", "RESULTS", "write_report"]

REPORT = "report.md"
RESULTS = "results.json"
FIGURES = "figures"
_FIGURE = re.compile(r"^q[0-9]+_.*\.png$")
"""Figures this module writes (``q<number>_…``); older ones no question asks for any more are removed."""
_STATISTIC = {
    "best_s": "best lap",
    "mean_s": "mean finished lap",
    "median_s": "median finished lap",
    "best_to_limit": "best lap as a multiple of the map's limit",
    "first_finish": "first finished race",
    "finish_rate": "finish rate (every race so far)",
    "best_progress": "furthest share of the lap covered (100% = finished)",
}
_FIGURES = {
    "best_s": ("best_time", "race_times"),
    "mean_s": ("best_time", "race_times"),
    "median_s": ("best_time", "race_times"),
    "best_to_limit": ("best_time", "race_times"),
    "first_finish": ("race_times",),
    "finish_rate": ("finish_rate",),
    "window_finish_rate": ("finish_rate",),
    "best_progress": ("finish_rate",),
}
"""The race figures that show a statistic (the race times show every DNF too); a scalar has its one figure."""


def write_report(study: StudySpec, study_dir: Path, command: str, study_hash: str) -> Path:
    """Answer every question of ``study`` from the runs under ``study_dir`` and write ``report.md``,
    ``results.json`` and ``figures/``; returns the path of report.md."""
    study_dir = Path(study_dir)
    runs = load_study_runs(study, study_dir)
    axis = study_axis(study.budget, runs)
    runs = placed_on(runs, axis.name)
    answers = [answer_question(n, q, study, runs, axis) for n, q in enumerate(study.questions, 1)]
    figures = {answer.number: _figures(answer, study_dir / FIGURES) for answer in answers}
    _remove_stale_figures(study_dir / FIGURES, [path for paths in figures.values() for path in paths])
    results = _results(study, command, study_hash, axis, runs, answers, figures, study_dir)
    text = json.dumps(results, indent=1, ensure_ascii=False, allow_nan=False)  # every value is finite by now
    atomic_write_text(study_dir / RESULTS, text + "\n")
    path = study_dir / REPORT
    atomic_write_text(path, _markdown(study, command, study_hash, axis, runs, answers, results))
    return path


def _figures(answer: Answer, out_dir: Path) -> list[Path]:
    """The figures of the question's metric over its runs (hairpin.analysis.plots), or none when it has no data."""
    if answer.problem is not None or not answer.tags or answer.rate_window is None:
        return []
    options = AnalysisOptions(time_axis=answer.axis.name, metrics=answer.tags, window=repr(answer.rate_window))
    try:
        analysis = compare(list(answer.runs), options)
    except AnalysisError:  # the answer's words already say what is missing
        return []
    return write_plots(analysis, out_dir, prefix=f"q{answer.number}_", races=_FIGURES.get(answer.statistic, ()))


def _remove_stale_figures(out_dir: Path, written: Sequence[Path]) -> None:
    keep = {path.name for path in written}
    if out_dir.is_dir():
        for path in out_dir.iterdir():
            if _FIGURE.match(path.name) and path.name not in keep:
                path.unlink()


def _on_axis(value: float, axis: str, sign: bool = False) -> str:
    """A place or a length on ``axis``: ``30,000 batches``, ``12.5 min``, ``0.250 h``."""
    plus = "+" if sign else ""
    if axis in ("frames", "batches"):
        return f"{value:{plus},.0f} {axis}"
    if axis == "training_hours":
        return f"{value:{plus}.3g} h"
    return f"{value:{plus}.1f} min"


def _value(value: float | None, statistic: str, axis: str, sign: bool = False) -> str:
    """A value (or, with ``sign``, a difference) of ``statistic`` with its unit."""
    if value is None:
        return "—"
    plus = "+" if sign else ""
    if statistic.endswith("_s"):
        return f"{value:{plus}.2f} s"
    if statistic == "best_to_limit":
        return f"{value:{plus}.3f}× limit"
    if statistic in SHARE_STATISTICS:
        return f"{100 * value:{plus}.1f}" + (" pp" if sign else "%")
    if statistic == "first_finish":
        return _on_axis(value, axis, sign)
    return f"{value:{plus}.4g}"


def _interval(low: float | None, high: float | None, statistic: str, axis: str, sign: bool = False) -> str:
    if low is None or high is None:
        return ""
    return f" [{_value(low, statistic, axis, sign)}, {_value(high, statistic, axis, sign)}]"


def _metric_words(answer: Answer) -> str:
    """``best lap of eval (greedy) races on sprint`` or ``loss (the last value logged by the checkpoint)``."""
    question = answer.question
    if answer.map is None:
        return f"{question.metric} (the last value logged by the checkpoint)"
    races = "eval (greedy) races" if question.kind == "eval" else "exploration races"
    if answer.statistic == "window_finish_rate":
        return f"finish rate over the last {question.window:.0%} of the way of {races} on {answer.map}"
    return f"{_STATISTIC.get(answer.statistic, answer.statistic)} of {races} on {answer.map}"


def _at_words(answer: Answer) -> str:
    at = answer.question.at
    where = "the end of the budget" if at == "end" else "the common window of these runs" if at == "common" else None
    place = _on_axis(answer.checkpoint, answer.axis.name) if answer.checkpoint is not None else "—"
    return f"{where}, {place}" if where else place


def _seed_text(side: Side, answer: Answer) -> str:
    parts = []
    for seed in side.seeds:
        shown = _value(seed.value, answer.statistic, answer.axis.name) if seed.value is not None else seed.gap
        parts.append(f"s{seed.seed} ≥ {shown} (never finished)" if seed.censored else f"s{seed.seed} {shown}")
    return " · ".join(parts)


def _gap_words(side: Side, answer: Answer) -> list[str]:
    """One sentence per reason some seeds of ``side`` have no value."""
    total = len(side.seeds)
    at = _on_axis(answer.checkpoint, answer.axis.name) if answer.checkpoint is not None else "the checkpoint"
    question = answer.question
    race = f"{'eval' if question.kind == 'eval' else 'exploration'} race on {answer.map}"
    window = "the window"
    if answer.rate_window is not None and answer.checkpoint is not None:
        window = f"the last {_on_axis(answer.rate_window, answer.axis.name)} before {at}"
    what = {
        NO_RUN: "have no run that can be read",
        NEVER_FINISHED: f"never finished an {race} by {at}",
        NO_RACE: f"ran no {race} by {at}" if answer.statistic != "window_finish_rate" else f"ran no {race} in {window}",
        NO_LIMIT: f"logged no limit for {answer.map}, so their best lap has no ratio to it",
        NOT_LOGGED: f"logged no {question.metric} by {at}",
        NOT_FINITE: f"logged NaN or an infinite {question.metric} as their last value by {at}",
    }
    sentences = []
    for gap, words in what.items():
        seeds = side.with_gap(gap)
        if seeds:
            names = ", ".join(seed.run for seed in seeds)
            sentence = f"{side.variant}: {len(seeds)} of {total} seeds {words} ({names})"
            if gap == NEVER_FINISHED and answer.statistic in TIME_STATISTICS and len(seeds) < total:
                sentence += "; its mean leaves them out, which flatters it (a DNF is worse than any time)"
            sentences.append(sentence)
    if side.censored:
        names = ", ".join(seed.run for seed in side.censored)
        sentences.append(
            f"{side.variant}: {len(side.censored)} of {total} seeds never finished an {race} by {at} ({names}); "
            f"each counts as a first finish at {at}, the least it can be, so the mean is a lower bound"
        )
    return sentences


def _gap_counts(side: Side) -> str:
    """``1 never finished, 1 no run``: how many seeds lack a value, by reason."""
    counts = {gap: len(side.with_gap(gap)) for gap in GAPS}
    return ", ".join(f"{count} {gap}" for gap, count in counts.items() if count)


def _n_words(comparison: Comparison) -> str:
    found = comparison.difference
    return f"n = {found.values_a}" if found.values_a == found.values_b else f"n = {found.values_a} and {found.values_b}"


def verdict_words(comparison: Comparison, sides: dict[str, Side], answer: Answer) -> str:
    """The verdict of ``comparison`` in words, with the interval it rests on."""
    found, statistic, axis = comparison.difference, answer.statistic, answer.axis.name
    a, b = sides[comparison.a], sides[comparison.b]
    if comparison.outcome == "too_few_values":
        short = [s for s in (a, b) if s.estimate.runs_with_value < MIN_VALUES_TO_COMPARE]
        why = "; ".join(
            f"{s.variant} has a value on {s.estimate.runs_with_value} of {len(s.seeds)} seeds ({_gap_counts(s)})"
            for s in short
        )
        return f"not compared: {why}; a difference needs {MIN_VALUES_TO_COMPARE} values on each side"
    difference = f"{comparison.a} − {comparison.b} = {_value(found.mean, statistic, axis, sign=True)}"
    difference += _interval(found.low, found.high, statistic, axis, sign=True)
    if comparison.winner is not None:
        direction = "lower" if answer.question.lower_is_better else "higher"
        return f"{comparison.winner} better: {difference}, an interval that excludes 0 ({direction} is better)"
    overlap = "the intervals overlap; " if intervals_overlap(a.estimate, b.estimate) else ""
    return f"no difference detected at {_n_words(comparison)}: {overlap}{difference} includes 0"


def _verdict_head(comparison: Comparison) -> str:
    """The verdict's first words: ``A better``, ``no difference detected at n = 3``, ``not compared``."""
    if comparison.winner is not None:
        return f"{comparison.winner} better"
    if comparison.outcome == "no_difference":
        return f"no difference detected at {_n_words(comparison)}"
    return "not compared"


def _answer_verdict(answer: Answer) -> str:
    """The answer's verdict in a line; a ranking gives its order, then its first against each other."""
    if answer.problem is not None:
        return f"not answered: {answer.problem}"
    if answer.question.compare is not None:
        return _verdict_head(answer.comparisons[0])
    order = ", ".join(side.variant for side in answer.sides)
    pairs = "; ".join(f"{c.a} vs {c.b}: {_verdict_head(c)}" for c in answer.comparisons)
    return f"by mean {order}; {pairs}"


def _answer_notes(answer: Answer) -> list[str]:
    notes = [sentence for side in answer.sides for sentence in _gap_words(side, answer)]
    axis = answer.axis.name
    for seed in answer.short_runs:
        assert seed.reach is not None and answer.checkpoint is not None
        notes.append(
            f"{seed.run} stops at {_on_axis(seed.reach, axis)}, short of {_on_axis(answer.checkpoint, axis)}: "
            "its value is the one at its end"
        )
    return notes


def _side_json(side: Side) -> dict[str, Any]:
    return {
        "variant": side.variant,
        "seeds": len(side.seeds),
        "with_value": side.estimate.runs_with_value,
        "mean": side.estimate.mean,
        "low": side.estimate.low,
        "high": side.estimate.high,
        "per_seed": [
            {"run": s.run, "seed": s.seed, "value": s.value, "missing": s.gap, "reach": s.reach, "censored": s.censored}
            for s in side.seeds
        ],
    }


def _answer_json(answer: Answer, figures: Sequence[Path], study_dir: Path) -> dict[str, Any]:
    question = answer.question
    sides = {side.variant: side for side in answer.sides}
    return {
        "number": answer.number,
        "text": question.text,
        "compare" if question.compare is not None else "rank": question.variant_names,
        "metric": question.metric,
        "statistic": answer.statistic,
        "map": answer.map,
        "kind": question.kind,
        "at": question.at,
        "axis": answer.axis.name,
        "checkpoint": answer.checkpoint,
        "rate_window": answer.rate_window if answer.statistic == "window_finish_rate" else None,
        "lower_is_better": question.lower_is_better,
        "problem": answer.problem,
        "sides": [_side_json(side) for side in answer.sides],
        "comparisons": [
            {
                "a": c.a,
                "b": c.b,
                "a_minus_b": c.difference.mean,
                "low": c.difference.low,
                "high": c.difference.high,
                "values_a": c.difference.values_a,
                "values_b": c.difference.values_b,
                "outcome": c.outcome,
                "winner": c.winner,
                "verdict": verdict_words(c, sides, answer),
            }
            for c in answer.comparisons
        ],
        "verdict": _answer_verdict(answer),
        "notes": _answer_notes(answer),
        "figures": [path.relative_to(study_dir).as_posix() for path in figures],
    }


def _results(
    study: StudySpec,
    command: str,
    study_hash: str,
    axis: StudyAxis,
    runs: Sequence[StudyRun],
    answers: Sequence[Answer],
    figures: dict[int, list[Path]],
    study_dir: Path,
) -> dict[str, Any]:
    """results.json: the same facts as report.md, for programs."""
    return {
        "study": study.name,
        "description": study.description,
        "study_file": str(source) if (source := _source(study)) is not None else None,
        "study_hash": study_hash,
        "command": command,
        "seeds": list(study.seeds),
        "budget": study.budget.model_dump(exclude_none=True),
        "axis": {"name": axis.name, "budget": axis.budget, "reason": axis.reason},
        "interval": {"level": LEVEL, "resamples": RESAMPLES, "method": "percentile bootstrap over seeds, seed 0"},
        "runs": [
            {
                "run": r.name,
                "variant": r.variant,
                "seed": r.seed,
                "present": r.run is not None,
                "state": r.state,
                "error": r.error,
                "problem": r.problem,
                "stretches": r.run.timeline.active.shape[0] if r.run is not None else None,
                "durations": r.durations(),
            }
            for r in runs
        ],
        "missing_runs": [{"run": r.name, "problem": _missing_words(r)} for r in runs if _missing_words(r)],
        "questions": [_answer_json(a, figures[a.number], study_dir) for a in answers],
        "notes": [note for r in runs if r.run is not None for note in r.run.notes],
        "warnings": [str(problem) for r in runs if r.run is not None for problem in r.run.problems],
    }


def _source(study: StudySpec) -> Path | None:
    """The study file (relative to the working directory when it lies below it, as the command names it), None
    for a spec built in memory."""
    try:
        source = study.source
    except StudyError:
        return None
    try:
        return source.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return source


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    """A Markdown table; ``align`` has one letter per column, ``l`` or ``r``."""
    rule = "|" + "|".join("---:" if side == "r" else "---" for side in align) + "|"
    return [
        "| " + " | ".join(map(_cell, header)) + " |",
        rule,
        *("| " + " | ".join(map(_cell, row)) + " |" for row in rows),
    ]


def _answer_section(answer: Answer, result: dict[str, Any]) -> list[str]:
    question = answer.question
    lines = [f"## {answer.number}. {question.text}", ""]
    direction = "lower is better" if question.lower_is_better else "higher is better"
    lines += [f"{_metric_words(answer)}, at {_at_words(answer)}; {direction}.", ""]
    if answer.problem is not None:
        return [*lines, f"**Not answered:** {answer.problem}.", ""]
    statistic, axis = answer.statistic, answer.axis.name
    if statistic == "window_finish_rate" and answer.rate_window is not None:
        lines += [f"The window is the last {_on_axis(answer.rate_window, axis)} before the checkpoint.", ""]
    header = ["variant", "seeds with a value", "mean [95% interval]", "per seed"]
    rows = [
        [
            side.variant,
            f"{side.estimate.runs_with_value} of {len(side.seeds)}",
            _value(side.estimate.mean, statistic, axis)
            + _interval(side.estimate.low, side.estimate.high, statistic, axis),
            _seed_text(side, answer),
        ]
        for side in answer.sides
    ]
    lines += [*_table(header, rows, "lrrl"), ""]
    ranking = question.compare is None
    for comparison in result["comparisons"]:
        pair = f" ({comparison['a']} vs {comparison['b']})" if ranking else ""
        lines += [f"**Verdict{pair}: {comparison['verdict']}.**", ""]
    notes = result["notes"]
    if notes:
        lines += ["Notes:", "", *(f"- {note}" for note in notes), ""]
    for figure in result["figures"]:
        lines += [f"![{Path(figure).stem}]({figure})", ""]
    return lines


def _missing_words(study_run: StudyRun) -> str | None:
    """Why a run is missing, or how it failed; None for a run that is there and did not fail."""
    if not study_run.usable:
        return study_run.problem
    if study_run.state in ("failed", "running", "unreadable"):
        how = {"failed": "failed", "running": "was interrupted", "unreadable": "has an unreadable state file"}
        error = f" ({study_run.error})" if study_run.error else ""
        return f"{how[study_run.state]}{error}; its values up to where it stopped are used"
    return None


def _runs_section(runs: Sequence[StudyRun], axis: StudyAxis) -> list[str]:
    lines = [
        "## Runs",
        "",
        f"How far each run reaches on every axis. The questions read every run at the same point of the {axis.name} "
        "axis; last values read at different lengths would compare different amounts of training.",
        "",
    ]
    header = ["run", "variant", "seed", "state", "stretches", "wall (min)", "training (h)", "frames", "batches"]
    rows = []
    for r in runs:
        if r.run is None:
            continue
        d = r.durations()
        rows.append(
            [
                r.name,
                r.variant,
                str(r.seed),
                r.state or "—",
                str(r.run.timeline.active.shape[0]),
                "—" if d["wall_minutes"] is None else f"{d['wall_minutes']:.1f}",
                "—" if d["training_hours"] is None else f"{d['training_hours']:.3g}",
                "—" if d["frames"] is None else f"{d['frames']:,.0f}",
                "—" if d["batches"] is None else f"{d['batches']:,.0f}",
            ]
        )
    lines += [*_table(header, rows, "llrlrrrrr"), ""] if rows else ["No run of the study could be read.", ""]
    missing = [(r.name, words) for r in runs if (words := _missing_words(r)) is not None]
    if missing:
        lines += ["### Missing and failed runs", "", *(f"- {name}: {words}" for name, words in missing), ""]
    return lines


def _markdown(
    study: StudySpec,
    command: str,
    study_hash: str,
    axis: StudyAxis,
    runs: Sequence[StudyRun],
    answers: Sequence[Answer],
    results: dict[str, Any],
) -> str:
    lines = [f"# Study {study.name}", ""]
    if study.description:
        lines += [study.description.strip(), ""]
    lines += ["Made by:", "", "```bash", command, "```", ""]
    budget = ", ".join(f"{value:,g} {key.replace('_', ' ')}" for key, value in results["budget"].items())
    source = _source(study)
    lines += [f"- study file: `{source}`"] if source is not None else []
    lines += [
        f"- study file hash (SHA-256): `{study_hash}`",
        f"- seeds: {', '.join(map(str, study.seeds))}; budget per run: {budget}",
        f"- compared on the {axis.name} axis: {axis.reason}",
        f"- a variant's value: the mean over its seeds that have one, with a {LEVEL:.0%} percentile-bootstrap "
        f"interval ({RESAMPLES:,} resamples, seeded); A − B: the difference of the means, with its own bootstrap "
        "interval (each variant's seeds resampled alone). A side is better only when that interval excludes 0; a "
        f"side with fewer than {MIN_VALUES_TO_COMPARE} values is not compared",
        "",
    ]
    if answers:
        rows = [[str(r["number"]), r["text"], r["verdict"]] for r in results["questions"]]
        lines += ["## Answers", "", *_table(["#", "question", "verdict"], rows, "rll"), ""]
    for answer, result in zip(answers, results["questions"], strict=True):
        lines += _answer_section(answer, result)
    lines += _runs_section(runs, axis)
    notes = [*results["warnings"], *results["notes"]]
    if notes:
        lines += ["## Notes from reading the runs", "", *(f"- {note}" for note in notes), ""]
    return "\n".join(lines)
