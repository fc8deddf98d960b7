"""The axes runs are compared on, and where each run's time went: wall minutes, training hours, frames, batches.

Each run has one origin for all its tags: its first session's start from run.json, or its earliest value.

- ``wall_minutes``: clock time since the origin; downtime counts.
- ``training_hours``: the same with downtime removed. Downtime is the time between run.json sessions (a session
  killed without an end ends at its last value); for a plain directory, every stretch longer than ``gap_minutes``
  without a single value (the whole stretch is removed: nothing says when in it the process died).
- ``frames``: the value's step (cumul_number_frames_played for hairpin and Linesight).
- ``batches``: cumul_number_batches_done at the value's step, interpolated linearly between its logged values
  and held flat before the first and after the last.

A writer that stamps values with training seconds instead of the clock (older Linesight wrote
``cumul_training_hours × 3600``) has no downtime left to remove: its wall minutes are training minutes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from hairpin.analysis.errors import AnalysisError
from hairpin.runfiles.manifest import Session

__all__ = [
    "AXES",
    "LABEL",
    "UNIT",
    "Timeline",
    "checkpoints",
    "nice_interval",
    "parse_span",
    "timeline_from_gaps",
    "timeline_from_sessions",
]

AXES = ("wall_minutes", "training_hours", "frames", "batches")
UNIT = {"wall_minutes": "min", "training_hours": "h", "frames": "frames", "batches": "batches"}
LABEL = {
    "wall_minutes": "wall time since start (min)",
    "training_hours": "training time, downtime removed (h)",
    "frames": "frames played",
    "batches": "gradient batches",
}
TRAINING_CLOCK_BEFORE = 1e8
"""Stamps below this (1973-03-03 as a Unix time) are training seconds, not clock times (older Linesight)."""
SESSION_SLACK_S = 60.0
"""Values this far outside run.json's sessions are reported (the sessions' times are rounded to the second)."""


@dataclass(frozen=True)
class Timeline:
    """When a run was training: its origin and its active stretches, in the writer's clock seconds."""

    origin: float
    active: np.ndarray  # (K, 2) [start, end], sorted, disjoint
    source: str
    """How the stretches were found: run.json sessions, gaps between values, or a training clock."""

    @property
    def gaps_s(self) -> np.ndarray:
        """(K - 1,) seconds of downtime between consecutive active stretches."""
        return self.active[1:, 0] - self.active[:-1, 1]

    def wall_minutes(self, wall: np.ndarray) -> np.ndarray:
        """Minutes since the origin, downtime included."""
        return (np.asarray(wall, np.float64) - self.origin) / 60.0

    def training_hours(self, wall: np.ndarray) -> np.ndarray:
        """Hours of active time between the origin and each ``wall``; a time inside a gap sits at the gap's start."""
        wall = np.asarray(wall, np.float64)
        starts, ends = self.active[:, 0], self.active[:, 1]
        before = np.concatenate([[0.0], np.cumsum(ends - starts)])
        k = np.searchsorted(starts, wall, side="right") - 1
        inside = np.clip(wall - starts[np.maximum(k, 0)], 0.0, (ends - starts)[np.maximum(k, 0)])
        return np.where(k < 0, 0.0, before[np.maximum(k, 0)] + inside) / 3600.0


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def timeline_from_sessions(sessions: Sequence[Session], walls: np.ndarray) -> tuple[Timeline, list[str]]:
    """The timeline run.json's sessions give (``walls``: every value's stamp, sorted), and notes about it."""
    starts = [_timestamp(s.start) for s in sessions]
    active = []
    for i, session in enumerate(sessions):
        next_start = starts[i + 1] if i + 1 < len(sessions) else np.inf
        if session.end is not None:
            end = _timestamp(session.end)
        else:  # killed or still running: it ended at its last value
            inside = walls[(walls >= starts[i] - SESSION_SLACK_S) & (walls < next_start)]
            end = float(inside[-1]) if inside.size else starts[i]
        active.append((starts[i], min(max(end, starts[i]), next_start)))  # sessions never overlap
    spans = np.array(active, np.float64)
    notes = []
    outside = np.ones(walls.size, bool)
    for start, end in spans:
        outside &= ~((walls >= start - SESSION_SLACK_S) & (walls <= end + SESSION_SLACK_S))
    if outside.any():
        notes.append(
            f"{int(outside.sum())} values are stamped outside run.json's sessions; on the training-hours axis they "
            "sit at the nearest session edge"
        )
    origin = min(starts[0], float(walls[0])) if walls.size else starts[0]
    return Timeline(origin, spans, f"{len(sessions)} run.json session(s)"), notes


