"""An analysis as text, CSV, JSON or Markdown: durations first, then one table per race and per scalar.

Text and Markdown are for people (aligned tables, units in headers, ``mean [low, high]`` for variants, notes);
CSV and JSON are for programs: CSV holds one row per cell (``tables.Cell``), JSON the same cells with the axis,
window, checkpoints, runs, notes and warnings around them.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from hairpin.analysis.analyze import Analysis
from hairpin.analysis.axes import AXES, UNIT
from hairpin.analysis.errors import AnalysisError
from hairpin.analysis.tables import RACE_STATISTICS, SHARE_STATISTICS, Cell, Subject

__all__ = ["FORMATS", "check_format", "render"]

FORMATS = ("text", "csv", "json", "md")
_RACE_COLUMNS = {
    "finished": "finished",
    "best_s": "best (s)",
    "best_to_limit": "best/limit",
    "mean_s": "mean (s)",
    "median_s": "median (s)",
    "finish_rate": "finish %",
    "best_progress": "furthest %",
}


def _number(value: float | None, statistic: str, axis: str) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if statistic in SHARE_STATISTICS:
        return f"{100 * value:.0f}%"
    if statistic == "finished":
        return f"{value:.1f}" if value != int(value) else f"{value:.0f}"
    if statistic.endswith("_s"):
        return f"{value:.2f}"
    if statistic == "best_to_limit":
        return f"{value:.3f}×"
    if statistic == "first_finish" or statistic in AXES:
        return _position(value, statistic if statistic in AXES else axis)
    return f"{value:.4g}"


def _position(value: float, axis: str) -> str:
    """A place on ``axis``: 12.5 (min), 1.25 (h), 1,200,000 (frames)."""
    if axis in ("frames", "batches"):
        return f"{value:,.0f}"
    if axis == "training_hours":
        return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
    return f"{value:.1f}"


def _cell_text(cell: Cell, axis: str) -> str:
    text = _number(cell.value, cell.statistic, axis)
    if cell.low is not None and cell.high is not None:
        text += f" [{_number(cell.low, cell.statistic, axis)}, {_number(cell.high, cell.statistic, axis)}]"
    if cell.runs > 1 and cell.runs_with_value < cell.runs:
        text += f" ({cell.runs_with_value}/{cell.runs} runs)"
    return text


def _at(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:g}"


def _race_row(analysis: Analysis, subject: Subject, at: float, cells: dict[str, Cell]) -> list[str]:
    """One line of a race table: a subject's statistics at checkpoint ``at``."""
    label = subject.name if len(subject.runs) == 1 else f"{subject.name} ({len(subject.runs)} runs)"
    window = cells["window_finish_rate"]
    return [
        _at(at),
        label,
        str(cells["finish_rate"].n),
        *(_cell_text(cells[s], analysis.axis) for s in _RACE_COLUMNS),
        f"{_cell_text(window, analysis.axis)} (n={window.n})",
        _cell_text(cells["first_finish"], analysis.axis),
    ]


