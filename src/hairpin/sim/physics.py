"""Car physics of the built-in simulator: 100 Hz ticks over a batch of cars, compiled with numba.

The model is a grip-limited "heading plus velocity" car. Steering sets a target yaw rate (kinematic, with a
steering angle that shrinks with speed, capped a little above what the tyres can hold); the heading turns, and
the velocity follows it only as fast as lateral grip allows, so a car pushed past the grip slides. Braking
removes most lateral grip and loosens the yaw cap: braking into a turn makes the car drift. The engine is
force-limited at low speed and power-limited above; air drag sets the top speed (about 80 m/s on the flat);
gravity acts along the road's slope. The car's height follows the road. Walls stand at both road edges: a car
is pushed back inside, loses its speed into the wall and part of its speed along it.

Every constant comes from ``PhysicsConfig``. The kernels are deterministic: the same state and inputs give the
same result bit for bit.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from hairpin.config.sim import PhysicsConfig
from hairpin.sim import state as st
from hairpin.sim.refline import POINT_SPACING_M
from hairpin.sim.track import TrackPack
from hairpin.sim.tracking import advance_index, progress_along

__all__ = ["PhysicsParams", "advance_cars", "advance_pack", "physics_params", "place_car", "reset_car"]

START_BACK_WALL_M = 5.0
"""A wall stands this far behind the start line."""
ACCEL, BRAKE, LEFT, RIGHT = 0, 1, 2, 3


class PhysicsParams(NamedTuple):
    """PhysicsConfig as a flat tuple of floats that compiled kernels take as one argument."""

    tick_s: float
    engine_accel: float
    engine_power: float
    drag: float
    rolling_resistance: float
    brake_accel: float
    reverse_accel: float
    reverse_max_speed: float
    grip: float
    brake_grip_factor: float
    oversteer: float
    brake_oversteer: float
    wheelbase_m: float
    max_steer_rad: float
    steer_falloff_speed: float
    yaw_response_s: float
    slide_threshold: float
    slide_scrub: float
    gravity: float
    wall_restitution: float
    wall_friction: float
    wall_align: float
    car_half_width_m: float
    max_rpm: float


def physics_params(cfg: PhysicsConfig) -> tuple[PhysicsParams, np.ndarray]:
    """The kernels' view of a physics config: the scalar tuple and the gear speeds array."""
    values = {name: float(getattr(cfg, name)) for name in PhysicsParams._fields}
    return PhysicsParams(**values), np.asarray(cfg.gear_speeds, np.float64)


@njit(cache=True)
def _toward_zero(v: float, amount: float) -> float:
    if v > amount:
        return v - amount
    if v < -amount:
        return v + amount
    return 0.0


@njit(cache=True)
def _longitudinal(v_long: float, keys: np.ndarray, slope_along: float, p: PhysicsParams) -> float:
    """Forward speed after one tick of engine, brakes, reverse, drag, rolling resistance and gravity."""
    dt = p.tick_s
    drive = -p.gravity * slope_along / math.sqrt(1.0 + slope_along * slope_along)
    resist = p.drag * v_long * v_long + (p.rolling_resistance if abs(v_long) > 0.05 else 0.0)
    if keys[ACCEL]:
        drive += min(p.engine_accel, p.engine_power / max(abs(v_long), 1e-3)) if v_long >= 0.0 else p.brake_accel
    if keys[BRAKE]:
        if v_long > 0.5:
            resist += p.brake_accel
        elif not keys[ACCEL] and v_long > -p.reverse_max_speed:
            drive -= p.reverse_accel
        elif keys[ACCEL]:
            resist += p.brake_accel  # both pedals near standstill hold the car
    v = v_long + drive * dt
    return _toward_zero(v, resist * dt)


@njit(cache=True)
def _target_yaw_rate(v_long: float, steer: float, braking: bool, p: PhysicsParams) -> float:
    speed = abs(v_long)
    angle = p.max_steer_rad / (1.0 + (speed / p.steer_falloff_speed) ** 2)
    kinematic = steer * v_long * math.tan(angle) / p.wheelbase_m
    cap = (p.brake_oversteer if braking else p.oversteer) * p.grip / max(speed, 1.0)
    return min(max(kinematic, -cap), cap)


