"""The Markdown report of a comparison: the command that makes it again, the tables, the notes, the figures."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from hairpin.analysis.analyze import Analysis, AnalysisOptions, analyze
from hairpin.analysis.plots import write_plots
from hairpin.analysis.render import render_text
from hairpin.atomic import atomic_write_text

__all__ = ["experiment_command", "make_report", "plot_command", "write_report"]

REPORT = "report.md"


def write_report(
    analysis: Analysis, plots: Sequence[Path], out_dir: str | Path, *, title: str, description: str, command: str
) -> Path:
    """Write ``out_dir/report.md`` with the tables of ``analysis`` and links to ``plots``; returns its path."""
    out_dir = Path(out_dir)
    runs = ", ".join(run.name for run in analysis.runs)
    lines = [f"# {title}", ""]
    if description:
        lines += [description, ""]
    lines += [f"Runs: {runs}.", "", "Made by:", "", "```bash", command, "```", ""]
    lines += ["## Tables", "", render_text(analysis, md=True), "## Figures", ""]
    for plot in plots:
        relative = os.path.relpath(plot, out_dir)
        lines += [f"![{plot.stem}]({relative})", ""]
    path = out_dir / REPORT
    atomic_write_text(path, "\n".join(lines))
    return path


def plot_command(options: AnalysisOptions, output_dir: str | Path) -> str:
    """The ``hairpin plot`` command line that makes the same figures and report from ``options``."""
    args = ["hairpin", "plot", *options.runs, "--logdir", str(options.logdir), "--runs-dir", str(options.runs_dir)]
    args += ["--time-axis", options.time_axis]
    for flag, value in (
        ("--interval", options.interval),
        ("--step-interval", options.step_interval),
        ("--window", options.window),
    ):
        if value is not None:
            args += [flag, value]
    args += [part for metric in options.metrics for part in ("--metrics", metric)]
    args += [part for group in options.groups for part in ("--group", group)]
    args += ["--gap-minutes", f"{options.gap_minutes:g}", "--output-dir", str(output_dir)]
    return shlex.join(args)


def experiment_command(
    name: str, registry: str | Path, logdir: str | Path, runs_dir: str | Path, output_dir: str | Path
) -> str:
    """The ``hairpin plot --experiments`` command line that makes experiment ``name``'s figures and report."""
    args = ["hairpin", "plot", "--experiments", name, "--registry", str(registry)]
    args += ["--logdir", str(logdir), "--runs-dir", str(runs_dir), "--output-dir", str(output_dir)]
    return shlex.join(args)


def make_report(
    options: AnalysisOptions, out_dir: str | Path, *, title: str, description: str, command: str
) -> tuple[Analysis, list[Path], Path]:
    """Analyse ``options``, write the figures and ``report.md`` under ``out_dir``."""
    analysis = analyze(options)
    plots = write_plots(analysis, out_dir)
    return (
        analysis,
        plots,
        write_report(analysis, plots, out_dir, title=title, description=description, command=command),
    )
