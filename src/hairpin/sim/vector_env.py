"""N simulated cars in one process, with batched physics and rendering, as a ``gymnasium.vector.VectorEnv``.

Episodes reset automatically in the same step (``AutoresetMode.SAME_STEP``): when a car's race ends, the
returned observation is already its next race's first one, and ``infos["final_obs"]`` / ``infos["final_info"]``
hold the last observation and facts of the race that ended (masked by ``infos["_final_obs"]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from hairpin.actions import N_ACTIONS
from hairpin.config.sim import EnvConfig
from hairpin.sim.env import make_config, observation_space
from hairpin.sim.race import RaceSim

__all__ = ["RaceVectorEnv"]


class RaceVectorEnv(VectorEnv):
    """``num_envs`` cars; ``maps`` is one map for all or one map per car. Keyword overrides as ``RaceEnv``."""

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        num_envs: int,
        maps: str | Sequence[str] | None = None,
        config: EnvConfig | None = None,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        cfg = make_config(config, overrides)
        map_list = [cfg.map] if maps is None else [maps] if isinstance(maps, str) else list(maps)
        self.cfg = cfg
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.sim = RaceSim(cfg, map_list, n_cars=num_envs)
        self.single_observation_space = observation_space(cfg, self.sim.layout.size)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.single_action_space = spaces.Discrete(N_ACTIONS)
        self.action_space = spaces.MultiDiscrete(np.full(num_envs, N_ACTIONS))

    def _obs(self) -> dict[str, np.ndarray]:
        return {"image": self.sim.image.copy(), "floats": self.sim.floats.copy()}

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if options:
            raise ValueError(f"RaceVectorEnv.reset takes no options, got {sorted(options)}")
        if isinstance(seed, list):
            seed = seed[0]
        if seed is not None or self._np_random is None:
            self._np_random = np.random.default_rng(seed)
            self._np_random_seed = seed
        self.sim.reset_cars(np.arange(self.num_envs), self._np_random)
        return self._obs(), dict(self.sim.infos())

    def step(
        self, actions: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        result = self.sim.step(np.asarray(actions))
        infos: dict[str, Any] = dict(self.sim.infos())
        done = result.terminated | result.truncated
        if done.any():
            ended = np.flatnonzero(done)
            final_obs = self._obs()
            self.sim.reset_cars(ended, self._np_random)  # type: ignore[arg-type]
            infos = {**self.sim.infos(), "final_obs": final_obs, "final_info": infos}
            infos["_final_obs"] = infos["_final_info"] = done
        return self._obs(), result.reward, result.terminated, result.truncated, infos

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        if self.render_mode != "rgb_array":
            return None
        return np.stack([self.sim.render_rgb(c) for c in range(self.num_envs)])
