"""Track geometry derived from a reference line: smoothed centre, headings, slope, curvature, road edges.

Reference-line coordinates are rounded to 0.1 m, so headings and curvature taken point to point are noise;
everything here is computed on a line smoothed over a few metres. All look-ups that use a track are local
to a car's index along the line (see ``sim.kernels.advance_index``), never a global nearest point.

Conventions (Trackmania's, left-handed, y up): a heading ``yaw`` points along ``(sin yaw, cos yaw)`` in the
(x, z) plane; yaw grows when the car turns right; lateral offsets are positive to the right.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hairpin.sim.refline import (
    POINT_SPACING_M,
    ReferenceLineError,
    line_length_m,
    load_reference_line,
    validate_reference_line,
)

__all__ = ["Track", "TrackPack", "gaussian_smooth"]


def gaussian_smooth(values: np.ndarray, sigma_points: float) -> np.ndarray:
    """Smooth along axis 0 with a Gaussian kernel; ends are padded by reflection of the end slope."""
    if sigma_points <= 0:
        return values.copy()
    radius = int(3 * sigma_points) + 1
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_points) ** 2)
    kernel /= kernel.sum()
    # Odd reflection about the end points keeps straight ends straight (no pull towards the end point).
    head = 2 * values[:1] - values[radius:0:-1]
    tail = 2 * values[-1:] - values[-2 : -radius - 2 : -1]
    padded = np.concatenate([head, values, tail], axis=0)
    if values.ndim == 1:
        return np.convolve(padded, kernel, mode="valid")
    return np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(values.shape[1])], axis=1)


@dataclass(frozen=True, eq=False)
class Track:
    """One map: the reference line and everything the simulator derives from it."""

    name: str
    points: np.ndarray
    """(N, 3) reference line, 0.5 m apart: x, height, z."""
    half_width: float = 8.0
    """Road half-width in metres (walls stand at the road edges)."""
    checkpoint_spacing_m: float = 200.0
    """Distance between checkpoints along the line when ``checkpoints_m`` is not given."""
    checkpoints_m: np.ndarray | None = None
    """Positions of checkpoints along the line in metres (the finish is not one of them); None: evenly spaced."""
    smoothing_m: float = 2.0
    """Standard deviation of the Gaussian that smooths positions before headings are taken."""
    curvature_smoothing_m: float = 4.0
    """Extra smoothing of the heading before curvature is taken."""

    centre: np.ndarray = field(init=False)
    """(N, 3) smoothed line."""
    tangent: np.ndarray = field(init=False)
    """(N, 2) unit horizontal tangent (x, z)."""
    slope: np.ndarray = field(init=False)
    """(N,) height gained per metre along the line."""
    curvature: np.ndarray = field(init=False)
    """(N,) signed curvature in 1/m, positive when the line turns right."""
    width_left: np.ndarray = field(init=False)
    """(N,) distance from the line to the left wall, narrowed on the inside of turns tighter than the road."""
    width_right: np.ndarray = field(init=False)
    checkpoints: np.ndarray = field(init=False)
    """(C,) checkpoint positions in metres along the line: ``checkpoints_m`` or evenly spaced."""

    def __post_init__(self) -> None:
        points = validate_reference_line(self.points, source=f"map {self.name!r}")
        set_ = object.__setattr__
        set_(self, "points", points)
        sigma = self.smoothing_m / POINT_SPACING_M
        centre = gaussian_smooth(points, sigma)
        d = np.gradient(centre[:, [0, 2]], axis=0)
        tangent = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
        heading = np.unwrap(np.arctan2(tangent[:, 0], tangent[:, 1]))
        heading = gaussian_smooth(heading, self.curvature_smoothing_m / POINT_SPACING_M)
        curvature = np.gradient(heading) / POINT_SPACING_M
        slope = np.gradient(gaussian_smooth(points[:, 1], 2 * sigma)) / POINT_SPACING_M
        radius = 1.0 / np.maximum(np.abs(curvature), 1e-6)
        inner = np.minimum(self.half_width, 0.8 * radius)
        set_(self, "centre", centre)
        set_(self, "tangent", tangent)
        set_(self, "curvature", curvature)
        set_(self, "slope", slope)
        set_(self, "width_left", np.where(curvature < 0, inner, self.half_width))
        set_(self, "width_right", np.where(curvature > 0, inner, self.half_width))
        if self.checkpoints_m is None:
            n = int(self.finish_s_m // self.checkpoint_spacing_m)
            cps = self.checkpoint_spacing_m * np.arange(1, n + 1)
            cps = cps[cps < self.finish_s_m - 0.5 * self.checkpoint_spacing_m]
        else:
            cps = np.sort(np.asarray(self.checkpoints_m, dtype=np.float64))
            if len(cps) and (cps[0] <= 0 or cps[-1] >= self.finish_s_m):
                raise ReferenceLineError(
                    f"map {self.name!r}: checkpoints must lie inside (0, {self.finish_s_m:.1f}) m along the line, "
                    f"got {cps[0]:.1f} to {cps[-1]:.1f} m"
                )
        set_(self, "checkpoints", cps)
        for name in ("points", "centre", "tangent", "curvature", "slope", "width_left", "width_right", "checkpoints"):
            getattr(self, name).flags.writeable = False  # maps are shared (cached); nobody may edit one

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: float) -> Track:
        """Load a map from a reference-line ``.npy`` file."""
        path = Path(path)
        return cls(name=path.stem.split("_0.5m")[0], points=load_reference_line(path), **kwargs)  # type: ignore[arg-type]

    @property
    def n_points(self) -> int:
        return len(self.points)

    @functools.cached_property
    def length_m(self) -> float:
        """The driven length: the sum of the 3-D segment lengths of ``points`` (what a map's length reports)."""
        return line_length_m(self.points)

    @property
    def finish_s_m(self) -> float:
        """Progress at the finish, (N − 1) × 0.5 m: the unit of progress ``S`` and of ``checkpoints``.

        The simulator measures progress by point index (0.5 m a point), so on a line whose coordinates are rounded
        this differs slightly from ``length_m`` (ESL-Hockolicious: 4,030.5 m of progress, 4,048.7 m driven).
        """
        return (len(self.points) - 1) * POINT_SPACING_M

    def start_pose(self) -> tuple[np.ndarray, float]:
        """Start position (x, height, z) and heading: on the line's first point, facing along it."""
        t = self.tangent[0]
        return self.centre[0].copy(), float(np.arctan2(t[0], t[1]))


@dataclass(frozen=True, eq=False)
class TrackPack:
    """Several tracks concatenated into flat arrays, the form the compiled kernels read."""

    tracks: tuple[Track, ...]
    centre: np.ndarray  # (M, 3) float64
    tangent: np.ndarray  # (M, 2)
    slope: np.ndarray  # (M,)
    curvature: np.ndarray  # (M,)
    width_left: np.ndarray  # (M,)
    width_right: np.ndarray  # (M,)
    offset: np.ndarray  # (T,) int64, first point of each track
    count: np.ndarray  # (T,) int64, points of each track
    checkpoints: np.ndarray  # (C,) float64, metres along their track
    checkpoint_offset: np.ndarray  # (T + 1,) int64

    @classmethod
    def build(cls, tracks: list[Track] | tuple[Track, ...]) -> TrackPack:
        tracks = tuple(tracks)
        if not tracks:
            raise ValueError("TrackPack needs at least one track")
        count = np.array([t.n_points for t in tracks], dtype=np.int64)
        offset = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
        cp_count = np.array([len(t.checkpoints) for t in tracks], dtype=np.int64)
        cat = np.concatenate
        return cls(
            tracks=tracks,
            centre=np.ascontiguousarray(cat([t.centre for t in tracks])),
            tangent=np.ascontiguousarray(cat([t.tangent for t in tracks])),
            slope=cat([t.slope for t in tracks]),
            curvature=cat([t.curvature for t in tracks]),
            width_left=cat([t.width_left for t in tracks]),
            width_right=cat([t.width_right for t in tracks]),
            offset=offset,
            count=count,
            checkpoints=cat([t.checkpoints for t in tracks]).astype(np.float64),
            checkpoint_offset=np.concatenate([[0], np.cumsum(cp_count)]).astype(np.int64),
        )
