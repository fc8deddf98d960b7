"""Human runs as demonstrations: TMInterface input scripts driven in the simulator, and laps written as scripts.

A script's keys are driven tick by tick from the start of its map (no start noise: the game has none), through
``replay.replay_actions``, the same path that replays RL best races, so a script's episode is recorded exactly as
every other demo: frames, floats, the action of every tick and step, race time, finish. Past the script's last
command its final keys stay held, as in the game, until the race ends (the finish, or a cut-off: no progress, the
time limit). The dataset's source is ``script``; ``hairpin pretrain bc`` reads it like any other.

The other way round, ``lap_script`` drives a lap with a driver (the centre-line expert or the racing line) through
``record.record_expert`` and writes its keys as a script: replayed, the script gives back the same episode, frame for
frame, since the keys the recorder plays are already one of the 12 actions at every tick.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from hairpin.actions import ACTION_KEYS
from hairpin.config.game import GameConfig
from hairpin.config.sim import DriveConfig, EnvConfig
from hairpin.data.episode import Episode
from hairpin.data.input_script import InputScript, InputScriptError, read_script, write_script
from hairpin.data.maps import DemoMap
from hairpin.data.meta import DatasetMeta
from hairpin.data.record import record_expert
from hairpin.data.replay import replay_actions
from hairpin.data.writer import DatasetWriter
from hairpin.sim.race import time_limit_s

__all__ = ["lap_script", "replay_script", "write_script_dataset"]


def _ticks_to_race_end(env: EnvConfig, demo_map: DemoMap) -> int:
    """Ticks enough for any race on the map to end: whole steps past its time limit."""
    ticks_per_step = env.physics.ticks_per_step
    steps = math.ceil(time_limit_s(env, demo_map.track) / (env.physics.tick_s * ticks_per_step)) + 1
    return steps * ticks_per_step


def replay_script(
    env: EnvConfig, demo_map: DemoMap, script: InputScript, capture_every_steps: int = 1, race: Any = None
) -> Episode:
    """Drive ``script`` on ``demo_map`` from its start until the race ends; the episode, recorded as every demo is.

    ``race``: the car to drive (``replay.replay_actions``), e.g. a game's ``GameRace``; default the simulator."""
    env_tick_ms = env.physics.tick_s * 1000.0
    if not math.isclose(env_tick_ms, script.tick_ms):
        raise InputScriptError(
            f"the script ticks every {script.tick_ms} ms and the simulator every {env_tick_ms:g} ms: set "
            f"env.physics.tick_s to {script.tick_ms / 1000}"
        )
    tick_actions = script.tick_actions(_ticks_to_race_end(env, demo_map))
    episode = replay_actions(env, demo_map, tick_actions, capture_every_steps, race)
    episode.extra.pop("actions_ran_out", None)  # the keys were held to the time limit: they cannot run out
    episode.extra.update(driver="script", script_ticks=script.n_ticks)
    return episode


def write_script_dataset(
    env: EnvConfig,
    scripts: Sequence[tuple[Path, DemoMap]],
    *,
    root: str | Path,
    name: str,
    capture_every_steps: int = 1,
    overwrite: bool = False,
    console: Console | None = None,
    game: GameConfig | None = None,
    game_maps: Sequence[str] | None = None,
) -> DatasetMeta:
    """Replay each (script file, map) into dataset ``name`` under ``root`` (source ``script``), one episode each.

    With ``env.backend: game`` each script is driven in the game (``game``: how to reach and launch it) on
    ``game_maps[i]``, the hairpin map (built-in name or ``.npy`` file) of script i, one 50 ms step at a time."""
    if not scripts:
        raise InputScriptError("no input script given")
    scripts = [(Path(path), demo_map) for path, demo_map in scripts]
    parsed = [read_script(path) for path, _ in scripts]  # every script read before anything is written
    maps = list({m.name: m for _, m in scripts}.values())
    with DatasetWriter(
        root, name, env=env, source="script", maps=maps, capture_every_steps=capture_every_steps, overwrite=overwrite
    ) as writer:
        writer.report_leftovers(console)
        replays = []
        for i, ((path, demo_map), script) in enumerate(zip(scripts, parsed, strict=True)):
            if env.backend == "game":
                episode = _replay_in_game(env, demo_map, script, capture_every_steps, game, game_maps, i)
            else:
                episode = replay_script(env, demo_map, script, capture_every_steps)
            episode.extra["script"] = path.name
            writer.add(episode)
            replays.append(
                {
                    "script": str(path),
                    "map": demo_map.name,
                    "finished": episode.terminated,
                    "race_time_ms": episode.final_race_time_ms,
                    "script_ticks": script.n_ticks,
                }
            )
        return writer.close({"scripts": [str(p) for p, _ in scripts], "replays": replays})


def _replay_in_game(
    env: EnvConfig,
    demo_map: DemoMap,
    script: InputScript,
    capture_every_steps: int,
    game: GameConfig | None,
    game_maps: Sequence[str] | None,
    index: int,
) -> Episode:
    from hairpin.game.env import GameRaceEnv

    if game_maps is None or len(game_maps) <= index:
        raise InputScriptError("recording a script in the game needs the hairpin map of every script (game_maps)")
    game_env = GameRaceEnv(env.model_copy(update={"map": game_maps[index]}), game=game)
    try:
        return replay_script(env, demo_map, script, capture_every_steps, game_env.race)
    finally:
        game_env.close()


def lap_script(cfg: DriveConfig, demo_map: DemoMap, *, seed: int = 0) -> tuple[str, Episode]:
    """A lap of ``demo_map`` by ``cfg.driver`` (no start noise), as an input script and as the recorded episode."""
    env = cfg.env.model_copy(update={"start_noise": 0.0})
    (episode,) = record_expert(
        env, cfg.expert, [demo_map], 1, seed=seed, n_cars=1, driver=cfg.driver, racing_line=cfg.racing_line
    )
    status = f"finished in {episode.final_race_time_ms / 1000:.2f} s" if episode.terminated else "did not finish"
    comment = f"hairpin: {cfg.driver} lap on {demo_map.name} (seed {seed}, noise {cfg.expert.noise:g}), {status}"
    text = write_script(ACTION_KEYS[episode.timeline], tick_ms=round(env.physics.tick_s * 1000), comment=comment)
    return text, episode
