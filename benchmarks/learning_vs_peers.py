"""hairpin's IQN against the agents a user would try instead, on the same map, wall time and cores.

Trains, for each seed and within the same wall-time budget on this machine:

- ``hairpin``: ``hairpin train configs/rl/cpu.yaml`` (a real run in a temporary directory; its greedy races are the
  eval races of its map cycle);
- ``ppo``: Stable-Baselines3 PPO with its default hyperparameters on 8 copies of the env (as many cars as one
  hairpin collector drives);
- ``qrdqn``: sb3-contrib QR-DQN (the closest off-the-shelf distributional DQN) with its default hyperparameters.

The peers drive ``hairpin/Race-v0`` on the same map, with the same 50 ms steps, 12 actions, reward and cut-offs,
and see the same float vector, normalised by the same table as hairpin's network (the image is not used: the
float-only ``cpu.yaml`` does not use it either). Every 30 s of training, each peer races once greedily
(``deterministic=True``) on a separate env; that race's time does not count against its budget. The env and the
greedy policy are deterministic, so one race is the policy's lap at that moment.

hairpin races greedily far more often than every 30 s (every fifth race of each car is greedy), so next to the
best of all its greedy races (``best_s``) it also reports ``sampled_best_s``: the best over the first greedy race
to end after each 30 s mark, the same sampling as the peers'. Prints one JSON line per method with its seeds, the
best lap (s) and its ratio to the map's limit per seed, their mean with a 95% bootstrap interval, and the minute
of the first greedy finish.

    pip install -e ".[bench]"
    python benchmarks/learning_vs_peers.py [--map sprint] [--minutes 5] [--seeds 0 1 2] [--methods hairpin ppo qrdqn]
        [--hairpin-from runs-learning]   # reuse cpu.yaml runs of benchmarks/learning_runs.py (their first minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import hairpin  # noqa: F401  (registers hairpin/Race-v0)
from hairpin.analysis.races import RaceKey, race_series
from hairpin.analysis.run import load_run
from hairpin.analysis.runs import RunCatalog
from hairpin.analysis.stats import estimate
from hairpin.config.sim import EnvConfig
from hairpin.sim.maps import load_map
from hairpin.sim.racing_line import racing_line
from learning_runs import map_sets  # this folder's own script: the map cycle of a one-map run

ROOT = Path(__file__).resolve().parents[1]
PEERS = ("ppo", "qrdqn")
EVAL_EVERY_S = 30.0
PEER_IMAGE_SIZE = 16
"""The peers never look at the image; the smallest size keeps its rendering cheap."""


class FloatsOnly(gym.ObservationWrapper):  # type: ignore[type-arg]
    """The float vector of Race-v0, normalised as hairpin's network normalises it."""

    def __init__(self, env: gym.Env) -> None:  # type: ignore[type-arg]
        super().__init__(env)
        layout = env.unwrapped.sim.layout  # type: ignore[attr-defined]
        self._mean, self._std = layout.mean, layout.std
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (layout.size,), np.float32)

    def observation(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        return ((observation["floats"] - self._mean) / self._std).astype(np.float32)


def make_peer_env(map_name: str) -> gym.Env:  # type: ignore[type-arg]
    return FloatsOnly(gym.make("hairpin/Race-v0", map=map_name, image_size=PEER_IMAGE_SIZE))


def greedy_race(model: Any, env: gym.Env) -> float | None:  # type: ignore[type-arg]
    """One greedy race; its time in s when it finishes, else None."""
    obs, _ = env.reset(seed=0)
    while True:
        action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, info = env.step(int(action))
        if terminated or truncated:
            return info["race_time_ms"] / 1000.0 if info["finished"] else None


def make_budget_callback(map_name: str, minutes: float, races: list[tuple[float, float | None]]) -> Any:
    """An SB3 callback that stops training after ``minutes`` of training time and races greedily every 30 s of
    it, appending (training minutes, lap s or None) to ``races``; the races' own time is not counted."""
    from stable_baselines3.common.callbacks import BaseCallback

    class TrainingClock(BaseCallback):  # type: ignore[misc]
        def _on_training_start(self) -> None:
            self.env = make_peer_env(map_name)
            self.start, self.paused, self.next_eval = time.perf_counter(), 0.0, EVAL_EVERY_S

        def _trained_s(self) -> float:
            return time.perf_counter() - self.start - self.paused

        def _on_step(self) -> bool:
            trained = self._trained_s()
            if trained >= self.next_eval:
                paused_at = time.perf_counter()
                races.append((trained / 60.0, greedy_race(self.model, self.env)))
                self.paused += time.perf_counter() - paused_at
                self.next_eval += EVAL_EVERY_S
            return trained < minutes * 60.0

    return TrainingClock()


def train_peer(method: str, map_name: str, seed: int, minutes: float, total_steps: int) -> dict[str, Any]:
    """Trains one peer for ``minutes``; its greedy races and frames."""
    import torch
    from sb3_contrib import QRDQN
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(os.cpu_count() or 1)
    races: list[tuple[float, float | None]] = []
    if method == "ppo":
        env = make_vec_env(lambda: make_peer_env(map_name), n_envs=8, seed=seed)
        model = PPO("MlpPolicy", env, seed=seed, device="auto")
    else:
        model = QRDQN("MlpPolicy", make_peer_env(map_name), seed=seed, device="auto")
    # total_steps only places the peers' schedules (QR-DQN's ε decay); the wall-time callback ends training.
    model.learn(total_timesteps=total_steps, callback=make_budget_callback(map_name, minutes, races))
    return {"races": races, "frames": int(model.num_timesteps)}


def hairpin_races(work: Path, name: str, map_name: str, minutes: float) -> dict[str, Any]:
    """The greedy (eval) races of run ``name`` in ``work/{runs,tb}`` that ended within its first ``minutes``."""
    source = RunCatalog(work / "tb", work / "runs").resolve([name])[0]
    run = load_run(source, gap_minutes=10.0)
    series = race_series(run, RaceKey("eval", map_name, "trained"), "wall_minutes")
    frames_series = race_series(run, RaceKey("eval", map_name, "trained"), "frames")
    races: list[tuple[float, float | None]] = []
    frames = 0
    if series is not None and frames_series is not None:
        unfinished = series.x[~series.finished] if series.finished is not None else np.zeros(0)
        races = [(float(x), None) for x in unfinished if x <= minutes]
        races += [
            (float(x), float(t)) for x, t in zip(series.finish_x, series.finish_time, strict=True) if x <= minutes
        ]
        within = series.x <= minutes
        frames = int(frames_series.x[within].max()) if within.any() else 0
    return {"races": races, "frames": frames}


def train_hairpin(map_name: str, seed: int, minutes: float, config: Path) -> dict[str, Any]:
    """Runs ``hairpin train`` for ``minutes`` in a temporary directory; its greedy (eval) races and frames."""
    with tempfile.TemporaryDirectory(prefix="hairpin-vs-peers-") as tmp:
        work = Path(tmp)
        name = f"vs-peers-s{seed}"
        sets = [
            f"run_name={name}",
            f"seed={seed}",
            f"training.max_minutes={minutes}",
            f"paths.runs={work / 'runs'}",
            f"paths.tensorboard={work / 'tb'}",
            *map_sets(map_name),
        ]
        command = [shutil.which("hairpin") or "hairpin", "train", str(config)]
        for item in sets:
            command += ["--set", item]
        subprocess.run(command, check=True, cwd=work, stdout=subprocess.DEVNULL)
        return hairpin_races(work, name, map_name, minutes)


def sampled(races: list[tuple[float, float | None]], every_min: float) -> list[tuple[float, float | None]]:
    """The first race to end after each ``every_min`` mark (races sorted by when they ended)."""
    picked, mark = [], every_min
    for at, lap in sorted(races, key=lambda race: race[0]):
        if at >= mark:
            picked.append((at, lap))
            mark = (int(at / every_min) + 1) * every_min
    return picked


def best_and_first(races: list[tuple[float, float | None]]) -> tuple[float | None, float | None]:
    laps = [(at, lap) for at, lap in races if lap is not None]
    if not laps:
        return None, None
    return min(lap for _, lap in laps), min(at for at, _ in laps)


def mean_interval(values: list[float | None], seed: int = 0) -> dict[str, Any]:
    """Mean and 95% bootstrap interval over the seeds that have a value; how many have one."""
    found = estimate(values, seed=seed)
    interval = None if found.low is None or found.high is None else [round(found.low, 3), round(found.high, 3)]
    return {"mean": None if found.mean is None else round(found.mean, 3), "ci95": interval, "n": found.runs_with_value}


def summarise(method: str, map_name: str, limit_s: float | None, per_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    rows, bests, sampled_bests, ratios, firsts = [], [], [], [], []
    for seed, result in per_seed.items():
        best, first = best_and_first(result["races"])
        sampled_best, _ = best_and_first(sampled(result["races"], EVAL_EVERY_S / 60.0))
        ratio = round(best / limit_s, 4) if best is not None and limit_s else None
        rows.append(
            {
                "seed": seed,
                "best_s": best,
                "best_to_limit": ratio,
                "sampled_best_s": sampled_best,
                "first_finish_min": None if first is None else round(first, 2),
                "greedy_races": len(result["races"]),
                "frames": result["frames"],
            }
        )
        bests.append(best)
        sampled_bests.append(sampled_best)
        ratios.append(ratio)
        firsts.append(first)
    return {
        "method": method,
        "map": map_name,
        "limit_s": limit_s,
        "best_s": mean_interval(bests),
        "best_to_limit": mean_interval(ratios),
        "sampled_best_s": mean_interval(sampled_bests),
        "first_finish_min": mean_interval(firsts),
        "finished_seeds": sum(best is not None for best in bests),
        "seeds": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", default="sprint")
    parser.add_argument("--minutes", type=float, default=5.0, help="Wall-time budget of each run.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["hairpin", *PEERS], choices=["hairpin", *PEERS])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "rl" / "cpu.yaml")
    parser.add_argument(
        "--hairpin-from",
        type=Path,
        default=None,
        help="Read hairpin's races from runs already made with the same config, map and seeds (a folder with runs/ "
        "and tb/ holding runs named *-s<seed>, as benchmarks/learning_runs.py writes), up to --minutes of each, "
        "instead of training again",
    )
    parser.add_argument(
        "--peer-total-steps", type=int, default=1_000_000, help="The steps the peers' schedules are laid over."
    )
    args = parser.parse_args()
    limit_ms = racing_line(load_map(args.map), EnvConfig(map=args.map)).lap_ms
    limit_s = limit_ms / 1000.0 if limit_ms else None
    for method in args.methods:
        per_seed = {}
        for seed in args.seeds:
            if method == "hairpin" and args.hairpin_from is not None:
                name = next(p.name for p in (args.hairpin_from / "runs").glob(f"*-s{seed}"))
                per_seed[seed] = hairpin_races(args.hairpin_from, name, args.map, args.minutes)
            elif method == "hairpin":
                per_seed[seed] = train_hairpin(args.map, seed, args.minutes, args.config.resolve())
            else:
                per_seed[seed] = train_peer(method, args.map, seed, args.minutes, args.peer_total_steps)
        print(json.dumps({**summarise(method, args.map, limit_s, per_seed), "minutes": args.minutes}), flush=True)


if __name__ == "__main__":
    main()
