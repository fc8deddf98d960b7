"""The racing line of a map: a minimum-time line inside the road and the speed it can be driven at.

The line is a lateral offset along the map's reference line. Candidates come from a bounded optimisation on
2 m control points, solved to convergence by projected Gauss-Newton: minimise the path's bending (∫ κ² ds, from
the turn at each vertex) plus a weight times its length; weight 0 is the minimum-curvature line, large weights the
shortest one. Each candidate gets a speed
profile under the simulator's own limits:

- in turns, the lateral grip (``v² |κ| ≤ grip × grip_use``) and the steering angle, which shrinks with speed;
- accelerating, the engine's force and power limits less drag, rolling resistance and gravity;
- braking, the brakes held on only the share of ticks that leaves enough lateral grip (braking cuts grip to
  ``brake_grip_factor``), plus drag, rolling resistance and gravity.

Each candidate line, with each planned grip use, is driven in the real simulator by ``line_driver`` (the
expert's tracker with a look-ahead search over the 12 actions, ``hairpin.sim.line_driver``); the one whose lap
finishes fastest is the map's racing line, and that lap time is the map's **limit**. Results are cached by the
map's content and the physics, in memory and on disk (``$HAIRPIN_CACHE`` or ``~/.cache/hairpin``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit
from scipy import sparse
from scipy.sparse.linalg import spsolve

from hairpin.atomic import atomic_write_bytes
from hairpin.config.sim import EnvConfig, ExpertConfig, PhysicsConfig, RacingLineConfig
from hairpin.sim.expert import LapResult, drive_lap
from hairpin.sim.line_driver import LineDriver
from hairpin.sim.race import RaceSim
from hairpin.sim.refline import POINT_SPACING_M
from hairpin.sim.track import Track, gaussian_smooth

__all__ = [
    "RacingLine",
    "cache_dir",
    "corner_speed_limit",
    "limit_lap",
    "line_driver",
    "path_geometry",
    "racing_line",
    "speed_profile_along",
]

CACHE_VERSION = 2
"""Bump when the line's computation changes, so stale cached lines are not read."""
CONTROL_SPACING_POINTS = 4
"""Line points (0.5 m) between optimised offsets: one control point every 2 m."""
TOP_SPEED = 90.0


@dataclass(frozen=True)
class RacingLine:
    """A map's racing line: per reference-line point, the lateral offset (m, right positive) and the speed."""

    offset: np.ndarray
    """(N,) lateral offset from the reference line, metres, positive to the right."""
    speed: np.ndarray
    """(N,) speed (m/s) to aim at each point: the corner and braking limits (below it the driver floors it)."""
    planned_time_s: float
    """Lap time of the speed profile (the driver's real lap is ``limit_lap``)."""
    lap_ms: int | None
    """The driver's lap in the simulator (the map's limit), None when it did not finish."""
    length_weight: float
    """The weight of the path-length term the chosen candidate was optimised with."""
    grip_use: float
    """The grip use its speed profile was planned with."""


