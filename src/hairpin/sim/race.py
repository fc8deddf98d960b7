"""A batch of simulated races: physics, progress, reward, cut-offs and observations for N cars at once.

``RaceEnv`` (one car) and ``RaceVectorEnv`` (N cars) are thin Gymnasium faces of this class, so both share one
implementation of the environment contract (DESIGN §3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from hairpin.actions import ACTION_KEYS, N_ACTIONS
from hairpin.config.sim import EnvConfig
from hairpin.obs import FloatLayout
from hairpin.sim import state as st
from hairpin.sim.maps import load_map
from hairpin.sim.physics import _gear_and_rpm, advance_pack, physics_params, place_car
from hairpin.sim.render import Renderer
from hairpin.sim.sensors import sim_floats
from hairpin.sim.track import Track, TrackPack

__all__ = ["RaceSim", "StartPlace", "StepResult", "float_layout", "reference_offsets", "time_limit_s"]


def float_layout(cfg: EnvConfig) -> FloatLayout:
    """The float layout an environment config produces."""
    return FloatLayout(
        n_prev_actions=cfg.n_prev_actions,
        n_ref_points=cfg.n_ref_points,
        ref_point_spacing_m=cfg.ref_point_spacing_m,
        finish_distance_cap_m=cfg.finish_distance_cap_m,
        reference_line=cfg.reference_line,
    )


def time_limit_s(cfg: EnvConfig, track: Track) -> float:
    """Race time after which an unfinished race is cut off."""
    return cfg.time_limit_s if cfg.time_limit_s is not None else 20.0 + track.length_m / 8.0


def reference_offsets(pack: TrackPack, cfg: EnvConfig) -> np.ndarray:
    """Per point of ``pack`` (M,), how far right of the centre line the floats' reference points lie: zeros for
    ``env.reference_line: centre``, each map's racing line for ``racing``."""
    lateral = np.zeros(len(pack.centre))
    if cfg.reference_line == "racing":
        from hairpin.sim.racing_line import racing_line  # it drives races of its own, on the centre line

        centre_env = cfg.model_copy(update={"reference_line": "centre"})
        for track, start, n in zip(pack.tracks, pack.offset, pack.count, strict=True):
            lateral[start : start + n] = racing_line(track, centre_env).offset
    return lateral


class StartPlace(NamedTuple):
    """Where a race starts other than on the start line: metres along the line, metres right of it, speed (m/s)."""

    s_m: float
    lateral_m: float = 0.0
    speed: float = 0.0


class StepResult(NamedTuple):
    """Per-car outcome of one step."""

    reward: np.ndarray  # (n,) float64
    terminated: np.ndarray  # (n,) bool: crossed the finish
    truncated: np.ndarray  # (n,) bool: cut off (no progress, time limit)
    finished_now: np.ndarray  # (n,) bool: crossed the finish during this step
    stalled: np.ndarray  # (n,) bool: cut off for lack of progress (a subset of truncated)


