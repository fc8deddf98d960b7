"""``hairpin/Game-v0``: one car in Trackmania (through TMInterface 2) or its emulator, behind the Gymnasium API.

The contract is ``hairpin/Race-v0``'s (DESIGN §3): 12 discrete actions held 50 ms each, observations
``{image (1, H, W) uint8, floats (F,) float32}``, the same reward, cut-offs and ``info`` keys. With
``game.launch.kind`` other than ``manual`` the env launches its game (an emulator by default) on the port and stops
an emulator it launched on ``close()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from hairpin.actions import N_ACTIONS
from hairpin.config.game import GameConfig
from hairpin.config.sim import EnvConfig
from hairpin.game.launcher import GameProcess
from hairpin.game.race import GameRace
from hairpin.sim.env import OneCarEnv, make_config, observation_space

__all__ = ["GameRaceEnv"]


class GameRaceEnv(OneCarEnv):
    """A race against the clock in the game: Race-v0's contract over ``GameRace``.

    Keyword arguments are ``EnvConfig`` fields (``map``, ``image_size``, ``reward``, ...). ``game``: the link and
    launch settings (default: an emulator launched on port 8478); ``port``: the game's port (default
    ``game.base_tmi_port``). ``frames=False`` skips the images (the observation's image stays black).
    ``reset(options={"map": NAME})`` moves the car to another map (with its ``game.maps`` entry, if any).
    """

    def __init__(
        self,
        config: EnvConfig | None = None,
        render_mode: str | None = None,
        *,
        game: GameConfig | None = None,
        port: int | None = None,
        frames: bool = True,
        **overrides: Any,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.cfg = make_config(config, {"backend": "game", **overrides})
        self.game = game or GameConfig()
        port = self.game.base_tmi_port if port is None else port
        self.process = None if self.game.launch.kind == "manual" else GameProcess(self.game, port, self.cfg)
        self.race = GameRace(self.cfg, self.game, port=port, frames=frames, process=self.process)
        self.action_space = spaces.Discrete(N_ACTIONS)
        self.observation_space = observation_space(self.cfg, self.race.layout.size)
        physics = self.cfg.physics
        self.metadata = {**self.metadata, "render_fps": round(1.0 / (physics.tick_s * physics.ticks_per_step))}

    def _switch_map(self, name: str) -> None:
        self.race.assign_track(0, self.race.add_map(name))

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        """The agent's last image as RGB (H, W, 3) uint8 (the game's own view is its window)."""
        if self.render_mode != "rgb_array":
            return None
        return np.repeat(self.race.image[0, 0][:, :, None], 3, axis=2)

    def close(self) -> None:
        self.race.close()
