"""Chase-camera renderer: the road ahead of the car, seen from behind and above it, projected onto flat ground.

Each frame paints the part of the car's own line from 20 m behind it to ``view_m`` ahead (an index window around
the car's ``IDX``, never the whole line, which passes over and alongside itself) as convex ground quads
(``raster.fill_quad``, through the camera of ``camera.py``), in painter's order: road, kerbs, checkpoint bands,
finish squares, the car's body. Height is ignored: the ground is flat around the car. Far away, road sections grow
longer (level of detail) and kerbs thinner than a pixel are left out.

Camera frame: ``forward`` along the car's heading, ``lateral`` positive to the car's right (Trackmania's
left-handed world), so what lies to the right of the car is drawn on the right of the image.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hairpin.config.sim import CameraConfig
from hairpin.sim.camera import (
    ROW_FORWARD,
    VIEW_AHEAD,
    VIEW_BACK,
    VIEW_FOCAL,
    VIEW_GROUND_ROW,
    camera_view,
    ground_rows,
)
from hairpin.sim.raster import N_QUAD, QUAD_VALUE, fill_quad
from hairpin.sim.refline import POINT_SPACING_M
from hairpin.sim.state import IDX, YAW, X, Z
from hairpin.sim.track import TrackPack

__all__ = [
    "GRAY_PALETTE",
    "MATERIALS",
    "RGB_PALETTE",
    "Renderer",
    "line_array",
    "render_frame",
    "render_frames",
    "scratch_rows",
]

SKY, GRASS, ROAD, KERB_A, KERB_B, CHECKPOINT, FINISH_DARK, FINISH_LIGHT, CAR = range(9)
MATERIALS: dict[str, int] = {
    "sky": SKY,
    "grass": GRASS,
    "road": ROAD,
    "kerb_a": KERB_A,
    "kerb_b": KERB_B,
    "checkpoint": CHECKPOINT,
    "finish_dark": FINISH_DARK,
    "finish_light": FINISH_LIGHT,
    "car": CAR,
}
"""Material name → id; the palettes are indexed by id."""

GRAY_PALETTE = np.array([195, 75, 115, 160, 250, 45, 0, 225, 20], dtype=np.uint8)
"""Gray value of each material for the agent's image, at least 20 apart."""
RGB_PALETTE = np.array(
    [
        (170, 205, 235),  # sky
        (74, 128, 58),  # grass
        (72, 72, 78),  # road
        (205, 40, 35),  # kerb A
        (235, 235, 235),  # kerb B
        (40, 95, 225),  # checkpoint
        (15, 15, 15),  # finish dark
        (245, 245, 245),  # finish light
        (25, 30, 55),  # car
    ],
    dtype=np.uint8,
)
"""RGB colour of each material for the human view."""
FOG_MAX = 0.6
"""Share of the sky colour blended into the ground at the horizon in the human view."""

LINE_X, LINE_Z, LINE_TX, LINE_TZ, LINE_WIDTH_LEFT, LINE_WIDTH_RIGHT, N_LINE = range(7)
"""Columns of the renderer's line array (``line_array``)."""
N_PROJECTED = 6
"""Numbers of a projected line point (``_project``), a row of the samples buffer."""
BEHIND_POINTS = 40
"""Line points drawn behind the car (20 m)."""
SAMPLE_POINTS = 4
"""Line points between the samples that road sections join (2 m): also the length of one kerb stripe."""
LOD_PX = 4.0
"""Far away, road sections join every 2nd, 4th, … sample while they stay under this many pixels long."""
KERB_M = 1.0
"""Kerb width, inside the road edge."""
KERB_MIN_PX = 0.75
"""Kerbs are drawn where they are at least this many pixels wide (thinner ones only flicker)."""
ROAD_LEFT = (0.0, 0.0)
ROAD_RIGHT = (1.0, 0.0)
"""Places across the road (``_corner``) of its left and right edges."""
CHECKPOINT_POINTS = 4
"""Length of a checkpoint band along the line, in points (2 m)."""
FINISH_ROW_POINTS = 4
"""Length of one row of finish squares along the line, in points (2 m)."""
FINISH_COLUMNS = 8
"""Finish squares across the road."""
CAR_LENGTH_M = 4.0
CAR_WIDTH_M = 2.0
MIN_SIZE = 8
"""Smallest image size in pixels."""


def line_array(pack: TrackPack) -> np.ndarray:
    """(M, N_LINE) float64: the pack's centre x, z, tangent and widths, the columns the renderer reads."""
    columns = [pack.centre[:, 0], pack.centre[:, 2], pack.tangent[:, 0], pack.tangent[:, 1]]
    return np.ascontiguousarray(np.stack([*columns, pack.width_left, pack.width_right], axis=1))


