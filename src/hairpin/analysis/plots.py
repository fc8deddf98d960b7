"""PNG figures of an analysis: one metric per figure, eval and exploration races in separate files.

Each run is a line. A variant (several seeds) is the mean of its runs with its 95% bootstrap band, drawn on a grid
up to the shortest of its runs and only where every one of them has a value (a mean over the seeds that happen to
have finished would flatter the variant). The y-range covers every line, so a run that finished late stays in
view, and the legend names each run that has not finished yet. The common window is marked. Figures are drawn on
matplotlib's Agg canvas directly: no pyplot state, no display needed.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hairpin.analysis.analyze import Analysis
from hairpin.analysis.axes import LABEL
from hairpin.analysis.races import RaceKey, race_keys, race_series
from hairpin.analysis.run import Run
from hairpin.analysis.stats import bootstrap_ci
from hairpin.analysis.tables import Subject

__all__ = ["RACE_FIGURES", "write_plots"]

RACE_FIGURES = ("best_time", "race_times", "finish_rate")
"""The figures of each race: best time so far, every race's time (DNFs included), windowed finish rate."""
GRID = 200
"""Points of the grid variants are averaged on."""
BAND_RESAMPLES = 2_000
_COLORS = [f"C{i}" for i in range(10)]


@dataclass(frozen=True)
class Curve:
    """One line of a figure, with its band for a variant; P points."""

    label: str
    x: np.ndarray  # (P,)
    y: np.ndarray  # (P,)
    low: np.ndarray | None = None  # (P,)
    high: np.ndarray | None = None  # (P,)


def _last_on(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(G,) the last ``y`` at or before each grid point (``x`` sorted), NaN before the first."""
    index = np.searchsorted(x, grid, side="right") - 1
    return np.where(index >= 0, y[np.maximum(index, 0)] if y.size else np.nan, np.nan)


def _best_so_far(run: Run, key: RaceKey, axis: str) -> tuple[np.ndarray, np.ndarray]:
    series = race_series(run, key, axis)
    if series is None or series.finish_x.size == 0:
        return np.zeros(0), np.zeros(0)
    return series.finish_x, np.minimum.accumulate(series.finish_time)


def _finish_rate(run: Run, key: RaceKey, axis: str, window: float, grid: np.ndarray) -> np.ndarray:
    """(G,) percentage of races finished in ``(g - window, g]`` at each grid point; NaN where no race ran."""
    series = race_series(run, key, axis)
    if series is None or series.finished is None:
        return np.full(grid.size, np.nan)
    done = np.concatenate([[0], np.cumsum(series.finished)])
    upto = np.searchsorted(series.x, grid, side="right")
    since = np.searchsorted(series.x, grid - window, side="right")
    races = upto - since
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(races > 0, 100.0 * (done[upto] - done[since]) / races, np.nan)


def _scalar(run: Run, metric: str, axis: str) -> tuple[np.ndarray, np.ndarray]:
    tag = run.tag_for(metric)
    if tag is None:
        return np.zeros(0), np.zeros(0)
    series = run.series[tag]
    position = run.positions(series, axis)
    order = np.argsort(position, kind="stable")
    return position[order], series.value[order]


def _variant(subject: Subject, axis: str, values_on: dict[str, np.ndarray], grid: np.ndarray) -> Curve:
    """Mean and band of a variant's runs on ``grid``, kept where all runs have a value."""
    stacked = np.stack([values_on[run.name] for run in subject.runs])  # (k, G)
    complete = np.isfinite(stacked).all(axis=0)
    mean = np.full(grid.size, np.nan)
    low, high = mean.copy(), mean.copy()
    if complete.any():
        mean[complete] = stacked[:, complete].mean(axis=0)
        low[complete], high[complete] = bootstrap_ci(stacked[:, complete], resamples=BAND_RESAMPLES)
    label = f"{subject.name} (mean of {len(subject.runs)} runs, 95% CI)"
    return Curve(label, grid, mean, low, high)


def _curves(analysis: Analysis, line: str, metric: str, key: RaceKey | None) -> tuple[list[Curve], list[str]]:
    """Curves of every subject for ``line`` (best, rate or scalar), and the runs with nothing to draw."""
    curves, empty = [], []
    for subject in analysis.subjects:
        end = min(run.duration(analysis.axis) for run in subject.runs)
        grid = np.linspace(0.0, end, GRID)
        on_grid: dict[str, np.ndarray] = {}
        for run in subject.runs:
            if line == "rate" and key is not None:
                on_grid[run.name] = _finish_rate(run, key, analysis.axis, analysis.rate_window, grid)
                x, y = grid, on_grid[run.name]
            else:
                x, y = _best_so_far(run, key, analysis.axis) if key is not None else _scalar(run, metric, analysis.axis)
                on_grid[run.name] = _last_on(x, y, grid)
            if not np.isfinite(y).any():
                empty.append(run.name)
            elif len(subject.runs) == 1:
                # best-so-far holds until the run's end; a scalar line just connects its values
                tail = (np.append(x, run.duration(analysis.axis)), np.append(y, y[-1])) if line == "best" else (x, y)
                curves.append(Curve(run.name, *tail))
        if len(subject.runs) > 1:
            curves.append(_variant(subject, analysis.axis, on_grid, grid))
    return curves, empty


def _axes(analysis: Analysis, title: str, ylabel: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(LABEL[analysis.axis])
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return figure, ax


def _save(analysis: Analysis, figure: Figure, ax: Axes, path: Path) -> Path:
    """Mark the common window, fit the x-range to the longest run, add the legend, write the PNG."""
    ax.axvline(analysis.window_end, color="grey", linestyle=":", linewidth=1, label="common window")
    ax.set_xlim(0, max(run.duration(analysis.axis) for run in analysis.runs) * 1.02)
    ax.legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Title": ax.get_title(), "Software": "hairpin analysis"})
    return path


def _fit_y(ax: Axes, arrays: list[np.ndarray]) -> None:
    """A y-range holding every finite value of ``arrays``, with a 5% margin."""
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays]) if arrays else np.zeros(0)
    if finite.size:
        low, high = float(finite.min()), float(finite.max())
        margin = 0.05 * (high - low) or 0.05 * abs(high) or 1.0
        ax.set_ylim(low - margin, high + margin)