class RaceSim:
    """N cars, each on one of ``maps``; observations live in preallocated buffers ``image`` and ``floats``.

    ``maps`` is one map for every car or one per car; with ``car_tracks``, it is a list of distinct maps and
    ``car_tracks[c]`` the one car ``c`` starts on (``assign_track`` moves a car to another before a reset).
    """

    def __init__(
        self,
        cfg: EnvConfig,
        maps: Sequence[str | Track] | None = None,
        n_cars: int = 1,
        car_tracks: Sequence[int] | None = None,
    ) -> None:
        maps = list(maps) if maps is not None else [cfg.map]
        if car_tracks is None and len(maps) not in (1, n_cars):
            raise ValueError(f"give one map or one per car: {len(maps)} maps for {n_cars} cars")
        self.cfg = cfg
        self.n_cars = n_cars
        tracks, self.track_id = self._unique_tracks(maps, n_cars, cfg.road_half_width_m)
        if car_tracks is not None:
            if len(car_tracks) != n_cars or not all(0 <= t < len(maps) for t in car_tracks):
                raise ValueError(f"car_tracks must give each of {n_cars} cars an index into {len(maps)} maps")
            self.track_id = np.array([self.track_id[t] for t in car_tracks], np.int64)
        self.pack = TrackPack.build(tracks)
        self.ref_lateral = reference_offsets(self.pack, cfg)
        self.layout = float_layout(cfg)
        self.params, self.gear_speeds = physics_params(cfg.physics)
        self.renderer = Renderer(self.pack, cfg.camera, cfg.image_size)
        self.limit_ticks_of_track = np.array([time_limit_s(cfg, t) / cfg.physics.tick_s for t in tracks])
        self.no_progress_ticks = cfg.no_progress_cutoff_s / cfg.physics.tick_s
        self.state = np.zeros((n_cars, st.N_STATE), np.float64)
        self.prev_keys = np.zeros((n_cars, cfg.n_prev_actions, 4), np.float64)
        self.image = np.zeros((n_cars, 1, cfg.image_size, cfg.image_size), np.uint8)
        self.floats = np.zeros((n_cars, self.layout.size), np.float32)
        self._keys = np.zeros((n_cars, cfg.physics.ticks_per_step, 4), np.int8)
        r = cfg.reward
        self._reward_per_tick = r.per_ms * cfg.physics.tick_s * 1000.0
        self._wall_reward_per_tick = r.per_wall_contact_s * cfg.physics.tick_s

    @staticmethod
    def _unique_tracks(
        maps: list[str | Track], n_cars: int, half_width: float | None
    ) -> tuple[list[Track], np.ndarray]:
        """Each distinct map once, and the index of every car's map among them."""
        loaded: dict[int | str, Track] = {}
        for m in maps:
            key = id(m) if isinstance(m, Track) else m
            if key not in loaded:
                loaded[key] = m if isinstance(m, Track) else load_map(m, half_width=half_width)
        keys = list(loaded)
        ids = [keys.index(id(m) if isinstance(m, Track) else m) for m in maps]
        return list(loaded.values()), np.array(ids * n_cars if len(ids) == 1 else ids, np.int64)

    def track_of(self, car: int) -> Track:
        return self.pack.tracks[int(self.track_id[car])]

    def assign_track(self, car: int, track_index: int) -> None:
        """Move ``car`` to track ``track_index`` of the pack; it takes effect at its next reset."""
        self.track_id[car] = track_index

    def reset_cars(
        self,
        cars: np.ndarray | Sequence[int],
        rng: np.random.Generator,
        places: Sequence[StartPlace | None] | None = None,
    ) -> None:
        """Put the given cars back on their start lines (with the configured start noise), or, where ``places``
        (one per car) gives one, at that place along the line with the race clock at 0."""
        noise = self.cfg.start_noise
        for k, c in enumerate(cars):
            lateral = rng.uniform(-2.0, 2.0) * noise if noise else 0.0
            yaw = rng.uniform(-0.1, 0.1) * noise if noise else 0.0
            place = places[k] if places is not None else None
            row = self.state[c]
            if place is None:
                place_car(row, self.pack, int(self.track_id[c]), 0.0, lateral, yaw)
            else:
                place_car(row, self.pack, int(self.track_id[c]), place.s_m, place.lateral_m + lateral, yaw, place.speed)
                _gear_and_rpm(row, place.speed, self.gear_speeds, self.params)
            self.prev_keys[c] = 0.0
        self.observe(cars)

    def step(self, actions: np.ndarray) -> StepResult:
        """Hold each car's action for one step (5 ticks); return rewards and episode ends."""
        actions = np.asarray(actions)
        if actions.shape != (self.n_cars,):
            raise ValueError(f"expected {self.n_cars} actions, got shape {actions.shape}")
        if not np.issubdtype(actions.dtype, np.integer) or actions.min() < 0 or actions.max() >= N_ACTIONS:
            raise ValueError(f"actions must be integers in [0, {N_ACTIONS}), got {actions.tolist()}")
        keys = ACTION_KEYS[actions]
        self._keys[:] = keys[:, None, :]
        return self.step_ticks(self._keys, keys)

    def step_ticks(self, tick_keys: np.ndarray, last_keys: np.ndarray | None = None) -> StepResult:
        """Advance every car through per-tick key presses (n, ticks, 4); ``last_keys`` (n, 4) go into history."""
        s = self.state
        before_s, before_ticks, was_finished = s[:, st.S].copy(), s[:, st.RACE_TICKS].copy(), s[:, st.FINISHED] > 0
        advance_pack(s, self.track_id, tick_keys, self.pack, self.gear_speeds, self.params)
        r = self.cfg.reward
        terminated = s[:, st.FINISHED] > 0
        finished_now = terminated & ~was_finished
        reward = (
            self._reward_per_tick * (s[:, st.RACE_TICKS] - before_ticks)
            + r.per_m_advanced * (s[:, st.S] - before_s)
            + self._wall_reward_per_tick * s[:, st.WALL]
            + r.finish_bonus * finished_now
        )
        stalled = ~terminated & (s[:, st.TICKS_SINCE_BEST] >= self.no_progress_ticks)
        truncated = stalled | (~terminated & (s[:, st.RACE_TICKS] >= self.limit_ticks_of_track[self.track_id]))
        if self.cfg.n_prev_actions:
            self.prev_keys[:, :-1] = self.prev_keys[:, 1:]
            self.prev_keys[:, -1] = tick_keys[:, -1] if last_keys is None else last_keys
        self.observe()
        return StepResult(reward, terminated, truncated, finished_now, stalled)

    def observe(self, cars: np.ndarray | Sequence[int] | None = None) -> None:
        """Refresh the image and float buffers (of all cars, or only ``cars``)."""
        pk = self.pack
        if cars is None:
            state, track_id, prev_keys = self.state, self.track_id, self.prev_keys
            floats, image = self.floats, self.image
        else:
            idx = np.asarray(cars, np.int64)
            state, track_id, prev_keys = self.state[idx], self.track_id[idx], self.prev_keys[idx]
            floats, image = np.empty((len(idx), self.layout.size), np.float32), None
        sim_floats(
            state,
            track_id,
            prev_keys,
            pk.centre,
            pk.tangent,
            self.ref_lateral,
            pk.offset,
            pk.count,
            self.layout.n_ref_points,
            self.layout.ref_point_spacing_m,
            self.layout.finish_distance_cap_m,
            floats,
        )
        if cars is None:
            self.renderer.gray(track_id, state, out=image)
        else:
            self.floats[idx] = floats
            self.image[idx] = self.renderer.gray(track_id, state)

    def infos(self) -> dict[str, np.ndarray]:
        """The per-race facts of DESIGN §3 for every car, as arrays (n,)."""
        s = self.state
        return {
            "race_time_ms": np.rint(s[:, st.RACE_TICKS] * self.cfg.physics.tick_s * 1000.0).astype(np.int64),
            "finished": s[:, st.FINISHED] > 0,
            "meters_advanced": s[:, st.S].copy(),
            "zone_idx": s[:, st.IDX].astype(np.int64),
            "checkpoints": s[:, st.NEXT_CP].astype(np.int64),
            "speed": np.hypot(s[:, st.VX], s[:, st.VZ]),
        }

    def info(self, car: int) -> dict[str, float | int | bool]:
        """The per-race facts of one car, as Python scalars."""
        return {k: v[car].item() for k, v in self.infos().items()}

    def render_rgb(self, car: int = 0, size: int | None = None) -> np.ndarray:
        """Human view (S, S, 3) uint8 of one car."""
        return self.renderer.rgb(self.track_id[car : car + 1], self.state[car : car + 1], size or self.cfg.human_size)[
            0
        ]