@njit(cache=True)
def _project(line: np.ndarray, i: int, pose: tuple) -> tuple:
    """Camera-frame (forward, lateral) of line point i and of its right normal, then its left and right widths."""
    cam_x, cam_z, sin_yaw, cos_yaw = pose
    x = line[i, LINE_X] - cam_x
    z = line[i, LINE_Z] - cam_z
    normal_x = line[i, LINE_TZ]  # the right normal of (tx, tz) is (tz, -tx)
    normal_z = -line[i, LINE_TX]
    return (
        x * sin_yaw + z * cos_yaw,
        x * cos_yaw - z * sin_yaw,
        normal_x * sin_yaw + normal_z * cos_yaw,
        normal_x * cos_yaw - normal_z * sin_yaw,
        line[i, LINE_WIDTH_LEFT],
        line[i, LINE_WIDTH_RIGHT],
    )


@njit(cache=True)
def _sample(samples: np.ndarray, s: int) -> tuple:
    """Projected point s of the samples buffer as the tuple ``_project`` returns."""
    return samples[s, 0], samples[s, 1], samples[s, 2], samples[s, 3], samples[s, 4], samples[s, 5]


@njit(cache=True)
def _distance(p: tuple) -> float:
    """Distance from the camera of a projected point (the larger of |forward| and |lateral|)."""
    return max(abs(p[0]), abs(p[1]))


@njit(cache=True)
def _corner(p: tuple, place: tuple) -> tuple:
    """Camera-frame (forward, lateral) of a place across the road at projected point p.

    A place is (across, metres): ``metres`` to the right of the fraction ``across`` of the road from its left edge.
    """
    offset = -p[4] + place[0] * (p[4] + p[5]) + place[1]
    return p[0] + offset * p[2], p[1] + offset * p[3]


@njit(cache=True)
def _push_quad(quads: np.ndarray, n: int, corners: tuple, value: float) -> int:
    """Write quad n: four camera-frame corners (f0, l0, …, f3, l3) in order around it, and its palette value."""
    for k in range(8):
        quads[n, k] = corners[k]
    quads[n, QUAD_VALUE] = value
    return n + 1


@njit(cache=True)
def _push_section(quads: np.ndarray, n: int, pa: tuple, pb: tuple, inner: tuple, outer: tuple, value: float) -> int:
    """Write quad n: the road between projected points pa and pb, from one place across it (``_corner``) to another."""
    fa_in, la_in = _corner(pa, inner)
    fa_out, la_out = _corner(pa, outer)
    fb_out, lb_out = _corner(pb, outer)
    fb_in, lb_in = _corner(pb, inner)
    return _push_quad(quads, n, (fa_in, la_in, fa_out, la_out, fb_out, lb_out, fb_in, lb_in), value)


@njit(cache=True)
def _lod_step(samples: np.ndarray, s: int, n_samples: int, focal: float) -> int:
    """Samples spanned by the road section from sample s: doubled while it stays under LOD_PX pixels long."""
    near = _distance(_sample(samples, s))
    step = 1
    while s % (2 * step) == 0 and s + 2 * step < n_samples:
        near = min(near, _distance(_sample(samples, s + 2 * step)))
        if 2 * step * SAMPLE_POINTS * POINT_SPACING_M * focal > LOD_PX * near:
            break
        step *= 2
    return step


@njit(cache=True)
def _road_quads(
    quads: np.ndarray,
    n: int,
    samples: np.ndarray,
    n_samples: int,
    parity: int,
    focal: float,
    palette: np.ndarray,
) -> int:
    """Road sections between samples (longer far away), then kerb stripes where they are wide enough to see."""
    s = 0
    while s < n_samples - 1:
        step = _lod_step(samples, s, n_samples, focal)
        n = _push_section(
            quads, n, _sample(samples, s), _sample(samples, s + step), ROAD_LEFT, ROAD_RIGHT, palette[ROAD]
        )
        s += step
    kerb_reach = KERB_M * focal / KERB_MIN_PX
    for s in range(n_samples - 1):
        pa = _sample(samples, s)
        pb = _sample(samples, s + 1)
        if min(_distance(pa), _distance(pb)) > kerb_reach:
            continue
        kerb = palette[KERB_A] if (s + parity) % 2 == 0 else palette[KERB_B]
        n = _push_section(quads, n, pa, pb, ROAD_LEFT, (0.0, KERB_M), kerb)
        n = _push_section(quads, n, pa, pb, (1.0, -KERB_M), ROAD_RIGHT, kerb)
    return n