def _draw_curves(
    analysis: Analysis, path: Path, labels: tuple[str, str], curves: list[Curve], empty: list[str], line: str
) -> Path:
    """One figure of ``curves`` titled ``labels[0]`` with y label ``labels[1]``."""
    figure, ax = _axes(analysis, *labels)
    for curve in curves:
        if line == "best":  # the best time changes at a finish and holds until the next better one
            (drawn,) = ax.step(curve.x, curve.y, where="post", label=curve.label)
        else:
            (drawn,) = ax.plot(curve.x, curve.y, label=curve.label)
        if curve.low is not None and curve.high is not None:
            ax.fill_between(curve.x, curve.low, curve.high, color=drawn.get_color(), alpha=0.2, linewidth=0)
    for name in empty:
        ax.plot([], [], linestyle="none", marker="x", color="grey", label=f"{name}: no finished race yet")
    if line == "rate":
        ax.set_ylim(-3, 103)
    else:
        _fit_y(ax, [v for c in curves for v in (c.y, c.low, c.high) if v is not None])
    if not curves:
        ax.text(0.5, 0.5, "no finished race yet", transform=ax.transAxes, ha="center", color="grey")
        ax.set_yticks([])
    return _save(analysis, figure, ax, path)


def _race_points(run: Run, key: RaceKey, axis: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(position, race time, finished) of every race of ``key`` in ``run``, or None when it has no race time tag."""
    tags = race_keys(run.series).get(key, {})
    if "time" not in tags:
        return None
    times = run.series[tags["time"]]
    flags = run.series.get(tags.get("finished", ""))
    paired = flags is not None and len(flags) == len(times)  # logged together, race by race
    finished = flags.value > 0.5 if flags is not None and paired else np.ones(len(times), bool)
    return run.positions(times, axis), times.value, finished


def _draw_race_times(analysis: Analysis, key: RaceKey, path: Path, title: str) -> Path:
    """Every race's time, finished (dots) and not (crosses, at the time it ran): runs that never finish show too."""
    figure, ax = _axes(analysis, title, "race time, DNF included (s)")
    shown = []
    for subject, color in zip(analysis.subjects, _COLORS, strict=False):
        for n, run in enumerate(subject.runs):
            points = _race_points(run, key, analysis.axis)
            if points is None:
                continue
            x, time_s, finished = points
            ax.scatter(x[finished], time_s[finished], s=6, color=color, label=subject.name if n == 0 else None)
            ax.scatter(x[~finished], time_s[~finished], s=10, marker="x", color=color, alpha=0.5)
            shown.append(time_s)
    ax.scatter([], [], s=10, marker="x", color="grey", label="did not finish")
    _fit_y(ax, shown)
    return _save(analysis, figure, ax, path)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def write_plots(
    analysis: Analysis, out_dir: str | Path, *, prefix: str = "", races: Collection[str] = RACE_FIGURES
) -> list[Path]:
    """Write the figures of ``analysis`` under ``out_dir``: those of ``races`` for each race, one per scalar; each
    file name starts with ``prefix``. Returns their paths."""
    out_dir = Path(out_dir)
    unknown = sorted(set(races) - set(RACE_FIGURES))
    if unknown:
        raise ValueError(f"unknown race figures {unknown}; choose from {', '.join(RACE_FIGURES)}")
    written = []
    unit = analysis.unit
    for key in analysis.races:
        kind = "Eval races" if key.kind == "eval" else "Exploration races"
        where = f"{kind} on {key.map}" + (f" ({key.fill})" if key.fill else "")
        stem = f"{prefix}{key.slug}"
        if "best_time" in races:
            curves, empty = _curves(analysis, "best", key.label, key)
            labels = (f"{where}: best time so far", "best finished race time (s)")
            written.append(_draw_curves(analysis, out_dir / f"{stem}_best_time.png", labels, curves, empty, "best"))
        if "race_times" in races:
            path, title = out_dir / f"{stem}_race_times.png", f"{where}: race times"
            written.append(_draw_race_times(analysis, key, path, title))
        if "finish_rate" in races:
            curves, _ = _curves(analysis, "rate", key.label, key)
            window = f"{analysis.rate_window:g} {unit}"
            labels = (f"{where}: finish rate over the last {window}", f"finished races, last {window} (%)")
            written.append(_draw_curves(analysis, out_dir / f"{stem}_finish_rate.png", labels, curves, [], "rate"))
    for metric in analysis.scalars:
        curves, _ = _curves(analysis, "scalar", metric, None)
        labels = (f"{metric}: logged values", metric)
        path = out_dir / f"{prefix}scalar_{_slug(metric)}.png"
        written.append(_draw_curves(analysis, path, labels, curves, [], "scalar"))
    return written