def path_geometry(track: Track, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The path ``offset`` describes: points (N, 2) in (x, z), segment lengths (N − 1,), signed curvature (N,)."""
    normal = np.stack([track.tangent[:, 1], -track.tangent[:, 0]], axis=1)  # right of the line
    points = track.centre[:, [0, 2]] + offset[:, None] * normal
    d = np.gradient(points, axis=0)
    heading = np.unwrap(np.arctan2(d[:, 0], d[:, 1]))
    heading = gaussian_smooth(heading, track.curvature_smoothing_m / POINT_SPACING_M)
    ds_points = np.maximum(np.linalg.norm(d, axis=1), 1e-6)
    curvature = np.gradient(heading) / ds_points
    segments = np.maximum(np.linalg.norm(np.diff(points, axis=0), axis=1), 1e-6)
    return points, segments, curvature


def corner_speed_limit(curvature: np.ndarray, physics: PhysicsConfig, grip_use: float) -> np.ndarray:
    """Fastest speed (N,) each point's curvature allows: lateral grip and the speed-dependent steering angle."""
    k = np.maximum(np.abs(curvature), 1e-9)
    v_grip = np.sqrt(physics.grip * grip_use / k)
    lo, hi = np.zeros_like(k), np.minimum(v_grip, TOP_SPEED)
    for _ in range(40):  # the steerable curvature falls with speed: bisect for the speed where it equals |κ|
        mid = 0.5 * (lo + hi)
        angle = physics.max_steer_rad / (1.0 + (mid / physics.steer_falloff_speed) ** 2)
        steerable = np.tan(angle) / physics.wheelbase_m >= k
        lo = np.where(steerable, mid, lo)
        hi = np.where(steerable, hi, mid)
    return lo


@njit(cache=True)
def _passes(
    v_max: np.ndarray,
    segments: np.ndarray,
    curvature: np.ndarray,
    rise: np.ndarray,
    engine_accel: float,
    engine_power: float,
    drag: float,
    rolling: float,
    brake_accel: float,
    brake_grip_factor: float,
    grip: float,
    gravity: float,
    brake_use: float,
    forward: bool,
) -> np.ndarray:
    """Backward (brakes) and, if ``forward``, forward (engine, from standstill) passes over the corner limits."""
    n = v_max.shape[0]
    v = v_max.copy()
    for i in range(n - 1 if forward else 0):
        if i == 0:
            v[0] = 0.0
        ds = segments[i]
        sin_slope = rise[i] / ds
        accel = min(engine_accel, engine_power / max(v[i], 1e-3)) - drag * v[i] * v[i] - rolling
        accel -= gravity * sin_slope
        v[i + 1] = min(v[i + 1], math.sqrt(max(v[i] * v[i] + 2.0 * accel * ds, 0.0)))
    for i in range(n - 2, -1, -1):
        ds = segments[i]
        sin_slope = rise[i] / ds
        w = v[i + 1]
        lateral_use = w * w * abs(curvature[i + 1]) / grip
        share = min(max((1.0 - lateral_use) / (1.0 - brake_grip_factor), 0.0), 1.0) * brake_use
        decel = share * brake_accel + drag * w * w + rolling + gravity * sin_slope
        if decel > 0.0:
            v[i] = min(v[i], math.sqrt(w * w + 2.0 * decel * ds))
    return v


def speed_profile_along(
    segments: np.ndarray,
    curvature: np.ndarray,
    rise: np.ndarray,
    physics: PhysicsConfig,
    grip_use: float,
    brake_use: float,
    forward: bool = True,
) -> np.ndarray:
    """Planned speed (N,) along a path of ``segments`` (m) with ``curvature`` and height gain ``rise`` per segment.

    ``forward``: include what the engine can reach from a standing start (for the lap time); without it, the speed
    to aim at (what a driver tracks: the engine is simply floored below it).
    """
    p = physics
    return _passes(
        corner_speed_limit(curvature, p, grip_use),
        segments,
        curvature,
        rise,
        p.engine_accel,
        p.engine_power,
        p.drag,
        p.rolling_resistance,
        p.brake_accel,
        p.brake_grip_factor,
        p.grip,
        p.gravity,
        brake_use,
        forward,
    )


def _lap_seconds(speed: np.ndarray, segments: np.ndarray) -> float:
    mean = np.maximum(0.5 * (speed[:-1] + speed[1:]), 1e-3)
    return float(np.sum(segments / mean))


def _offset_bounds(track: Track, physics: PhysicsConfig, margin_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Per point, the lowest and highest offset that keeps the car ``margin_m`` off both walls."""
    keep = physics.car_half_width_m + margin_m
    lo = -np.maximum(track.width_left - keep, 0.0)
    hi = np.maximum(track.width_right - keep, 0.0)
    return lo, hi


def _turn_angle_gradient(v: np.ndarray) -> np.ndarray:
    """d atan2(v_z, v_x) / dv for rows v = (x, z)."""
    return np.stack([-v[:, 1], v[:, 0]], axis=1) / np.sum(v * v, axis=1, keepdims=True)


def _bending_and_length_residuals(
    offset: np.ndarray, centre: np.ndarray, normal: np.ndarray, length_weight: float
) -> tuple[np.ndarray, sparse.csr_matrix]:
    """Residuals whose squares sum to Σ θ² / ℓ over the path's vertices (θ its turn, ℓ the mean of its two segments:
    ∫ κ² ds) plus ``length_weight`` × the path's length, and their Jacobian with respect to each point's offset
    along ``normal``. Vertex i's residual is θ_i / √ℓ_i, segment j's √(weight × its length)."""
    path = centre + offset[:, None] * normal  # (K, 2)
    segments = np.diff(path, axis=0)  # (K-1, 2)
    lengths = np.linalg.norm(segments, axis=1)
    a, b = segments[:-1], segments[1:]  # into and out of each inner vertex
    la, lb = lengths[:-1], lengths[1:]
    theta = np.arctan2(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0], np.sum(a * b, axis=1))
    ell = 0.5 * (la + lb)
    bending = theta / np.sqrt(ell)
    d_ell = (-0.25 * theta / ell**1.5)[:, None]  # d bending / d ℓ, halved: ℓ takes half of each segment's length
    d_a = -_turn_angle_gradient(a) / np.sqrt(ell)[:, None] + d_ell * a / la[:, None]
    d_b = _turn_angle_gradient(b) / np.sqrt(ell)[:, None] + d_ell * b / lb[:, None]
    vertex = np.arange(len(theta))
    rows, cols = [vertex, vertex, vertex], [vertex, vertex + 1, vertex + 2]
    values = [
        -np.sum(d_a * normal[:-2], axis=1),
        np.sum((d_a - d_b) * normal[1:-1], axis=1),
        np.sum(d_b * normal[2:], axis=1),
    ]
    residuals = [bending]
    if length_weight > 0:
        segment = np.arange(len(lengths))
        d_segment = (0.5 * np.sqrt(length_weight / lengths) / lengths)[:, None] * segments
        rows += [len(theta) + segment] * 2
        cols += [segment, segment + 1]
        values += [-np.sum(d_segment * normal[:-1], axis=1), np.sum(d_segment * normal[1:], axis=1)]
        residuals.append(np.sqrt(length_weight * lengths))
    n_rows = sum(len(r) for r in residuals)
    jacobian = sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n_rows, len(offset))
    )
    return np.concatenate(residuals), jacobian


def _bounded_least_squares(
    residuals: Callable[[np.ndarray], tuple[np.ndarray, sparse.csr_matrix]],
    start: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    max_iterations: int = 500,
) -> np.ndarray:
    """Minimise the sum of squared ``residuals`` within [lo, hi] by projected Gauss-Newton.

    Each step solves the Gauss-Newton system on the offsets that are not held at a bound (sparse: each residual
    depends on at most three neighbouring offsets), projects onto the bounds and halves until the sum decreases
    enough. The problem is stiff (bending is a fourth difference of the offsets), which first-order methods do not
    finish in thousands of steps; this one converges in 20 to 200 (the built-in maps), to the same offsets whatever
    the machine's float kernels, so the map's limit does not move with them.
    """
    x = np.clip(start, lo, hi)
    r, jacobian = residuals(x)
    value = float(r @ r)
    fixed = hi - lo <= 1e-12
    for _ in range(max_iterations):
        gradient = 2.0 * (jacobian.T @ r)
        if np.max(np.abs(x - np.clip(x - gradient, lo, hi))) < 1e-10:
            break  # the projected gradient vanishes: a bounded minimum
        held = fixed | ((x <= lo + 1e-12) & (gradient > 0)) | ((x >= hi - 1e-12) & (gradient < 0))
        free = np.flatnonzero(~held)
        hessian = (jacobian.T @ jacobian).tocsc()[free][:, free]
        step = np.zeros_like(x)
        step[free] = spsolve(2.0 * hessian + 1e-12 * sparse.identity(len(free), format="csc"), -gradient[free])
        t = 1.0
        while True:
            candidate = np.clip(x + t * step, lo, hi)
            r_new, jacobian_new = residuals(candidate)
            new_value = float(r_new @ r_new)
            if new_value <= value + 1e-4 * float(gradient @ (candidate - x)) or t < 1e-10:
                break
            t *= 0.5
        if new_value > value:
            break  # no step decreases the sum: converged as far as floats allow
        converged = value - new_value <= 1e-15 * max(value, 1.0)
        x, r, jacobian, value = candidate, r_new, jacobian_new, new_value
        if converged:
            break
    return x


def _optimise_offset(
    track: Track, lo: np.ndarray, hi: np.ndarray, length_weight: float, start: np.ndarray | None = None
) -> np.ndarray:
    """The offset (N,) minimising bending + length_weight × length of the path, within [lo, hi].

    ``start``: an offset (N,) to start the search from (the line of a larger weight converges in fewer steps).
    """
    n = track.n_points
    knots = np.minimum(np.arange(0, n + CONTROL_SPACING_POINTS - 1, CONTROL_SPACING_POINTS), n - 1)
    knots = np.unique(knots)
    centre = track.centre[knots][:, [0, 2]]
    tangent = track.tangent[knots]
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    # Each control point must keep its neighbourhood inside the road, so take the tightest bound around it.
    half = CONTROL_SPACING_POINTS
    lo_k = np.array([lo[max(k - half, 0) : k + half + 1].max() for k in knots])
    hi_k = np.array([hi[max(k - half, 0) : k + half + 1].min() for k in knots])
    lo_k, hi_k = np.minimum(lo_k, hi_k), np.maximum(lo_k, hi_k)
    lo_k[0] = hi_k[0] = 0.0  # the car starts on the reference line

    control = _bounded_least_squares(
        lambda x: _bending_and_length_residuals(x, centre, normal, length_weight),
        np.zeros(len(knots)) if start is None else start[knots],
        lo_k,
        hi_k,
    )
    offset = np.interp(np.arange(n), knots, control)
    return np.clip(gaussian_smooth(offset, 1.0 / POINT_SPACING_M), lo, hi)


def _profile(
    track: Track, offset: np.ndarray, physics: PhysicsConfig, grip_use: float, brake_use: float
) -> tuple[np.ndarray, float]:
    """The speed to aim at along the path of ``offset`` and the planned lap time."""
    _, segments, curvature = path_geometry(track, offset)
    rise = np.diff(track.centre[:, 1])
    args = (segments, curvature, rise, physics, grip_use, brake_use)
    planned = speed_profile_along(*args, forward=True)
    return speed_profile_along(*args, forward=False), _lap_seconds(planned, segments)


def line_driver(
    track: Track,
    physics: PhysicsConfig,
    line: RacingLine,
    expert: ExpertConfig | None = None,
    cfg: RacingLineConfig | None = None,
) -> LineDriver:
    """The driver of ``line``: the expert's tracker on the line's offset and speed, with a look-ahead search."""
    cfg = cfg or RacingLineConfig()
    return LineDriver(
        track,
        physics,
        (line.speed, line.offset),
        expert,
        horizon_s=cfg.horizon_s,
        held_actions_only=cfg.held_actions_only,
    )


def _drive(track: Track, env: EnvConfig, line: RacingLine, expert: ExpertConfig, cfg: RacingLineConfig) -> LapResult:
    sim = RaceSim(env.model_copy(update={"start_noise": 0.0}), [track])
    return drive_lap(sim, line_driver(track, env.physics, line, expert.model_copy(update={"noise": 0.0}), cfg))


def _cache_key(track: Track, env: EnvConfig, cfg: RacingLineConfig, expert: ExpertConfig) -> str:
    digest = hashlib.sha256()
    for array in (track.points, track.width_left, track.width_right):
        digest.update(np.ascontiguousarray(array, np.float64).tobytes())
    settings = {
        "version": CACHE_VERSION,
        "physics": env.physics.model_dump(mode="json"),
        "line": cfg.model_dump(mode="json"),
        "expert": expert.model_copy(update={"noise": 0.0}).model_dump(mode="json"),
        "smoothing": [track.smoothing_m, track.curvature_smoothing_m],
        "time_limit_s": env.time_limit_s,
        "no_progress_cutoff_s": env.no_progress_cutoff_s,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def cache_dir() -> Path:
    """Where computed racing lines are kept: ``$HAIRPIN_CACHE/racing-lines`` or ``~/.cache/hairpin/racing-lines``."""
    root = os.environ.get("HAIRPIN_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "hairpin") / "racing-lines"


_MEMORY: dict[str, RacingLine] = {}


def _read_cached(path: Path) -> RacingLine | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            lap = int(data["lap_ms"])
            return RacingLine(
                offset=data["offset"].copy(),
                speed=data["speed"].copy(),
                planned_time_s=float(data["planned_time_s"]),
                lap_ms=None if lap < 0 else lap,
                length_weight=float(data["length_weight"]),
                grip_use=float(data["grip_use"]),
            )
    except (OSError, ValueError, KeyError):
        return None  # a damaged or old cache entry is recomputed


def _write_cached(path: Path, line: RacingLine) -> None:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        offset=line.offset,
        speed=line.speed,
        planned_time_s=line.planned_time_s,
        lap_ms=-1 if line.lap_ms is None else line.lap_ms,
        length_weight=line.length_weight,
        grip_use=line.grip_use,
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue())
    except OSError:
        pass  # a read-only home only costs the recomputation next time


def racing_line(
    track: Track,
    env: EnvConfig | None = None,
    cfg: RacingLineConfig | None = None,
    expert: ExpertConfig | None = None,
) -> RacingLine:
    """The racing line of ``track``: the candidate whose driven lap is fastest (cached by content)."""
    env = env or EnvConfig()
    cfg = cfg or RacingLineConfig()
    expert = expert or ExpertConfig()
    key = _cache_key(track, env, cfg, expert)
    if key in _MEMORY:
        return _MEMORY[key]
    path = cache_dir() / f"{key}.npz"
    line = _read_cached(path) if cfg.cache else None
    if line is None:
        line = _compute(track, env, cfg, expert)
        if cfg.cache:
            _write_cached(path, line)
    _MEMORY[key] = line
    return line


def _compute(track: Track, env: EnvConfig, cfg: RacingLineConfig, expert: ExpertConfig) -> RacingLine:
    best: RacingLine | None = None
    for margin in cfg.margins_m:
        lo, hi = _offset_bounds(track, env.physics, margin)
        candidates, offset = [], None
        for weight in sorted(cfg.length_weights, reverse=True):
            offset = _optimise_offset(track, lo, hi, weight, start=offset)
            for grip_use in cfg.grip_uses:
                speed, planned = _profile(track, offset, env.physics, grip_use, cfg.brake_use)
                candidates.append(RacingLine(offset, speed, planned, None, weight, grip_use))
        # The driver's search releases the GIL: candidates are driven side by side on the machine's cores.
        with ThreadPoolExecutor(max_workers=min(len(candidates), os.cpu_count() or 1)) as pool:
            laps = list(pool.map(lambda line: _drive(track, env, line, expert, cfg), candidates))
        for candidate, lap in zip(candidates, laps, strict=True):
            if lap.finished and (best is None or best.lap_ms is None or lap.race_time_ms < best.lap_ms):
                best = dataclasses.replace(candidate, lap_ms=lap.race_time_ms)
            elif best is None:
                best = candidate
        if best is not None and best.lap_ms is not None:
            break  # a wider margin is only tried when no line of this one finished
    assert best is not None
    return best


def limit_lap(track: Track, env: EnvConfig | None = None, cfg: RacingLineConfig | None = None) -> int | None:
    """The map's limit: the racing line's driven lap in ms, None when no candidate finished."""
    return racing_line(track, env, cfg).lap_ms
