"""``hairpin/Race-v0``: one car on one map of the built-in simulator, behind the Gymnasium API."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hairpin.actions import N_ACTIONS, check_action
from hairpin.config.sim import EnvConfig
from hairpin.sim.race import RaceSim
from hairpin.sim.track import Track

__all__ = ["OneCarEnv", "RaceEnv", "observation_space"]


def observation_space(cfg: EnvConfig, n_floats: int) -> spaces.Dict:
    """Dict(image=(1, H, W) uint8, floats=(F,) float32) of one car."""
    size = cfg.image_size
    return spaces.Dict(
        {
            "image": spaces.Box(0, 255, (1, size, size), np.uint8),
            "floats": spaces.Box(-np.inf, np.inf, (n_floats,), np.float32),
        }
    )


def make_config(config: EnvConfig | None, overrides: dict[str, Any]) -> EnvConfig:
    """An EnvConfig from a base config and keyword overrides (validated: unknown keys are errors)."""
    base = (config or EnvConfig()).model_dump()
    base.update(overrides)
    return EnvConfig.model_validate(base)


class OneCarEnv(gym.Env):  # type: ignore[type-arg]
    """Race-v0's contract over one car of a race with ``RaceSim``'s interface (``race``): the simulator's here, the
    game's in ``hairpin.game.env``. Subclasses build ``race`` and say how the car moves to another map."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    race: Any

    def _switch_map(self, name: str) -> None:
        raise NotImplementedError

    @property
    def track(self) -> Track:
        """The map the car races on."""
        return self.race.track_of(0)

    def _obs(self) -> dict[str, np.ndarray]:
        return {"image": self.race.image[0].copy(), "floats": self.race.floats[0].copy()}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        if options:
            unknown = set(options) - {"map"}
            if unknown:
                raise ValueError(f"unknown reset option(s) {sorted(unknown)}; known: ['map']")
            self._switch_map(options["map"])
        self.race.reset_cars([0], self.np_random)
        return self._obs(), self.race.info(0)

    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        a = check_action(action)
        result = self.race.step(np.array([a]))
        return (
            self._obs(),
            float(result.reward[0]),
            bool(result.terminated[0]),
            bool(result.truncated[0]),
            self.race.info(0),
        )


class RaceEnv(OneCarEnv):
    """A race against the clock: 12 discrete actions, each held for 50 ms; episode ends at the finish.

    Keyword arguments are ``EnvConfig`` fields (``map``, ``image_size``, ``reward``, ``no_progress_cutoff_s``,
    ``time_limit_s``, ...). ``reset(options={"map": NAME})`` moves the car to another map.
    """

    def __init__(self, config: EnvConfig | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self._build(make_config(config, overrides))
        self.action_space = spaces.Discrete(N_ACTIONS)

    def _build(self, cfg: EnvConfig) -> None:
        self.cfg = cfg
        self.sim = RaceSim(cfg)
        self.observation_space = observation_space(cfg, self.sim.layout.size)
        self.metadata = {**self.metadata, "render_fps": round(1.0 / (cfg.physics.tick_s * cfg.physics.ticks_per_step))}

    @property
    def race(self) -> RaceSim:  # type: ignore[override]
        return self.sim

    def _switch_map(self, name: str) -> None:
        if name != self.cfg.map:
            self._build(make_config(self.cfg, {"map": name}))

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        if self.render_mode != "rgb_array":
            return None
        return self.sim.render_rgb(0)
