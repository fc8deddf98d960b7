"""The drivers a demo or a lap can be driven by, chosen by name: ``expert`` (the centre line at a steady pace) and
``line`` (the map's racing line, the limit)."""

from __future__ import annotations

from typing import Literal

from hairpin.config.sim import EnvConfig, ExpertConfig, RacingLineConfig
from hairpin.sim.expert import Driver, Expert
from hairpin.sim.track import Track

__all__ = ["DRIVER_NAMES", "DriverName", "make_driver"]

DriverName = Literal["expert", "line"]
DRIVER_NAMES: tuple[DriverName, ...] = ("expert", "line")


def make_driver(
    name: DriverName,
    track: Track,
    env: EnvConfig,
    expert: ExpertConfig | None = None,
    racing_line: RacingLineConfig | None = None,
) -> Driver:
    """The driver ``name`` on ``track``; ``expert`` sets the tracking gains and the noise of both."""
    if name == "expert":
        return Expert(track, env.physics, expert)
    if name == "line":
        from hairpin.sim.racing_line import line_driver
        from hairpin.sim.racing_line import racing_line as compute_line

        line = compute_line(track, env, racing_line, expert)
        return line_driver(track, env.physics, line, expert, racing_line)
    raise ValueError(f"unknown driver {name!r}: expected one of {', '.join(DRIVER_NAMES)}")
