"""The racing-line driver: the expert's line tracking, improved by a look-ahead search over the 12 actions.

Each 50 ms step, the driver tries every one of the 12 actions held for the step, and (unless
``held_actions_only``) the tracker's own per-tick inputs, each followed by the tracker for ``horizon_s``, all on
copies of the car in the simulator's own physics; it keeps the start that is furthest along the line at the
horizon (or finishes first). With the tracker among the candidates, the search never drives worse than it over
the horizon; without it, every step holds one action, as an agent's does. What the search finds that the tracker
cannot (a later brake, a throttle held through a slide) is what a learner could find too, which is why the
driver's lap, not the line's planned time, is the map's limit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hairpin.actions import ACTION_KEYS
from hairpin.config.sim import ExpertConfig, PhysicsConfig
from hairpin.sim import state as st
from hairpin.sim.expert import Expert, TrackingGains, _decide
from hairpin.sim.physics import PhysicsParams, _tick
from hairpin.sim.track import Track

__all__ = ["LineDriver"]


@njit(cache=True)
def _rollout_score(
    car: np.ndarray,
    horizon_ticks: int,
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
) -> float:
    """Drive ``car`` (modified) with the tracker for ``horizon_ticks``; metres along the line, more for finishing."""
    n = centre.shape[0]
    keys = np.zeros(4, np.int8)
    for t in range(horizon_ticks):
        if car[st.FINISHED] != 0.0:
            return car[st.S] + 1000.0 * (horizon_ticks - t)  # each tick saved outweighs any distance
        _decide(car, centre, tangent, n, profile, line_offset, gains, keys)
        _tick(car, keys, centre, tangent, slope, width_left, width_right, 0, n, cps, gear_speeds, p)
    if car[st.FINISHED] != 0.0:
        return car[st.S] + 1000.0
    return car[st.S]


@njit(cache=True, nogil=True)
def _search(
    row: np.ndarray,
    n_ticks: int,
    horizon_ticks: int,
    action_keys: np.ndarray,
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
    with_tracker: bool,
    out: np.ndarray,
) -> None:
    """Write into ``out`` (n_ticks, 4) the best start among the held actions and, ``with_tracker``, the tracker's own
    inputs."""
    n = centre.shape[0]
    n_actions = action_keys.shape[0]
    best_score = -1e300
    best = -1
    tracked = np.zeros((n_ticks, 4), np.int8)
    for c in range(n_actions + 1 if with_tracker else n_actions):
        car = row.copy()
        for t in range(n_ticks):
            if c == n_actions:
                _decide(car, centre, tangent, n, profile, line_offset, gains, tracked[t])
                keys = tracked[t]
            else:
                keys = action_keys[c]
            if car[st.FINISHED] == 0.0:
                _tick(car, keys, centre, tangent, slope, width_left, width_right, 0, n, cps, gear_speeds, p)
        score = _rollout_score(
            car, horizon_ticks, centre, tangent, slope, width_left, width_right, cps, gear_speeds, p,
            profile, line_offset, gains,
        )  # fmt: skip
        if score > best_score + 1e-9:
            best_score, best = score, c
    for t in range(n_ticks):
        out[t] = tracked[t] if best == n_actions else action_keys[best]


class LineDriver:
    """Drives a racing line: an ``Expert`` on the line (its style and noise), each step improved by ``_search``."""

    def __init__(
        self,
        track: Track,
        physics: PhysicsConfig,
        line: tuple[np.ndarray, np.ndarray],
        cfg: ExpertConfig | None = None,
        horizon_s: float = 2.0,
        held_actions_only: bool = False,
    ) -> None:
        """``line``: (speed, offset) per reference-line point; ``horizon_s``: how far each candidate is played out;
        ``held_actions_only``: leave out the tracker's per-tick inputs, so every step holds one of the 12 actions."""
        self.tracker = Expert(track, physics, cfg, line=line)
        self.horizon_ticks = max(round(horizon_s / physics.tick_s), 1)
        self.with_tracker = not held_actions_only
        self._keys = np.ascontiguousarray(ACTION_KEYS)

    @property
    def track(self) -> Track:
        return self.tracker.track

    def reset(self, rng: np.random.Generator) -> None:
        self.tracker.reset(rng)

    def plan(self, row: np.ndarray, n_ticks: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """Keys (n_ticks, 4) int8 for the car in state ``row``."""
        tracker, t, cfg = self.tracker, self.tracker.track, self.tracker.cfg
        keys = np.zeros((n_ticks, 4), np.int8)
        _search(
            row,
            n_ticks,
            self.horizon_ticks,
            self._keys,
            t.centre,
            t.tangent,
            t.slope,
            t.width_left,
            t.width_right,
            t.checkpoints,
            tracker.gear_speeds,
            tracker.params,
            tracker.style.profile,
            tracker.style.line_offset,
            TrackingGains(tracker.style.lookahead_s, cfg.lookahead_min_m, cfg.speed_margin, cfg.yaw_rate_band),
            self.with_tracker,
            keys,
        )
        if rng is not None and cfg.noise > 0:
            tracker.add_mistakes(keys, rng)
        return keys
