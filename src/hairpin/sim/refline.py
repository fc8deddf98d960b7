"""Reference lines: load, validate and resample Trackmania centre lines.

A reference line is an (N, 3) float array of points (x, height, z), 0.5 m apart, as Trackmania tools write
them (``*_0.5m_cl.npy``). Lines that are not 0.5 m spaced are resampled by arc length, with a warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from hairpin.errors import HairpinError

__all__ = ["MIN_POINTS", "POINT_SPACING_M", "ReferenceLineError", "load_reference_line", "validate_reference_line"]

POINT_SPACING_M = 0.5
MIN_POINTS = 20
SPACING_TOLERANCE = 0.25
"""Relative deviation of the median spacing from 0.5 m above which a line is resampled."""


class ReferenceLineError(HairpinError, ValueError):
    """A reference line that cannot be used, with the reason in the message."""


def validate_reference_line(points: np.ndarray, source: str = "reference line") -> np.ndarray:
    """Check shape and values; return the line as float64, resampled to 0.5 m if it is not."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ReferenceLineError(f"{source}: expected an (N, 3) array of (x, height, z), got shape {points.shape}")
    if not np.issubdtype(points.dtype, np.number):
        raise ReferenceLineError(f"{source}: expected numbers, got dtype {points.dtype}")
    points = points.astype(np.float64)
    if len(points) < MIN_POINTS:
        raise ReferenceLineError(f"{source}: needs at least {MIN_POINTS} points, got {len(points)}")
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise ReferenceLineError(
            f"{source}: {int(bad.sum())} point(s) hold NaN or infinity, first at index {int(np.argmax(bad))}"
        )
    step = np.linalg.norm(np.diff(points, axis=0), axis=1)
    repeated = step < 1e-6
    if repeated.any():
        raise ReferenceLineError(
            f"{source}: {int(repeated.sum())} repeated point(s), first at index {int(np.argmax(repeated)) + 1}"
        )
    median = float(np.median(step))
    if abs(median - POINT_SPACING_M) > SPACING_TOLERANCE * POINT_SPACING_M:
        warnings.warn(
            f"{source}: points are {median:.3f} m apart (median), not {POINT_SPACING_M} m; resampling",
            stacklevel=2,
        )
        points = resample(points, POINT_SPACING_M)
    return points


def resample(points: np.ndarray, spacing: float) -> np.ndarray:
    """Resample a polyline at a constant arc-length spacing (linear interpolation, both ends kept)."""
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    n = max(round(s[-1] / spacing) + 1, 2)
    s_new = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(s_new, s, points[:, k]) for k in range(3)], axis=1)


def load_reference_line(path: str | Path) -> np.ndarray:
    """Load a ``.npy`` reference line from disk and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ReferenceLineError(f"{path}: no such file")
    try:
        points = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ReferenceLineError(f"{path}: not a numeric .npy array ({err})") from err
    return validate_reference_line(points, source=str(path))
