"""The limit of each map of a run's map cycle (DESIGN §8): the lap every race is read against.

A map cycle entry's ``limit_ms`` wins (the best lap the user gives, as for a real-game map), then, with the game
backend, the game map's ``game.maps[MAP].limit_ms``; otherwise the limit is the built-in simulator's racing-line lap
(``hairpin.sim.racing_line``), computed once and cached by content (a real game's map without a given limit has
none; its emulator's is the sim's).
"""

from __future__ import annotations

from hairpin.config.rl import RLConfig

__all__ = ["map_limit", "map_limits", "ratio_to_limit"]


def map_limit(cfg: RLConfig, name: str) -> int | None:
    """The limit (ms) of a map-cycle short name, or of any built-in map or file; None when the line cannot finish."""
    from hairpin.sim.maps import load_map
    from hairpin.sim.racing_line import racing_line

    entries = [e for e in cfg.map_cycle.entries if e.short_name == name]
    given = [e.limit_ms for e in entries if e.limit_ms is not None]
    if cfg.env.backend == "game":  # the best lap the user gives for the game map (DESIGN §8)
        game_maps = [cfg.game.maps[e.map] for e in entries if e.map in cfg.game.maps]
        given += [m.limit_ms for m in game_maps if m.limit_ms is not None]
        if not given and cfg.game.launch.kind != "emulator":
            return None  # the simulator's racing line says nothing about a real game's map
    if given:
        return given[0]
    track = load_map(entries[0].map if entries else name, half_width=cfg.env.road_half_width_m)
    return racing_line(track, cfg.env).lap_ms


def map_limits(cfg: RLConfig) -> dict[str, int]:
    """Limit in ms per short name of the map cycle; maps whose racing line does not finish have none."""
    limits = {name: map_limit(cfg, name) for name in dict.fromkeys(e.short_name for e in cfg.map_cycle.entries)}
    return {name: limit for name, limit in limits.items() if limit is not None}


def ratio_to_limit(race_time_ms: float | None, limit_ms: float | None) -> float | None:
    """A lap as a multiple of the limit (1.05: 5% slower than the limit), None when either is missing."""
    if race_time_ms is None or not limit_ms:
        return None
    return race_time_ms / limit_ms
