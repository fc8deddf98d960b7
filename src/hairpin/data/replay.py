"""RL best races as demonstrations: each run's ``best/<map>/actions.json`` driven again in the simulator.

A best race stores its actions (one per 50 ms step, optionally ``tick_keys``: one per 10 ms tick), not its frames.
The simulator is deterministic, so replaying the actions from the start line with the run's env config (from
``run.json``) and no start noise gives back the frames and floats the agent saw, provided the race itself had no
start noise. The replayed time is compared with the stored one; a difference is reported, never hidden.

This is the one place where ``data`` reads what ``rl`` wrote (run.json, best races); those modules are imported
inside the functions that need them, so importing ``hairpin.data`` never pulls in the RL stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from hairpin.actions import ACTION_KEYS, N_ACTIONS
from hairpin.config.rl import MapCycleConfig
from hairpin.config.sim import EnvConfig
from hairpin.data.arrays import keys_to_actions
from hairpin.data.episode import Episode, EpisodeBuilder
from hairpin.data.maps import DemoMap, builtin_or_file
from hairpin.data.meta import DatasetError, DatasetMeta
from hairpin.data.writer import DatasetWriter
from hairpin.sim.race import RaceSim

__all__ = ["BestRace", "ReplayCheck", "export_best", "read_best_races", "replay_actions"]


@dataclass(frozen=True)
class BestRace:
    """One stored best race of a run."""

    run: Path
    map: DemoMap
    race_time_ms: int
    tick_actions: np.ndarray  # (K,) int8, action of every tick
    extra: dict[str, Any]


@dataclass(frozen=True)
class ReplayCheck:
    """Stored against replayed time of one best race."""

    run: str
    map: str
    stored_ms: int
    replayed_ms: int
    finished: bool

    @property
    def matches(self) -> bool:
        return self.finished and self.stored_ms == self.replayed_ms


def _tick_actions(record: dict[str, Any], ticks_per_step: int, where: str) -> np.ndarray:
    """(K,) int8 per-tick actions of a best-race record: its ``tick_keys`` when present, else its step actions."""
    if record.get("tick_keys") is not None:
        raw = np.asarray(record["tick_keys"])
        if raw.ndim == 2 and raw.shape[1] == 4:
            ticks = keys_to_actions(raw)
        elif raw.ndim == 1:
            ticks = raw.astype(np.int64)
        else:
            raise DatasetError(f"{where}: tick_keys of shape {raw.shape}; expected (K, 4) keys or (K,) actions")
    else:
        steps = np.asarray(record["actions"], np.int64)
        ticks = np.repeat(steps, ticks_per_step)
    if ticks.size == 0 or ticks.size % ticks_per_step or ticks.min() < 0 or ticks.max() >= N_ACTIONS:
        raise DatasetError(
            f"{where}: {ticks.size} tick actions; expected a positive multiple of {ticks_per_step} in [0, {N_ACTIONS})"
        )
    return ticks.astype(np.int8)


def _run_env(run: Path) -> tuple[EnvConfig, dict[str, str]]:
    """The run's env config and its map-cycle short names → maps, from ``run.json``."""
    from hairpin.runfiles.manifest import RunManifest, RunManifestError

    try:
        config = RunManifest.load(run).config
        env = EnvConfig.model_validate(config["env"])
        cycle = MapCycleConfig.model_validate(config["map_cycle"])
    except (RunManifestError, KeyError, ValueError) as error:
        raise DatasetError(f"{run}: cannot read the run's env and map cycle from run.json: {error}") from error
    maps: dict[str, str] = {}
    for entry in cycle.entries:
        maps.setdefault(entry.short_name, entry.map)
    return env, maps


def _runs_best(run: Path, env: EnvConfig, short_to_map: dict[str, str]) -> list[BestRace]:
    """The best races stored in ``run/best/``."""
    from hairpin.runfiles.best import read_best_race
    from hairpin.runfiles.checkpoints import CheckpointError

    best_dir = run / "best"
    names = sorted(p.name for p in best_dir.iterdir() if not p.name.startswith(".")) if best_dir.is_dir() else []
    races = []
    for short in names:
        try:
            record = read_best_race(run, short)
        except CheckpointError as error:
            raise DatasetError(str(error)) from error
        if record is None:
            continue
        if short not in short_to_map:
            raise DatasetError(f"{run}/best/{short}: no map-cycle entry of the run has short_name {short!r}")
        demo_map = builtin_or_file(short, short_to_map[short], env.road_half_width_m)
        ticks = _tick_actions(record, env.physics.ticks_per_step, f"{run}/best/{short}/actions.json")
        races.append(BestRace(run, demo_map, int(record["race_time_ms"]), ticks, dict(record.get("extra", {}))))
    return races


