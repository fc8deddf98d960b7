"""hairpin: train racing agents for Trackmania-style games.

Importing the package registers the built-in simulator as the Gymnasium environment ``hairpin/Race-v0``, and the
real game (through TMInterface 2, or its emulator) as ``hairpin/Game-v0``.
"""

from __future__ import annotations

import gymnasium

from hairpin.version import __version__, code_version

__all__ = ["__version__", "code_version"]

if "hairpin/Race-v0" not in gymnasium.registry:
    gymnasium.register(id="hairpin/Race-v0", entry_point="hairpin.sim.env:RaceEnv")
if "hairpin/Game-v0" not in gymnasium.registry:
    gymnasium.register(id="hairpin/Game-v0", entry_point="hairpin.game.env:GameRaceEnv")
