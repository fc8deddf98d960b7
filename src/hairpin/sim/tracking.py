"""Zone tracking: where a car is along its reference line, found locally, never by a global nearest point.

Each update hill-climbs the current index towards the nearest line point, by at most as many points as the car
can have travelled (with margin for the inside of turns, where the line advances faster than the car). The move
is refused when the car is outside the road corridor of the point found, so a car that cuts across the inside
of a corner does not advance: its zone stays before the cut until it drives back onto the road there. Driving
backwards walks the index back and gives negative progress.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hairpin.sim.refline import POINT_SPACING_M
from hairpin.sim.track import Track

__all__ = ["CORRIDOR_MARGIN_M", "ZoneTracker", "advance_index", "line_point_at", "progress_along"]

CORRIDOR_MARGIN_M = 3.0
"""How far beyond the road edge a car still counts as on the line."""
LINE_TO_CAR_RATIO = 6.0
"""Line metres per car metre allowed in one update (the inner edge of a turn is at most 0.8 of its radius)."""


@njit(cache=True, inline="always")
def _dist2(centre: np.ndarray, i: int, x: float, z: float) -> float:
    dx = centre[i, 0] - x
    dz = centre[i, 2] - z
    return dx * dx + dz * dz


@njit(cache=True)
def advance_index(
    centre: np.ndarray,
    width_left: np.ndarray,
    width_right: np.ndarray,
    offset: int,
    count: int,
    idx: int,
    x: float,
    z: float,
    travelled_m: float,
) -> int:
    """New local index (0..count-1) of the car at (x, z) on the track stored at ``offset``."""
    max_step = int(LINE_TO_CAR_RATIO * travelled_m / POINT_SPACING_M) + 2
    i = idx
    best = _dist2(centre, offset + i, x, z)
    steps = 0
    while steps < max_step and i + 1 < count:
        d = _dist2(centre, offset + i + 1, x, z)
        if d >= best:
            break
        i += 1
        best = d
        steps += 1
    if i == idx:
        while steps < max_step and i > 0:
            d = _dist2(centre, offset + i - 1, x, z)
            if d >= best:
                break
            i -= 1
            best = d
            steps += 1
    corridor = max(width_left[offset + i], width_right[offset + i]) + CORRIDOR_MARGIN_M
    if best > corridor * corridor:
        return idx
    return i


@njit(cache=True)
def progress_along(centre: np.ndarray, tangent: np.ndarray, offset: int, idx: int, x: float, z: float) -> float:
    """Metres along the line of a car whose nearest point is ``idx``."""
    k = offset + idx
    along = (x - centre[k, 0]) * tangent[k, 0] + (z - centre[k, 2]) * tangent[k, 1]
    half = 0.5 * POINT_SPACING_M
    return idx * POINT_SPACING_M + min(max(along, -half), half)


@njit(cache=True)
def line_point_at(centre: np.ndarray, tangent: np.ndarray, offset: int, count: int, s: float, out: np.ndarray) -> None:
    """Write the line's point at ``s`` metres into ``out`` (3,); past either end the line goes on straight."""
    last = count - 1
    f = s / POINT_SPACING_M
    if f <= 0.0:
        k, extra = offset, f * POINT_SPACING_M
    elif f >= last:
        k, extra = offset + last, (f - last) * POINT_SPACING_M
    else:
        i = int(f)
        t = f - i
        for a in range(3):
            out[a] = (1.0 - t) * centre[offset + i, a] + t * centre[offset + i + 1, a]
        return
    out[0] = centre[k, 0] + extra * tangent[k, 0]
    out[1] = centre[k, 1]
    out[2] = centre[k, 2] + extra * tangent[k, 1]


class ZoneTracker:
    """Tracks one car along a map from its successive positions (for backends other than the sim's kernels)."""

    def __init__(self, track: Track) -> None:
        self.track = track
        self.zone_idx = 0
        self.meters_advanced = 0.0
        self._last_xz: tuple[float, float] | None = None

    def reset(self) -> None:
        self.zone_idx, self.meters_advanced, self._last_xz = 0, 0.0, None

    @property
    def distance_to_finish(self) -> float:
        return self.track.finish_s_m - self.meters_advanced

    def update(self, position: np.ndarray) -> float:
        """Move to the car's new position (x, height, z); return the metres advanced since the last update."""
        x, z = float(position[0]), float(position[2])
        travelled = 0.0 if self._last_xz is None else float(np.hypot(x - self._last_xz[0], z - self._last_xz[1]))
        t = self.track
        self.zone_idx = advance_index(
            t.centre, t.width_left, t.width_right, 0, t.n_points, self.zone_idx, x, z, travelled
        )
        s = progress_along(t.centre, t.tangent, 0, self.zone_idx, x, z)
        delta, self.meters_advanced, self._last_xz = s - self.meters_advanced, s, (x, z)
        return delta
