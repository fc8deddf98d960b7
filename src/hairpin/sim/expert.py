"""The expert driver: a speed profile planned from the line's curvature and the car's grip, tracked through the
same 12 discrete actions an agent has. Its lap time is a map's reference time.

Speed: the fastest speed each point allows (``sqrt(grip × grip_use / |curvature|)``), lowered by a backward pass
so that every turn can be reached under ``brake_use`` of the brakes. Steering: pure pursuit towards the line a
short time ahead, as a yaw rate, held by bang-bang steering on the yaw-rate error. The expert may change inputs
every 10 ms tick, as a person does; each decision is made on a copy of the car, so the plan of one step replays
exactly in the simulator.

``noise`` makes it drive like a varied set of human replays: per race, a more or less cautious grip use, a
different look-ahead and a line that wanders across the road; within a race, the occasional wrong input held
for a moment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np
from numba import njit

from hairpin.config.sim import EnvConfig, ExpertConfig, PhysicsConfig
from hairpin.sim import state as st
from hairpin.sim.physics import ACCEL, BRAKE, LEFT, RIGHT, PhysicsParams, _tick, physics_params
from hairpin.sim.race import RaceSim
from hairpin.sim.refline import POINT_SPACING_M
from hairpin.sim.track import Track

__all__ = ["Driver", "Expert", "LapResult", "drive_lap", "reference_lap", "speed_profile"]

TOP_SPEED = 90.0
"""Upper bound of the planned speed; the car's drag limits it to about 80 m/s anyway."""


class TrackingGains(NamedTuple):
    """How the expert tracks the line and the speed profile."""

    lookahead_s: float  # pure-pursuit look-ahead time
    lookahead_min: float  # shortest look-ahead distance (m)
    margin: float  # coast within this many m/s above the target speed; brake above
    band: float  # yaw-rate error (rad/s) left unsteered


def speed_profile(track: Track, physics: PhysicsConfig, grip_use: float, brake_use: float) -> np.ndarray:
    """Planned speed (N,) in m/s at each line point."""
    curvature = np.abs(track.curvature)
    v = np.minimum(np.sqrt(physics.grip * grip_use / np.maximum(curvature, 1e-9)), TOP_SPEED)
    decel = physics.brake_accel * brake_use
    for i in range(len(v) - 2, -1, -1):
        v[i] = min(v[i], math.sqrt(v[i + 1] ** 2 + 2.0 * decel * POINT_SPACING_M))
    return v


@njit(cache=True)
def _decide(
    row: np.ndarray,
    centre: np.ndarray,
    tangent: np.ndarray,
    n: int,
    profile: np.ndarray,
    line_offset: np.ndarray,
    gains: TrackingGains,
    out: np.ndarray,
) -> None:
    """Keys [accel, brake, left, right] for the car in ``row`` now."""
    lookahead_s, lookahead_min, margin, band = gains
    yaw = row[st.YAW]
    fx, fz = math.sin(yaw), math.cos(yaw)
    v = row[st.VX] * fx + row[st.VZ] * fz
    s = row[st.S]
    ahead = max(lookahead_min, lookahead_s * abs(v))
    j = min(int((s + ahead) / POINT_SPACING_M), n - 1)
    i = min(max(int(s / POINT_SPACING_M), 0), n - 1)
    tx, tz = tangent[j, 0], tangent[j, 1]
    gx = centre[j, 0] + line_offset[j] * tz - row[st.X]
    gz = centre[j, 2] - line_offset[j] * tx - row[st.Z]
    lateral = gx * fz - gz * fx  # right of the car
    forward = gx * fx + gz * fz
    alpha = math.atan2(lateral, max(forward, 1e-3))
    wanted = 2.0 * max(abs(v), 1.0) * math.sin(alpha) / max(ahead, 1e-3)
    error = wanted - row[st.YAW_RATE]
    out[:] = 0
    if error > band:
        out[RIGHT] = 1
    elif error < -band:
        out[LEFT] = 1
    target = profile[i]
    if v > target + margin:
        out[BRAKE] = 1
    elif v < target:
        out[ACCEL] = 1


@njit(cache=True)
def _plan(
    row: np.ndarray,
    n_ticks: int,
    every_tick: bool,
    centre: np.ndarray,
    tangent: np.ndarray,
    slope: np.ndarray,
    width_left: np.ndarray,
    width_right: np.ndarray,
    cps: np.ndarray,
    gear_speeds: np.ndarray,
    p: PhysicsParams,
    profile: np.ndarray,
    line_offset: np.ndarray,
    gains: TrackingGains,
    out: np.ndarray,
) -> None:
    """Decide ``n_ticks`` of keys (n_ticks, 4) by driving a copy of the car."""
    car = row.copy()
    n = centre.shape[0]
    for t in range(n_ticks):
        if t == 0 or every_tick:
            _decide(car, centre, tangent, n, profile, line_offset, gains, out[t])
        else:
            out[t] = out[t - 1]
        if car[st.FINISHED] == 0.0:
            _tick(car, out[t], centre, tangent, slope, width_left, width_right, 0, n, cps, gear_speeds, p)


@dataclass
class _RaceStyle:
    """How one race of a noisy expert differs from the precise one."""

    profile: np.ndarray
    line_offset: np.ndarray
    lookahead_s: float