@njit(cache=True)
def _collide_walls(
    row: np.ndarray, pack_centre: np.ndarray, pack_tangent: np.ndarray, wl: float, wr: float, k: int, p: PhysicsParams
) -> bool:
    """Keep the car between the walls of line point ``k``; return whether it touched one."""
    tx, tz = pack_tangent[k, 0], pack_tangent[k, 1]
    nx, nz = tz, -tx  # right normal
    dx, dz = row[st.X] - pack_centre[k, 0], row[st.Z] - pack_centre[k, 2]
    lateral = dx * nx + dz * nz
    limit_r = wr - p.car_half_width_m
    limit_l = wl - p.car_half_width_m
    if lateral > limit_r:
        depth, sx, sz = lateral - max(limit_r, 0.0), nx, nz
    elif lateral < -limit_l:
        depth, sx, sz = -limit_l - lateral if limit_l > 0 else -lateral, -nx, -nz
    else:
        return False
    row[st.X] -= depth * sx
    row[st.Z] -= depth * sz
    v_in = row[st.VX] * sx + row[st.VZ] * sz  # speed into the wall
    if v_in > 0.0:
        vtx, vtz = row[st.VX] - v_in * sx, row[st.VZ] - v_in * sz
        v_t = math.hypot(vtx, vtz)
        keep = max(v_t - p.wall_friction * v_in, 0.0) / v_t if v_t > 1e-9 else 0.0
        bounce = p.wall_restitution * v_in
        row[st.VX] = vtx * keep - bounce * sx
        row[st.VZ] = vtz * keep - bounce * sz
        row[st.YAW_RATE] *= 0.5
    _align_with_wall(row, tx, tz, p.wall_align)
    return True


@njit(cache=True)
def _align_with_wall(row: np.ndarray, tx: float, tz: float, rate: float) -> None:
    """Turn the heading a fraction ``rate`` towards the wall direction it points along (none when head-on)."""
    fx, fz = math.sin(row[st.YAW]), math.cos(row[st.YAW])
    along = fx * tx + fz * tz
    if abs(along) < 0.05:
        return
    wall_yaw = math.atan2(tx, tz) if along > 0 else math.atan2(-tx, -tz)
    diff = (wall_yaw - row[st.YAW] + math.pi) % (2.0 * math.pi) - math.pi
    row[st.YAW] += rate * diff


@njit(cache=True)
def _gear_and_rpm(row: np.ndarray, v_long: float, gear_speeds: np.ndarray, p: PhysicsParams) -> None:
    if v_long < -0.5:
        row[st.GEAR] = 0.0
        row[st.RPM] = p.max_rpm * min(-v_long / p.reverse_max_speed, 1.0)
        return
    g = 0
    while g + 1 < gear_speeds.shape[0] and v_long >= gear_speeds[g + 1]:
        g += 1
    lo = gear_speeds[g]
    hi = gear_speeds[g + 1] if g + 1 < gear_speeds.shape[0] else 1.25 * lo + 30.0
    row[st.GEAR] = g + 1.0
    row[st.RPM] = p.max_rpm * (0.3 + 0.7 * min(max((v_long - lo) / (hi - lo), 0.0), 1.0))


@njit(cache=True)
def _tick(
    row: np.ndarray,
    keys: np.ndarray,
    centre: np.ndarray,
    tangent: np.ndarray,
    slope: np.ndarray,
    width_left: np.ndarray,
    width_right: np.ndarray,
    off: int,
    n: int,
    cps: np.ndarray,
    gear_speeds: np.ndarray,
    p: PhysicsParams,
) -> None:
    """Advance one car by one tick."""
    dt = p.tick_s
    yaw = row[st.YAW]
    fx, fz = math.sin(yaw), math.cos(yaw)
    rx, rz = fz, -fx
    v_long = row[st.VX] * fx + row[st.VZ] * fz
    v_lat = row[st.VX] * rx + row[st.VZ] * rz
    k = off + int(row[st.IDX])
    align = fx * tangent[k, 0] + fz * tangent[k, 1]
    braking = keys[BRAKE] != 0 and v_long > 0.5

    v_long = _longitudinal(v_long, keys, slope[k] * align, p)
    v_lat = _toward_zero(v_lat, p.grip * (p.brake_grip_factor if braking else 1.0) * dt)
    sliding = abs(v_lat) > p.slide_threshold
    if sliding:
        v_long = _toward_zero(v_long, p.slide_scrub * abs(v_lat) * dt)
    row[st.VX] = v_long * fx + v_lat * rx
    row[st.VZ] = v_long * fz + v_lat * rz

    target = _target_yaw_rate(v_long, float(keys[RIGHT]) - float(keys[LEFT]), braking, p)
    row[st.YAW_RATE] += (target - row[st.YAW_RATE]) * min(1.0, dt / p.yaw_response_s)
    row[st.YAW] = yaw + row[st.YAW_RATE] * dt

    row[st.X] += row[st.VX] * dt
    row[st.Z] += row[st.VZ] * dt
    travelled = math.hypot(row[st.VX], row[st.VZ]) * dt
    idx = advance_index(centre, width_left, width_right, off, n, int(row[st.IDX]), row[st.X], row[st.Z], travelled)
    row[st.IDX] = idx
    k = off + idx
    if _collide_walls(row, centre, tangent, width_left[k], width_right[k], k, p):
        row[st.WALL] += 1.0
    if idx == 0:  # the wall behind the start line
        behind = -((row[st.X] - centre[k, 0]) * tangent[k, 0] + (row[st.Z] - centre[k, 2]) * tangent[k, 1])
        if behind > START_BACK_WALL_M:
            row[st.X] += (behind - START_BACK_WALL_M) * tangent[k, 0]
            row[st.Z] += (behind - START_BACK_WALL_M) * tangent[k, 1]
            v_back = -(row[st.VX] * tangent[k, 0] + row[st.VZ] * tangent[k, 1])
            if v_back > 0:
                row[st.VX] += v_back * tangent[k, 0]
                row[st.VZ] += v_back * tangent[k, 1]
            row[st.WALL] += 1.0

    s = progress_along(centre, tangent, off, idx, row[st.X], row[st.Z])
    row[st.S] = s
    along = row[st.VX] * tangent[k, 0] + row[st.VZ] * tangent[k, 1]
    row[st.Y] = centre[k, 1] + slope[k] * (s - idx * POINT_SPACING_M)
    row[st.VY] = slope[k] * along
    row[st.PITCH] = math.atan(slope[k] * (fx * tangent[k, 0] + fz * tangent[k, 1]))
    row[st.SLIDING] = 1.0 if sliding else 0.0
    _gear_and_rpm(row, v_long, gear_speeds, p)

    row[st.RACE_TICKS] += 1.0
    row[st.TICKS_SINCE_BEST] += 1.0
    if s >= row[st.S_BEST] + POINT_SPACING_M:
        row[st.S_BEST] = s
        row[st.TICKS_SINCE_BEST] = 0.0
    while row[st.NEXT_CP] < cps.shape[0] and s >= cps[int(row[st.NEXT_CP])]:
        row[st.NEXT_CP] += 1.0
    if idx == n - 1 and s >= (n - 1) * POINT_SPACING_M:
        row[st.FINISHED] = 1.0