@njit(cache=True)
def _checkpoint_quads(
    quads: np.ndarray,
    n: int,
    line: np.ndarray,
    pose: tuple,
    start: int,
    n_points: int,
    first: int,
    last: int,
    checkpoint_idx: np.ndarray,
    value: float,
) -> int:
    """Bands across the road at the checkpoints (given as fractional local point indices) inside the window."""
    for q in range(checkpoint_idx.shape[0]):
        a = max(round(checkpoint_idx[q]) - CHECKPOINT_POINTS // 2, 0)
        b = min(a + CHECKPOINT_POINTS, n_points - 1)
        if b >= first and a <= last:
            pa = _project(line, start + a, pose)
            pb = _project(line, start + b, pose)
            n = _push_section(quads, n, pa, pb, ROAD_LEFT, ROAD_RIGHT, value)
    return n


@njit(cache=True)
def _finish_quads(quads: np.ndarray, n: int, line: np.ndarray, pose: tuple, end: int, palette: np.ndarray) -> int:
    """Two rows of checkered squares across the road ending at global point ``end``, the line's last."""
    for row in range(2):
        pa = _project(line, end - (row + 1) * FINISH_ROW_POINTS, pose)
        pb = _project(line, end - row * FINISH_ROW_POINTS, pose)
        for col in range(FINISH_COLUMNS):
            inner = (col / FINISH_COLUMNS, 0.0)
            outer = ((col + 1) / FINISH_COLUMNS, 0.0)
            value = palette[FINISH_DARK] if (row + col) % 2 == 0 else palette[FINISH_LIGHT]
            n = _push_section(quads, n, pa, pb, inner, outer, value)
    return n


@njit(cache=True)
def _fill_background(img: np.ndarray, ground_row: int, palette: np.ndarray) -> None:
    """Sky above the horizon, grass below it."""
    img[:ground_row] = palette[SKY]
    img[ground_row:] = palette[GRASS]


@njit(cache=True)
def render_frame(
    img: np.ndarray,
    car: np.ndarray,
    line: np.ndarray,
    start: int,
    n_points: int,
    checkpoint_idx: np.ndarray,
    rows: np.ndarray,
    view: np.ndarray,
    palette: np.ndarray,
    samples: np.ndarray,
    quads: np.ndarray,
) -> None:
    """Paint one (S, S) frame of one car (a state row) on the track whose points are line[start:start+n_points].

    ``samples`` and ``quads`` are scratch space of the sizes ``scratch_rows`` gives.
    """
    _fill_background(img, int(view[VIEW_GROUND_ROW]), palette)
    idx = min(max(int(car[IDX]), 0), n_points - 1)
    first = max(idx - BEHIND_POINTS, 0) // SAMPLE_POINTS * SAMPLE_POINTS  # kerb stripes stay put as the car moves
    last = min(idx + int(view[VIEW_AHEAD]), n_points - 1)
    sin_yaw = math.sin(car[YAW])
    cos_yaw = math.cos(car[YAW])
    back = view[VIEW_BACK]
    pose = (car[X] - back * sin_yaw, car[Z] - back * cos_yaw, sin_yaw, cos_yaw)
    n_samples = (last - first + SAMPLE_POINTS - 1) // SAMPLE_POINTS + 1
    for s in range(n_samples):
        p = _project(line, start + min(first + s * SAMPLE_POINTS, last), pose)
        for k in range(N_PROJECTED):
            samples[s, k] = p[k]
    parity = (first // SAMPLE_POINTS) % 2
    n = _road_quads(quads, 0, samples, n_samples, parity, view[VIEW_FOCAL], palette)
    n = _checkpoint_quads(quads, n, line, pose, start, n_points, first, last, checkpoint_idx, palette[CHECKPOINT])
    if last == n_points - 1 and n_points > 2 * FINISH_ROW_POINTS:
        n = _finish_quads(quads, n, line, pose, start + n_points - 1, palette)
    length = 0.5 * CAR_LENGTH_M
    width = 0.5 * CAR_WIDTH_M
    body = (back - length, -width, back + length, -width, back + length, width, back - length, width)
    n = _push_quad(quads, n, body, palette[CAR])
    for q in range(n):
        fill_quad(img, rows, view, quads[q])


@njit(cache=True)
def scratch_rows(view: np.ndarray, checkpoint_offset: np.ndarray) -> tuple:
    """Rows of the samples and quads scratch buffers ``render_frame`` needs: at most, for any track."""
    n_samples = (BEHIND_POINTS + int(view[VIEW_AHEAD])) // SAMPLE_POINTS + 3
    most_checkpoints = np.max(np.diff(checkpoint_offset))
    return n_samples, 3 * n_samples + most_checkpoints + 2 * FINISH_COLUMNS + 1


@njit(cache=True)
def render_frames(
    out: np.ndarray,
    track_id: np.ndarray,
    state: np.ndarray,
    line: np.ndarray,
    offset: np.ndarray,
    count: np.ndarray,
    checkpoint_idx: np.ndarray,
    checkpoint_offset: np.ndarray,
    rows: np.ndarray,
    view: np.ndarray,
    palette: np.ndarray,
) -> None:
    """Paint out[c, 0] (S, S) for every car c: palette values of materials; checkpoint_idx in local points."""
    n = track_id.shape[0]
    size = rows.shape[0]
    if out.shape[0] < n or out.shape[1] != 1 or out.shape[2] != size or out.shape[3] != size:
        raise ValueError("render_frames: out must be (n, 1, S, S) for n cars and S rows")
    if state.shape[0] < n or state.shape[1] <= max(X, Z, YAW, IDX):
        raise ValueError("render_frames: state must be (n, N_STATE) for n cars")
    n_samples, n_quads = scratch_rows(view, checkpoint_offset)
    samples = np.empty((n_samples, N_PROJECTED))
    quads = np.empty((n_quads, N_QUAD))
    for c in range(n):
        t = track_id[c]
        if t < 0 or t >= offset.shape[0]:
            raise IndexError("render_frames: track id outside the pack")
        cps = checkpoint_idx[checkpoint_offset[t] : checkpoint_offset[t + 1]]
        render_frame(out[c, 0], state[c], line, offset[t], count[t], cps, rows, view, palette, samples, quads)


class Renderer:
    """Chase-camera frames of cars on a track pack: gray for the agent, RGB for people."""

    def __init__(self, pack: TrackPack, camera: CameraConfig, size: int) -> None:
        self.pack = pack
        self.camera = camera
        self.size = size
        self.line = line_array(pack)
        self.offset = np.ascontiguousarray(pack.offset, dtype=np.int64)
        self.count = np.ascontiguousarray(pack.count, dtype=np.int64)
        self.checkpoint_idx = np.ascontiguousarray(pack.checkpoints / POINT_SPACING_M)
        self.checkpoint_offset = np.ascontiguousarray(pack.checkpoint_offset, dtype=np.int64)
        self._views: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.rows, self.view = self._rows_and_view(size)
        self._material_ids = np.arange(len(MATERIALS), dtype=np.uint8)

    def _rows_and_view(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Row table and camera array for an image size, computed once per size."""
        if size not in self._views:
            if size < MIN_SIZE:
                raise ValueError(f"Renderer: image size must be at least {MIN_SIZE} pixels, got {size}")
            self._views[size] = (ground_rows(self.camera, size), camera_view(self.camera, size))
        return self._views[size]

    def gray(self, track_id: np.ndarray, state: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(n, 1, S, S) uint8 agent images of cars ``state[:n]`` on tracks ``track_id`` (int64, (n,))."""
        if out is None:
            out = np.empty((track_id.shape[0], 1, self.size, self.size), dtype=np.uint8)
        render_frames(
            out,
            track_id,
            state,
            self.line,
            self.offset,
            self.count,
            self.checkpoint_idx,
            self.checkpoint_offset,
            self.rows,
            self.view,
            GRAY_PALETTE,
        )
        return out

    def materials(self, track_id: np.ndarray, state: np.ndarray, size: int | None = None) -> np.ndarray:
        """(n, S, S) uint8 material ids (see ``MATERIALS``) seen by each car."""
        size = size or self.size
        rows, view = self._rows_and_view(size)
        out = np.empty((track_id.shape[0], 1, size, size), dtype=np.uint8)
        render_frames(
            out,
            np.asarray(track_id, dtype=np.int64),
            np.asarray(state, dtype=np.float64),
            self.line,
            self.offset,
            self.count,
            self.checkpoint_idx,
            self.checkpoint_offset,
            rows,
            view,
            self._material_ids,
        )
        return out[:, 0]

    def rgb(self, track_id: np.ndarray, state: np.ndarray, size: int | None = None) -> np.ndarray:
        """(n, S, S, 3) uint8 human view, S = ``size`` or the renderer's; ground fades to haze with distance."""
        size = size or self.size
        rows, _ = self._rows_and_view(size)
        colour = RGB_PALETTE[self.materials(track_id, state, size)].astype(np.float32)  # (n, S, S, 3)
        forward = rows[:, ROW_FORWARD]  # (S,), inf for sky rows
        haze = np.where(np.isfinite(forward), FOG_MAX * (1.0 - np.exp(-forward / self.camera.view_m)), 0.0)
        colour += haze.astype(np.float32)[None, :, None, None] * (RGB_PALETTE[SKY].astype(np.float32) - colour)
        return np.rint(colour).astype(np.uint8)