def timeline_from_gaps(walls: np.ndarray, gap_minutes: float) -> Timeline:
    """The timeline of a run without run.json: active between values, idle over gaps longer than ``gap_minutes``.

    ``walls`` holds every value's stamp, sorted. Stamps that are training seconds (older Linesight) give one stretch
    starting at 0.
    """
    if walls.size == 0:
        return Timeline(0.0, np.zeros((1, 2)), "no values")
    if walls[-1] < TRAINING_CLOCK_BEFORE:
        return Timeline(0.0, np.array([[0.0, walls[-1]]]), "stamps are training seconds (no downtime to remove)")
    cut = np.flatnonzero(np.diff(walls) > gap_minutes * 60.0)
    starts = np.concatenate([[walls[0]], walls[cut + 1]])
    ends = np.concatenate([walls[cut], [walls[-1]]])
    return Timeline(float(walls[0]), np.stack([starts, ends], 1), f"gaps over {gap_minutes:g} min between values")


_SPAN = re.compile(r"^\s*(?P<number>[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(?P<unit>[a-zA-Z]*)\s*$")
_MINUTES = {"s": 1 / 60, "sec": 1 / 60, "m": 1.0, "min": 1.0, "h": 60.0, "hr": 60.0, "d": 1440.0}
_STEPS = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


def parse_span(text: str, axis: str, option: str) -> float:
    """A length on ``axis`` in its unit: ``"30m"``, ``"1.5h"``, ``"90"`` (the axis's unit), ``"500k"``, ``"2M"``."""
    match = _SPAN.match(text)
    if match is None:
        raise AnalysisError(f"{option} {text!r}: expected a number with an optional unit, e.g. 30m, 2h, 500k, 1M")
    number, unit = float(match["number"]), match["unit"]
    if axis in ("frames", "batches"):
        if unit not in _STEPS:
            raise AnalysisError(f"{option} {text!r}: on the {axis} axis give a count (500000, 500k, 2M)")
        value = number * _STEPS[unit]
    elif unit == "":
        value = number
    elif unit in _MINUTES:
        value = number * _MINUTES[unit] / (60.0 if axis == "training_hours" else 1.0)
    else:
        raise AnalysisError(f"{option} {text!r}: unknown unit {unit!r}; use s, m/min, h or d")
    if not value > 0:
        raise AnalysisError(f"{option} {text!r} must be positive")
    return value


def nice_interval(window: float, axis: str, count: int = 6) -> float:
    """A round checkpoint interval giving at most ``count`` checkpoints over ``window`` (in the axis's unit)."""
    target = window / count
    steps: list[float]
    if axis == "wall_minutes":
        steps = [1, 2, 5, 10, 15, 30, 60, 120, 180, 240, 360, 480, 720, 1440]
    elif axis == "training_hours":
        steps = [0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 24, 48]
    else:
        steps = []
    if steps and steps[0] <= target:
        fits = [step for step in steps if step >= target]
        return float(fits[0] if fits else steps[-1] * 2 ** math.ceil(math.log2(target / steps[-1])))
    floor = 1.0 if axis in ("frames", "batches") else 1e-9  # counts are whole; short runs get short intervals
    magnitude = 10 ** math.floor(math.log10(max(target, floor)))
    return float(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= target))


def checkpoints(window: float, interval: float) -> np.ndarray:
    """(C,) multiples of ``interval`` up to ``window`` (a float error of one part in 10⁹ still counts)."""
    count = math.floor(window / interval * (1 + 1e-9))
    if count < 1:
        raise AnalysisError(f"the checkpoint interval {interval:g} is longer than the common window {window:g}")
    return np.round(interval * np.arange(1, count + 1), 9)
