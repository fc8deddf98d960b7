"""Simulator speed on one CPU core: one env, the 64-car vector env, physics alone, memory, and CarRacing-v3.

Prints one JSON line. Each figure is the median of ``--repeats`` timed runs after a warm-up (compilation is
excluded). CarRacing-v3 is measured in the same run when ``gymnasium[box2d]`` is installed.

    python benchmarks/sim_speed.py [--repeats 5] [--steps 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def pin_to_one_core() -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def median_rate(run: Callable[[], int], repeats: int) -> float:
    """Median of ``items / seconds`` over ``repeats`` calls of ``run`` (which returns the items it made)."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        items = run()
        rates.append(items / (time.perf_counter() - start))
    return statistics.median(rates)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def env_rate(env: Any, actions: list[Any], repeats: int) -> float:
    """Median steps/s of a Gymnasium env stepping through ``actions`` (resetting at episode ends)."""
    env.reset(seed=0)

    def run() -> int:
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        return len(actions)

    run()
    return median_rate(run, repeats)


def single_env_rate(steps: int, repeats: int) -> float:
    from hairpin.sim.env import RaceEnv

    return env_rate(RaceEnv(image_size=64), np.random.default_rng(0).integers(0, 12, steps).tolist(), repeats)


def vector_env_rate(n_cars: int, steps: int, repeats: int) -> tuple[float, float]:
    from hairpin.sim.vector_env import RaceVectorEnv

    envs = RaceVectorEnv(n_cars, image_size=64)
    envs.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 12, (steps, n_cars))

    def run() -> int:
        for a in actions:
            envs.step(a)
        return steps * n_cars

    run()
    return median_rate(run, repeats), rss_mb()


def physics_rate(n_cars: int, steps: int, repeats: int) -> float:
    from hairpin.config.sim import PhysicsConfig
    from hairpin.sim import state as st
    from hairpin.sim.maps import load_map
    from hairpin.sim.physics import advance_pack, physics_params, reset_car
    from hairpin.sim.track import TrackPack

    pack = TrackPack.build([load_map("grand-tour")])
    p, gears = physics_params(PhysicsConfig())
    state = np.zeros((n_cars, st.N_STATE))
    track_id = np.zeros(n_cars, np.int64)
    keys = np.random.default_rng(0).integers(0, 2, (steps, n_cars, 5, 4)).astype(np.int8)
    keys[..., 0] = 1

    def run() -> int:
        for c in range(n_cars):
            reset_car(state[c], pack, 0)
        for k in keys:
            advance_pack(state, track_id, k, pack, gears, p)
        return steps * n_cars

    run()
    return median_rate(run, repeats)


def carracing_rate(steps: int, repeats: int) -> float | None:
    try:
        import gymnasium as gym

        env = gym.make("CarRacing-v3")
    except Exception:
        return None
    env.action_space.seed(0)
    return env_rate(env, [env.action_space.sample() for _ in range(steps)], repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20000, help="steps per timed run of the single env")
    args = parser.parse_args()
    pin_to_one_core()
    vector_rate, vector_rss = vector_env_rate(64, max(args.steps // 40, 50), args.repeats)
    result: dict[str, float | int | str | None] = {
        "single_steps_per_s": round(single_env_rate(args.steps, args.repeats)),
        "vector64_car_steps_per_s": round(vector_rate),
        "physics_car_steps_per_s": round(physics_rate(256, max(args.steps // 20, 50), args.repeats)),
        "vector64_rss_mb": round(vector_rss, 1),
    }
    carracing = carracing_rate(max(args.steps // 50, 100), min(args.repeats, 3))
    if carracing is not None:
        result["carracing_steps_per_s"] = round(carracing, 1)
        result["ratio_vs_carracing"] = round(result["single_steps_per_s"] / carracing, 1)  # type: ignore[operator]
    result["repeats"] = args.repeats
    print(json.dumps(result))


if __name__ == "__main__":
    main()