def _tables(analysis: Analysis) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table, in order: durations, each race, each scalar."""
    axis, unit = analysis.axis, analysis.unit
    tables = []
    header = ["run", "group", "seed", "stretches", "values", *(f"{a} ({UNIT[a]})" for a in AXES)]
    durations = {(c.subject, c.statistic): c for c in analysis.cells if c.section == "duration"}
    rows = [
        [
            run.name,
            run.group or "—",
            "—" if run.seed is None else str(run.seed),
            str(run.timeline.active.shape[0]),
            f"{run.value_count:,}",
            *(_number(durations[(run.name, a)].value, a, axis) for a in AXES),
        ]
        for run in analysis.runs
    ]
    tables.append(("durations of each run on every axis", header, rows))
    races = {(c.metric, c.subject, c.at, c.statistic): c for c in analysis.cells if c.section == "race"}
    window = f"finish % last {_at(analysis.rate_window)} {unit}"
    for key in analysis.races:
        header = [f"at ({unit})", "run", "races", *_RACE_COLUMNS.values(), window, f"first finish ({unit})"]
        rows = [
            _race_row(
                analysis,
                subject,
                float(at),
                {s: races[(key.label, subject.name, float(at), s)] for s in RACE_STATISTICS},
            )
            for at in analysis.checkpoints
            for subject in analysis.subjects
        ]
        kind = "eval" if key.kind == "eval" else "exploration"
        tables.append((f"{key.label}: {kind} races" + (f" ({key.fill})" if key.fill else ""), header, rows))
    scalars = {(c.metric, c.subject, c.at): c for c in analysis.cells if c.section == "scalar"}
    for metric in analysis.scalars:
        header = [f"at ({unit})", *(subject.name for subject in analysis.subjects)]
        rows = [
            [_at(float(at))]
            + [
                f"{_cell_text(c, axis)} (n={c.n})"
                for c in (scalars[(metric, subject.name, float(at))] for subject in analysis.subjects)
            ]
            for at in analysis.checkpoints
        ]
        tables.append((f"{metric}: last value at each checkpoint", header, rows))
    return tables


def _preamble(analysis: Analysis) -> list[str]:
    unit = analysis.unit
    at = ", ".join(_at(float(a)) for a in analysis.checkpoints)
    lines = [
        f"axis: {analysis.axis_reason}",
        f"common window: {_position(analysis.window_end, analysis.axis)} {unit} (limited by {analysis.limited_by})",
        f"checkpoints every {_at(analysis.interval)} {unit}: {at}",
    ]
    if any(len(subject.runs) > 1 for subject in analysis.subjects):
        lines.append("variants: mean over their runs [95% bootstrap interval]; n summed over the runs")
    return lines


def _text_table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True)))

    return "\n".join([title, line(header), *(line(row) for row in rows)])


def _md_table(title: str, header: list[str], rows: list[list[str]]) -> str:
    def line(row: list[str]) -> str:
        return "| " + " | ".join(value.replace("|", "\\|") for value in row) + " |"

    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"
    return "\n".join([f"### {title}", "", line(header), rule, *(line(row) for row in rows)])


def _bullets(title: str, items: Sequence[str], md: bool) -> list[str]:
    if not items:
        return []
    head = f"### {title}\n" if md else f"{title}:"
    return [head + "\n" + "\n".join(f"- {item}" for item in items)]


def render_text(analysis: Analysis, md: bool = False) -> str:
    """Tables for people; ``md`` for Markdown."""
    table: Callable[[str, list[str], list[list[str]]], str] = _md_table if md else _text_table
    preamble = [f"- {line}" for line in _preamble(analysis)] if md else _preamble(analysis)
    parts = ["\n".join(preamble)]
    parts += _bullets("warnings", analysis.warnings, md)
    parts += [table(*t) for t in _tables(analysis)]
    parts += _bullets("notes", analysis.notes, md)
    return "\n\n".join(parts) + "\n"


def _csv(analysis: Analysis) -> str:
    buffer = io.StringIO()
    fields = [f.name for f in dataclasses.fields(Cell)]
    writer = csv.DictWriter(buffer, fieldnames=["axis", *fields], lineterminator="\n")
    writer.writeheader()
    for cell in analysis.cells:
        writer.writerow({"axis": analysis.axis, **dataclasses.asdict(cell)})
    return buffer.getvalue()


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with NaN and infinities as None: standard JSON (a logged NaN loss shows as null)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


def as_json(analysis: Analysis) -> dict[str, Any]:
    """The analysis as JSON-ready data."""
    return {
        "axis": analysis.axis,
        "unit": analysis.unit,
        "axis_reason": analysis.axis_reason,
        "common_window": analysis.window_end,
        "limited_by": analysis.limited_by,
        "interval": analysis.interval,
        "checkpoints": [float(a) for a in analysis.checkpoints],
        "rate_window": analysis.rate_window,
        "runs": [
            {
                "name": run.name,
                "group": run.group,
                "seed": run.seed,
                "stretches": run.timeline.active.shape[0],
                "timeline": run.timeline.source,
                "values": run.value_count,
                "files": [str(path) for path in run.files],
            }
            for run in analysis.runs
        ],
        "subjects": {subject.name: [run.name for run in subject.runs] for subject in analysis.subjects},
        "races": [key.label for key in analysis.races],
        "scalars": analysis.scalars,
        "cells": [_finite(dataclasses.asdict(cell)) for cell in analysis.cells],
        "notes": analysis.notes,
        "warnings": analysis.warnings,
    }


def check_format(fmt: str) -> None:
    """An ``AnalysisError`` for a format ``render`` does not write, before any run is read."""
    if fmt not in FORMATS:
        raise AnalysisError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def render(analysis: Analysis, fmt: str) -> str:
    """``analysis`` in ``fmt`` (text, csv, json or md)."""
    check_format(fmt)
    if fmt == "text":
        return render_text(analysis)
    if fmt == "md":
        return render_text(analysis, md=True)
    if fmt == "csv":
        return _csv(analysis)
    return json.dumps(as_json(analysis), indent=1) + "\n"
