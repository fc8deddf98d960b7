"""Expert demonstrations: the simulator's expert drives episodes on a list of maps, several cars at once.

Episode ``j`` (maps in order, ``episodes_per_map`` each) uses the seed ``seed × 1,000,000 + j`` for its start
noise, its driving style and its mistakes (``ExpertConfig.noise``), exactly as ``sim.expert.drive_lap`` draws them.
The cars of one ``RaceSim`` are independent, so an episode is the same whatever the number of cars; episodes are
yielded in order. The expert's keys are turned into one of the 12 actions before the car plays them (left+right
counts as neither, as ``keys_to_actions`` says), so the stored tick actions replay the episode exactly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hairpin.actions import ACTION_KEYS
from hairpin.config.sim import DriveConfig, EnvConfig, ExpertConfig, RacingLineConfig
from hairpin.data.arrays import keys_to_actions
from hairpin.data.episode import Episode, EpisodeBuilder
from hairpin.data.maps import DemoMap
from hairpin.data.meta import DatasetMeta
from hairpin.data.writer import DatasetWriter
from hairpin.sim.drivers import DriverName, make_driver
from hairpin.sim.expert import Driver
from hairpin.sim.race import RaceSim

__all__ = ["episode_seed", "record_expert", "write_expert_dataset"]


def episode_seed(seed: int, index: int) -> int:
    """The seed of episode ``index`` of a recording with ``seed``: distinct for each episode and recording."""
    return seed * 1_000_000 + index


@dataclass
class _Drive:
    """What one car is driving now."""

    job: int
    rng: np.random.Generator
    expert: Driver
    builder: EpisodeBuilder


def record_expert(
    env: EnvConfig,
    expert: ExpertConfig,
    maps: Sequence[DemoMap],
    episodes_per_map: int,
    *,
    seed: int = 0,
    capture_every_steps: int = 1,
    n_cars: int = 8,
    driver: DriverName = "expert",
    racing_line: RacingLineConfig | None = None,
) -> Iterator[Episode]:
    """Drive ``episodes_per_map`` episodes on each map by ``driver``; yield them in order as they end."""
    jobs = [(m, k) for m in range(len(maps)) for k in range(episodes_per_map)]
    if not jobs:
        return
    n_cars = max(1, min(n_cars, len(jobs)))
    sim = RaceSim(env, [m.track for m in maps], n_cars=n_cars, car_tracks=[0] * n_cars)
    experts: dict[tuple[int, int], Driver] = {}
    ticks = env.physics.ticks_per_step
    keys = np.zeros((n_cars, ticks, 4), np.int8)
    tick_actions = np.zeros((n_cars, ticks), np.int8)
    drives: list[_Drive | None] = [None] * n_cars
    done: dict[int, Episode] = {}
    next_job, next_out = 0, 0

    def start(car: int, job: int) -> _Drive:
        map_index = jobs[job][0]
        sim.assign_track(car, map_index)
        rng = np.random.default_rng(episode_seed(seed, job))
        sim.reset_cars([car], rng)
        if (car, map_index) not in experts:
            experts[(car, map_index)] = make_driver(driver, maps[map_index].track, env, expert, racing_line)
        car_driver = experts[(car, map_index)]
        car_driver.reset(rng)
        info = sim.info(car)
        builder = EpisodeBuilder(
            maps[map_index].name,
            episode_seed(seed, job),
            capture_every_steps=capture_every_steps,
            ticks_per_step=ticks,
            image=sim.image[car],
            floats=sim.floats[car],
            race_time_ms=int(info["race_time_ms"]),
            extra={"noise": expert.noise, "driver": driver},
        )
        return _Drive(job, rng, car_driver, builder)

    for car in range(n_cars):
        drives[car], next_job = start(car, next_job), next_job + 1
    while any(d is not None for d in drives):
        for car, drive in enumerate(drives):
            if drive is None:
                keys[car] = 0
                continue
            tick_actions[car] = keys_to_actions(drive.expert.plan(sim.state[car], ticks, drive.rng))  # (ticks,)
            keys[car] = ACTION_KEYS[tick_actions[car]]  # (ticks, 4)
        result = sim.step_ticks(keys, keys[:, -1])
        race_time = sim.infos()["race_time_ms"]
        for car, drive in enumerate(drives):
            if drive is None:
                continue
            t = int(race_time[car])
            drive.builder.step(tick_actions[car], float(result.reward[car]), sim.image[car], sim.floats[car], t)
            if result.terminated[car] or result.truncated[car]:
                done[drive.job] = drive.builder.finish(
                    terminated=bool(result.terminated[car]),
                    truncated=bool(result.truncated[car]),
                    image=sim.image[car],
                    floats=sim.floats[car],
                    race_time_ms=t,
                )
                drives[car] = None
                if next_job < len(jobs):
                    drives[car], next_job = start(car, next_job), next_job + 1
        while next_out in done:
            yield done.pop(next_out)
            next_out += 1


def write_expert_dataset(
    cfg: DriveConfig,
    maps: Sequence[DemoMap],
    *,
    root: str | Path,
    name: str,
    episodes_per_map: int,
    seed: int = 0,
    capture_every_steps: int = 1,
    n_cars: int = 8,
    overwrite: bool = False,
    console: Console | None = None,
) -> DatasetMeta:
    """Record expert episodes into dataset ``name`` under ``root``, with a progress bar on ``console``."""
    total = episodes_per_map * len(maps)
    frames, finished, started = 0, 0, time.perf_counter()
    with (
        DatasetWriter(
            root,
            name,
            env=cfg.env,
            source="expert",
            maps=maps,
            expert=cfg.expert,
            capture_every_steps=capture_every_steps,
            overwrite=overwrite,
        ) as writer,
        Progress(
            TextColumn("[bold]recording {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=console is None,
        ) as bar,
    ):
        writer.report_leftovers(console)
        task = bar.add_task(name, total=total, stats="")
        episodes = record_expert(
            cfg.env,
            cfg.expert,
            maps,
            episodes_per_map,
            seed=seed,
            capture_every_steps=capture_every_steps,
            n_cars=n_cars,
            driver=cfg.driver,
            racing_line=cfg.racing_line,
        )
        for episode in episodes:
            writer.add(episode)
            frames += episode.n_frames
            finished += episode.terminated
            rate = frames / max(time.perf_counter() - started, 1e-9)
            bar.update(task, advance=1, stats=f"{frames} frames · {finished} finished · {rate:,.0f} frames/s")
        writer.flush()
        seconds = time.perf_counter() - started  # driving and writing the HDF5 file
        recording = {
            "seed": seed,
            "episodes_per_map": episodes_per_map,
            "noise": cfg.expert.noise,
            "driver": cfg.driver,
            "n_cars": n_cars,
            "seconds": round(seconds, 3),
            "frames_per_s": round(frames / max(seconds, 1e-9), 1),
        }
        return writer.close(recording)