def read_best_races(runs: Sequence[str | Path]) -> tuple[EnvConfig, list[BestRace]]:
    """The shared env config and every best race of ``runs``; runs whose env or maps disagree are an error."""
    from hairpin.runfiles.manifest import config_diff

    env: EnvConfig | None = None
    races: list[BestRace] = []
    for run in map(Path, runs):
        run_env, short_to_map = _run_env(run)
        run_env = run_env.model_copy(update={"start_noise": 0.0})
        env = env or run_env
        changes = {k: v for k, v in config_diff(env.model_dump(), run_env.model_dump()).items() if k != "map"}
        if changes:
            raise DatasetError(f"{run}: its env differs from the first run's, one dataset has one env: {changes}")
        races += _runs_best(run, env, short_to_map)
    loads: dict[str, str] = {}
    for race in races:
        if loads.setdefault(race.map.name, race.map.source.load) != race.map.source.load:
            raise DatasetError(
                f"map {race.map.name!r} is {loads[race.map.name]!r} in one run, another map in {race.run}"
            )
    if env is None or not races:
        raise DatasetError(f"no best race found in {[str(r) for r in runs]} (looked for <run>/best/<map>/actions.json)")
    return env, races


def replay_actions(
    env: EnvConfig,
    demo_map: DemoMap,
    tick_actions: np.ndarray,
    capture_every_steps: int = 1,
    race: Any = None,
) -> Episode:
    """Drive ``tick_actions`` (K,) from the start line (no start noise) until the race ends or the actions do.

    ``race`` is the car to drive, with ``RaceSim``'s interface (default: a simulator on ``demo_map``). One without
    ``step_ticks`` (the game: ``hairpin.game.race.GameRace``) takes one action per 50 ms step: each step holds the
    action of its first tick, and the episode records what was driven."""
    env = env.model_copy(update={"start_noise": 0.0})
    race = race if race is not None else RaceSim(env, [demo_map.track])
    race.reset_cars([0], np.random.default_rng(0))
    ticks = env.physics.ticks_per_step
    builder = EpisodeBuilder(
        demo_map.name,
        None,
        capture_every_steps=capture_every_steps,
        ticks_per_step=ticks,
        image=race.image[0],
        floats=race.floats[0],
        race_time_ms=int(race.info(0)["race_time_ms"]),
    )
    terminated = truncated = False
    for step in tick_actions.reshape(-1, ticks):  # (ticks,) per step
        if hasattr(race, "step_ticks"):
            keys = ACTION_KEYS[step]  # (ticks, 4)
            result = race.step_ticks(keys[None], keys[-1][None])
        else:
            step = np.full_like(step, step[0])
            result = race.step(step[:1])
        builder.step(step, float(result.reward[0]), race.image[0], race.floats[0], int(race.info(0)["race_time_ms"]))
        terminated, truncated = bool(result.terminated[0]), bool(result.truncated[0])
        if terminated or truncated:
            break
    builder.extra["actions_ran_out"] = not (terminated or truncated)
    return builder.finish(
        terminated=terminated,
        truncated=truncated or not terminated,
        image=race.image[0],
        floats=race.floats[0],
        race_time_ms=int(race.info(0)["race_time_ms"]),
    )


def export_best(
    runs: Sequence[str | Path],
    *,
    root: str | Path,
    name: str,
    capture_every_steps: int = 1,
    overwrite: bool = False,
    console: Console | None = None,
) -> tuple[DatasetMeta, list[ReplayCheck]]:
    """Replay the best races of ``runs`` into dataset ``name`` (source rl-best); return the time checks."""
    env, races = read_best_races(runs)
    maps = list({r.map.name: r.map for r in races}.values())
    checks = []
    with DatasetWriter(
        root, name, env=env, source="rl-best", maps=maps, capture_every_steps=capture_every_steps, overwrite=overwrite
    ) as writer:
        writer.report_leftovers(console)
        for race in races:
            episode = replay_actions(env, race.map, race.tick_actions, capture_every_steps)
            replayed, finished = episode.final_race_time_ms, episode.terminated
            check = ReplayCheck(str(race.run), race.map.name, race.race_time_ms, replayed, finished)
            episode.extra.update(race.extra, run=check.run, stored_race_time_ms=race.race_time_ms)
            writer.add(episode)
            checks.append(check)
        meta = writer.close({"runs": [str(r) for r in runs], "replays": [c.__dict__ for c in checks]})
    return meta, checks