class Expert:
    """Drives one car of a ``RaceSim`` around its track; ``plan`` gives the next step's per-tick keys."""

    def __init__(
        self,
        track: Track,
        physics: PhysicsConfig,
        cfg: ExpertConfig | None = None,
        line: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """``line``: (speed, offset) per line point to drive instead of the centre line at the planned speed."""
        self.track = track
        self.cfg = cfg or ExpertConfig()
        self.physics = physics
        self.params, self.gear_speeds = physics_params(physics)
        if line is None:
            self._base_profile = speed_profile(track, physics, self.cfg.grip_use, self.cfg.brake_use)
            self._base_offset = np.zeros(track.n_points)
        else:
            self._base_profile, self._base_offset = (np.asarray(a, np.float64) for a in line)
        self._follows_line = line is not None
        self._mistake_keys = np.zeros(4, np.int8)
        self._mistake_left = 0
        self.style = _RaceStyle(self._base_profile, self._base_offset, self.cfg.lookahead_s)

    def reset(self, rng: np.random.Generator) -> None:
        """Draw this race's driving style (only ``noise`` > 0 varies it)."""
        noise = self.cfg.noise
        self._mistake_left = 0
        if noise == 0:
            self.style = _RaceStyle(self._base_profile, self._base_offset, self.cfg.lookahead_s)
            return
        caution = rng.uniform(1.0 - 0.3 * noise, 1.0)
        if self._follows_line:
            profile = self._base_profile * math.sqrt(caution)  # corner speeds scale with the root of the grip
        else:
            profile = speed_profile(self.track, self.physics, self.cfg.grip_use * caution, self.cfg.brake_use)
        s = np.arange(self.track.n_points) * POINT_SPACING_M
        wander = sum(
            rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * s / rng.uniform(60.0, 400.0) + rng.uniform(0, 2 * np.pi))
            for _ in range(3)
        )
        keep = 2.0 * self.physics.car_half_width_m
        if self._follows_line:
            lo, hi = -np.maximum(self.track.width_left - keep, 0.0), np.maximum(self.track.width_right - keep, 0.0)
        else:
            hi = np.minimum(self.track.width_left, self.track.width_right) - keep
            lo = -hi
        line_offset = np.clip(self._base_offset + wander * 1.5 * noise, lo, hi)
        self.style = _RaceStyle(
            profile, line_offset, self.cfg.lookahead_s * rng.uniform(1.0 - 0.2 * noise, 1.0 + 0.4 * noise)
        )

    def plan(self, row: np.ndarray, n_ticks: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """Keys (n_ticks, 4) int8 for the car in state ``row``."""
        keys = np.zeros((n_ticks, 4), np.int8)
        t = self.track
        cfg = self.cfg
        _plan(
            row,
            n_ticks,
            cfg.decide_every_tick,
            t.centre,
            t.tangent,
            t.slope,
            t.width_left,
            t.width_right,
            t.checkpoints,
            self.gear_speeds,
            self.params,
            self.style.profile,
            self.style.line_offset,
            TrackingGains(self.style.lookahead_s, cfg.lookahead_min_m, cfg.speed_margin, cfg.yaw_rate_band),
            keys,
        )
        if rng is not None and cfg.noise > 0:
            self.add_mistakes(keys, rng)
        return keys

    def add_mistakes(self, keys: np.ndarray, rng: np.random.Generator) -> None:
        """Now and then hold a wrong input for 50–250 ms, as a person does."""
        for t in range(len(keys)):
            if self._mistake_left == 0 and rng.random() < 0.004 * self.cfg.noise:
                self._mistake_left = int(rng.integers(5, 26))
                self._mistake_keys = rng.integers(0, 2, 4).astype(np.int8)
            if self._mistake_left > 0:
                keys[t] = self._mistake_keys
                self._mistake_left -= 1


class Driver(Protocol):
    """What drives a car of a ``RaceSim``: the centre-line ``Expert`` or the racing line's ``LineDriver``."""

    def reset(self, rng: np.random.Generator) -> None: ...

    def plan(self, row: np.ndarray, n_ticks: int, rng: np.random.Generator | None = None) -> np.ndarray: ...


@dataclass
class LapResult:
    """One expert race."""

    finished: bool
    race_time_ms: int
    path: np.ndarray
    """(steps + 1, 3) car positions, one per 50 ms step."""
    keys: np.ndarray
    """(ticks, 4) int8 inputs at 10 ms resolution."""


def drive_lap(sim: RaceSim, expert: Driver, seed: int = 0, on_step=None) -> LapResult:  # type: ignore[no-untyped-def]
    """Race car 0 of ``sim`` with ``expert`` until it finishes or is cut off; ``on_step(sim)`` each step."""
    rng = np.random.default_rng(seed)
    sim.reset_cars([0], rng)
    expert.reset(rng)
    ticks = sim.cfg.physics.ticks_per_step
    path, all_keys = [sim.state[0, [st.X, st.Y, st.Z]].copy()], []
    while True:
        keys = expert.plan(sim.state[0], ticks, rng)
        result = sim.step_ticks(keys[None], keys[-1][None])
        all_keys.append(keys)
        path.append(sim.state[0, [st.X, st.Y, st.Z]].copy())
        if on_step is not None:
            on_step(sim)
        if result.terminated[0] or result.truncated[0]:
            break
    info = sim.info(0)
    return LapResult(bool(info["finished"]), int(info["race_time_ms"]), np.array(path), np.concatenate(all_keys))


def reference_lap(track: Track, env: EnvConfig, cfg: ExpertConfig | None = None) -> LapResult:
    """The expert's precise lap on ``track`` (noise off): the map's reference time."""
    cfg = (cfg or ExpertConfig()).model_copy(update={"noise": 0.0})
    sim = RaceSim(env.model_copy(update={"start_noise": 0.0}), [track])
    return drive_lap(sim, Expert(track, env.physics, cfg))
