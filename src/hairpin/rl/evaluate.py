"""Greedy races of a trained network, and GIFs of races replayed from their recorded actions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hairpin.config.rl import RLConfig
from hairpin.config.sim import EnvConfig
from hairpin.nets import IQNNetwork
from hairpin.rl.checkpoint import load_checkpoint
from hairpin.rl.collector import make_network, race_progress
from hairpin.runfiles.checkpoints import CheckpointError
from hairpin.runfiles.manifest import RunManifest
from hairpin.sim.lap_media import side_by_side, write_gif
from hairpin.sim.race import RaceSim, StartPlace

__all__ = ["RaceResult", "load_run", "race_greedy", "replay_gif", "resolve_map"]


@dataclass
class RaceResult:
    """One greedy race."""

    finished: bool
    race_time_ms: int
    actions: np.ndarray
    progress: float
    """Share of the lap covered: 1.0 for a finish."""


def load_run(run: str | Path, runs_root: str | Path = "runs") -> tuple[RLConfig, IQNNetwork]:
    """The config of a run (a directory, or a name under ``runs_root``) and its latest online weights."""
    run_dir = Path(run) if Path(run).is_dir() else Path(runs_root) / str(run)
    manifest = RunManifest.load(run_dir)
    cfg = RLConfig.model_validate(manifest.config)
    online, target = make_network(cfg), make_network(cfg)
    if load_checkpoint(run_dir, online=online, target=target, optimizer=None) is None:
        raise CheckpointError(f"{run_dir}: no checkpoint to evaluate yet")
    return cfg, online.eval()


def resolve_map(cfg: RLConfig, name: str) -> str:
    """A map-cycle short name → its map; any other name (built-in map or file) as given."""
    for entry in cfg.map_cycle.entries:
        if entry.short_name == name:
            return entry.map
    return name


@torch.no_grad()
def race_greedy(
    net: IQNNetwork,
    env: EnvConfig,
    map_name: str,
    races: int,
    seed: int = 0,
    n_taus: int = 32,
    frames: list[np.ndarray] | None = None,
    start_speed: float = 0.0,
) -> list[RaceResult]:
    """Race ``races`` cars at once, each taking argmax Q; ``frames`` collects car 0's views for a GIF.
    ``start_speed``: m/s on the start line (0: a standing start, as every race of a run)."""
    sim = RaceSim(env, [map_name], n_cars=races)
    places = [StartPlace(0.0, speed=start_speed)] * races if start_speed > 0 else None
    sim.reset_cars(range(races), np.random.default_rng(seed), places)
    start_m = [float(sim.info(car)["meters_advanced"]) for car in range(races)]
    done = np.zeros(races, bool)
    results: list[RaceResult | None] = [None] * races
    actions: list[list[int]] = [[] for _ in range(races)]
    device = next(net.parameters()).device
    while not done.all():
        img = torch.from_numpy(sim.image).to(device) if net.img_head is not None else None
        q = net.q_values(img, torch.from_numpy(sim.floats).to(device), n_taus).cpu().numpy()
        chosen = q.argmax(1)
        result = sim.step(chosen)
        for car in np.flatnonzero(~done):
            actions[car].append(int(chosen[car]))
        if frames is not None and not done[0]:
            frames.append(side_by_side(sim.render_rgb(0), sim.image[0]))
        for car in np.flatnonzero(~done & (result.terminated | result.truncated)):
            info = sim.info(int(car))
            finished = bool(info["finished"])
            progress = race_progress(sim, int(car), start_m[car], finished)
            results[car] = RaceResult(finished, int(info["race_time_ms"]), np.array(actions[car]), progress)
            done[car] = True
    return [r for r in results if r is not None]


def replay_gif(env: EnvConfig, map_name: str, actions: np.ndarray, path: Path, every: int = 2) -> int:
    """Replay recorded actions from the start (the sim is deterministic) into a GIF; returns the race time."""
    sim = RaceSim(env.model_copy(update={"start_noise": 0.0}), [map_name])
    sim.reset_cars([0], np.random.default_rng(0))
    frames = []
    for step, action in enumerate(actions):
        result = sim.step(np.array([action]))
        if step % every == 0:
            frames.append(side_by_side(sim.render_rgb(0), sim.image[0]))
        if result.terminated[0] or result.truncated[0]:
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    write_gif(frames, path, fps=20 / every)
    return int(sim.info(0)["race_time_ms"])
