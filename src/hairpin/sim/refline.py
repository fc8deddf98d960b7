"""Reference lines: load, validate and resample Trackmania centre lines.

A reference line is an (N, 3) float array of points (x, height, z), 0.5 m apart, as Trackmania tools write them
(``*_0.5m_cl.npy``). Lines that are not 0.5 m spaced are resampled by arc length, with a warning.

A line is refused (``ReferenceLineError``, naming the point index and the metres along the line) when no car could
drive it. The bounds below were chosen against real lines, whose coordinates are rounded to 0.1 m (so any measure
taken between neighbouring points is noisy) and which climb ramps of slope up to 0.67 and pass over themselves on
bridges (points 1 m apart in x and z, 7 m apart in height, far apart along the line — which no check looks at).
ESL-Hockolicious, for instance, measures at most: a step of 1.21 × its median spacing, a slope of 0.67 between
neighbouring points and 0.36 over 2 m, and a turn of 34° between 0.5 m chords (15° between 2 m chords).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import numpy.lib.format as npy_format

from hairpin.errors import HairpinError

__all__ = [
    "MAX_JUMP_FACTOR",
    "MAX_SLOPE",
    "MAX_STEP_SLOPE",
    "MAX_TURN_DEG",
    "MIN_POINTS",
    "POINT_SPACING_M",
    "ReferenceLineError",
    "line_length_m",
    "load_reference_line",
    "validate_reference_line",
]

POINT_SPACING_M = 0.5
MIN_POINTS = 20
SPACING_TOLERANCE = 0.25
"""Relative deviation of the median spacing from 0.5 m above which a line is resampled."""
MAX_JUMP_FACTOR = 5.0
"""A step between neighbouring points longer than this many times the line's spacing (its median spacing, at
least 0.5 m: 2.5 m for a 0.5 m line) is a gap in the line. Real lines stay within 1.25 times."""
MAX_STEP_SLOPE = 2.0
"""Height change per horizontal metre between neighbouring points above which the line is a cliff (63°). A 0.67
ramp rounded to 0.1 m measures up to about 1.2 between 0.5 m neighbours; the real lines measure at most 0.67."""
MAX_SLOPE = 1.0
"""Height change per horizontal metre over ``SLOPE_BASE_M`` above which the line is a wall (45°), where rounding
adds at most about 0.06 to the slope; the steepest ramps are 0.67, the real lines measure at most 0.41 over 1 m."""
SLOPE_BASE_M = 2.0
"""Horizontal-ish base (metres along the line) of the sustained-slope check."""
MAX_TURN_DEG = 150.0
"""Angle between the chord arriving at a point and the chord leaving it above which the line doubles back."""
TURN_CHORDS_M = (0.5, 1.0, 2.0, 4.0)
"""Chord lengths compared by the doubling-back check: at 4 m a 150° turn is a curve of radius under 1.6 m, far
tighter than any road (the tightest Trackmania turns have a radius of 8 m or more); real lines turn at most 34°
between 0.5 m chords, where rounding to 0.1 m adds up to about 16°."""


class ReferenceLineError(HairpinError, ValueError):
    """A reference line that cannot be used, with the reason in the message."""


def line_length_m(points: np.ndarray) -> float:
    """The driven length of a line: the sum of its 3-D segment lengths."""
    return float(np.linalg.norm(np.diff(np.asarray(points, dtype=np.float64), axis=0), axis=1).sum())


def _where(s: np.ndarray, index: int) -> str:
    return f"point {index} ({s[index]:.1f} m along the line)"


def _check_values(points: np.ndarray, source: str) -> np.ndarray:
    """Shape, dtype, size and finiteness; the line as float64."""
    if points.ndim != 2 or points.shape[1] != 3:
        raise ReferenceLineError(
            f"{source}: expected an (N, 3) array of (x, height, z), got shape {points.shape}; "
            "write the centre line as one row per point"
        )
    if not (np.issubdtype(points.dtype, np.integer) or np.issubdtype(points.dtype, np.floating)):
        raise ReferenceLineError(f"{source}: expected real numbers, got dtype {points.dtype}")
    points = points.astype(np.float64)
    if len(points) == 0:
        raise ReferenceLineError(f"{source}: the line holds no points; export the map's centre line again")
    if len(points) < MIN_POINTS:
        raise ReferenceLineError(
            f"{source}: needs at least {MIN_POINTS} points, got {len(points)}; "
            f"export the whole centre line, one point every {POINT_SPACING_M} m"
        )
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise ReferenceLineError(
            f"{source}: {int(bad.sum())} point(s) hold NaN or infinity, first at index {int(np.argmax(bad))}; "
            "export the line again or remove those points"
        )
    return points


def _check_steps(points: np.ndarray, step: np.ndarray, s: np.ndarray, spacing: float, source: str) -> None:
    """Repeated points, cliffs (steep steps, whatever their length) and gaps between neighbouring points."""
    repeated = step < 1e-6
    if repeated.any():
        i = int(np.argmax(repeated)) + 1
        raise ReferenceLineError(
            f"{source}: {int(repeated.sum())} repeated point(s), first at index {i} ({s[i]:.1f} m along the line); "
            "remove the duplicates"
        )
    _check_slope(points, s, 1, MAX_STEP_SLOPE, "a height step of {dh} m over {run} m horizontally", "", source)
    limit = MAX_JUMP_FACTOR * max(spacing, POINT_SPACING_M)
    jumps = step > limit
    if jumps.any():
        i = int(np.argmax(jumps))
        raise ReferenceLineError(
            f"{source}: the line jumps {step[i]:.2f} m from {_where(s, i)} to point {i + 1}, more than "
            f"{limit:.2f} m ({MAX_JUMP_FACTOR:g} × its spacing of {spacing:.2f} m); fill the gap with points "
            f"{POINT_SPACING_M} m apart or split the map there"
        )
    k = max(1, round(SLOPE_BASE_M / spacing))
    over = f" over {SLOPE_BASE_M:g} m"
    _check_slope(points, s, k, MAX_SLOPE, "the height changes by {dh} m over {run} m horizontally", over, source)


def _check_slope(
    points: np.ndarray, s: np.ndarray, k: int, max_slope: float, what: str, over: str, source: str
) -> None:
    """Refuse a rise steeper than ``max_slope`` between points ``k`` apart; ``what`` words the step found."""
    if len(points) <= k:
        return
    d = points[k:] - points[:-k]
    rise, run = np.abs(d[:, 1]), np.hypot(d[:, 0], d[:, 2])
    steep = rise > max_slope * run
    if steep.any():
        i = int(np.argmax(steep))
        step = what.format(dh=f"{d[i, 1]:+.2f}", run=f"{run[i]:.2f}")
        raise ReferenceLineError(
            f"{source}: {step} from {_where(s, i)} to point {i + k}, steeper than a car can drive "
            f"(slope above {max_slope:g}{over}); smooth the heights there"
        )


def _check_turns(points: np.ndarray, s: np.ndarray, spacing: float, source: str) -> None:
    """A line that doubles back: the chords before and after a point point (nearly) opposite ways.

    Chords are compared from the shortest up; the first length that finds a fault reports the sharpest turn of the
    first stretch it flags (the shortest chords place a fold best, the longer ones catch turns round on the spot).
    """
    cos_limit = np.cos(np.radians(MAX_TURN_DEG))
    for k in sorted({max(1, round(chord / spacing)) for chord in TURN_CHORDS_M}):
        if len(points) <= 2 * k:
            break
        a = points[k:-k] - points[: -2 * k]
        b = points[2 * k :] - points[k:-k]
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        dot = (a * b).sum(axis=1)
        # A chord of length 0 means the line came back to where it was within k points: it doubled back.
        cos = np.divide(dot, norms, out=np.full_like(dot, -1.0), where=norms > 1e-12)
        back = cos < cos_limit
        if not back.any():
            continue
        first = int(np.argmax(back))
        stretch_end = first + int(np.argmin(back[first:])) if not back[first:].all() else len(back)
        stretch = cos[first:stretch_end]
        sharpest = np.flatnonzero(stretch <= stretch.min() + 1e-9)
        i = first + int(sharpest[len(sharpest) // 2]) + k  # the middle of equally sharp turns; a point index
        angle = float(np.degrees(np.arccos(np.clip(cos[i - k], -1.0, 1.0))))
        raise ReferenceLineError(
            f"{source}: the line doubles back at {_where(s, i)}: it turns {angle:.0f}° between the "
            f"{s[i] - s[i - k]:.1f} m before and the {s[i + k] - s[i]:.1f} m after (points {i - k} to {i + k}), "
            f"more than the {MAX_TURN_DEG:g}° a road can turn on the spot; remove the points that go back"
        )


def validate_reference_line(points: np.ndarray, source: str = "reference line") -> np.ndarray:
    """Check shape, values and geometry; return the line as float64, resampled to 0.5 m if it is not."""
    points = _check_values(np.asarray(points), source)
    step = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(step)])
    median = float(np.median(step))
    _check_steps(points, step, s, median, source)
    _check_turns(points, s, median, source)
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


_REEXPORT = "export the map's centre line again as an (N, 3) float array with numpy.save"


def _read_npy(path: Path) -> np.ndarray:
    """The array of a ``.npy`` file, never unpickling anything; every failure is a ``ReferenceLineError``."""
    try:
        with path.open("rb") as file:
            head = file.read(len(npy_format.MAGIC_PREFIX))
            if not head:
                raise ReferenceLineError(f"{path}: the file is empty (0 bytes); {_REEXPORT}")
            if head.startswith(b"PK"):
                raise ReferenceLineError(
                    f"{path}: a .npz archive (a zip of arrays), not a .npy array; save the line alone with numpy.save"
                )
            if head != npy_format.MAGIC_PREFIX:
                raise ReferenceLineError(
                    f"{path}: not a .npy file (it does not start with NumPy's header); {_REEXPORT}"
                )
            file.seek(0)
            try:
                version = npy_format.read_magic(file)
                if version == (1, 0):
                    _, _, dtype = npy_format.read_array_header_1_0(file)
                else:
                    _, _, dtype = npy_format.read_array_header_2_0(file)
            except (ValueError, EOFError) as err:
                raise ReferenceLineError(f"{path}: a broken .npy header ({err}); {_REEXPORT}") from err
            if dtype.hasobject:
                raise ReferenceLineError(
                    f"{path}: holds Python objects (pickled data), not numbers, and pickles are never loaded; "
                    f"{_REEXPORT}"
                )
            file.seek(0)
            try:
                return np.load(file, allow_pickle=False)
            except (ValueError, EOFError) as err:
                raise ReferenceLineError(f"{path}: a truncated or corrupted .npy file ({err}); {_REEXPORT}") from err
    except OSError as err:
        raise ReferenceLineError(f"{path}: cannot be read ({err.strerror or err}); check its permissions") from err


def load_reference_line(path: str | Path) -> np.ndarray:
    """Load a ``.npy`` reference line from disk and validate it."""
    path = Path(path)
    if path.is_dir():
        raise ReferenceLineError(f"{path}: a folder, not a reference-line .npy file")
    if not path.is_file():
        raise ReferenceLineError(f"{path}: no such file")
    return validate_reference_line(_read_npy(path), source=str(path))