@njit(cache=True)
def advance_cars(
    state: np.ndarray,
    track_id: np.ndarray,
    keys: np.ndarray,
    centre: np.ndarray,
    tangent: np.ndarray,
    slope: np.ndarray,
    width_left: np.ndarray,
    width_right: np.ndarray,
    offset: np.ndarray,
    count: np.ndarray,
    checkpoints: np.ndarray,
    checkpoint_offset: np.ndarray,
    gear_speeds: np.ndarray,
    p: PhysicsParams,
) -> None:
    """Advance every car through ``keys`` (n_cars, n_ticks, 4) of [accel, brake, left, right] presses.

    A car stops at the tick it crosses the finish (its race time is then exact to the tick); finished cars do
    not move. ``state[:, WALL]`` counts the ticks spent touching a wall during this call.
    """
    for c in range(state.shape[0]):
        row = state[c]
        row[st.WALL] = 0.0
        t = track_id[c]
        cps = checkpoints[checkpoint_offset[t] : checkpoint_offset[t + 1]]
        for j in range(keys.shape[1]):
            if row[st.FINISHED] != 0.0:
                break
            _tick(
                row,
                keys[c, j],
                centre,
                tangent,
                slope,
                width_left,
                width_right,
                offset[t],
                count[t],
                cps,
                gear_speeds,
                p,
            )


def advance_pack(
    state: np.ndarray,
    track_id: np.ndarray,
    keys: np.ndarray,
    pack: TrackPack,
    gear_speeds: np.ndarray,
    params: PhysicsParams,
) -> None:
    """``advance_cars`` on the tracks of ``pack``."""
    advance_cars(
        state,
        track_id,
        keys,
        pack.centre,
        pack.tangent,
        pack.slope,
        pack.width_left,
        pack.width_right,
        pack.offset,
        pack.count,
        pack.checkpoints,
        pack.checkpoint_offset,
        gear_speeds,
        params,
    )


def reset_car(row: np.ndarray, pack: TrackPack, track_id: int, lateral_m: float = 0.0, yaw_offset: float = 0.0) -> None:
    """Put a car at standstill on the start of its track, optionally shifted right by ``lateral_m``."""
    place_car(row, pack, track_id, 0.0, lateral_m, yaw_offset)


def place_car(
    row: np.ndarray,
    pack: TrackPack,
    track_id: int,
    s_m: float,
    lateral_m: float = 0.0,
    yaw_offset: float = 0.0,
    speed: float = 0.0,
) -> None:
    """Put a car ``s_m`` metres along its track (snapped to a line point), shifted right by ``lateral_m``, heading
    along the line (plus ``yaw_offset``) at ``speed``; the race clock starts at 0 there, and the checkpoints
    behind it count as passed."""
    track = pack.tracks[track_id]
    i = min(max(round(s_m / POINT_SPACING_M), 0), track.n_points - 1)
    tx, tz = track.tangent[i]
    row[:] = 0.0
    nx, nz = tz, -tx  # right of the line
    row[st.X] = track.centre[i, 0] + lateral_m * nx
    row[st.Y] = track.centre[i, 1]
    row[st.Z] = track.centre[i, 2] + lateral_m * nz
    row[st.YAW] = math.atan2(tx, tz) + yaw_offset
    row[st.VX], row[st.VZ] = speed * math.sin(row[st.YAW]), speed * math.cos(row[st.YAW])
    row[st.IDX] = i
    row[st.S] = row[st.S_BEST] = i * POINT_SPACING_M
    row[st.NEXT_CP] = float(np.count_nonzero(track.checkpoints <= row[st.S]))
    row[st.GEAR] = 1.0
