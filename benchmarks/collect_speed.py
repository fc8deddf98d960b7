"""Collector speed: environment steps/s gathered by 1 and by 2 collector processes, each with batched inference.

Measured through the real machinery with the ``cpu`` config (``configs/rl/cpu.yaml``): a ``CollectorPool``
started from the config with a fresh network, races read from ``pool.inbox.receive`` as the trainer reads them
(spool files, pipes, the pending-race counts), steps counted as the ``len(record.actions)`` of every race
received during ``--seconds`` of wall time. The clock starts once every collector has sent a race (spawn, imports
and compilation are over) and ``--warmup`` more seconds have passed. ``may_run`` is never cleared and
``frames_played`` stays 0, so ε = 1: actions are random and races short (cut off by the no-progress rule), but
the network still runs on every step. This process only reads races, so the collectors have the cores to
themselves; in training the learner takes one. The 1-collector figure is the baseline of the 2-collector one
(``scaling``: 2 on two free cores).

Prints one JSON line.

    python benchmarks/collect_speed.py [--seconds 20] [--warmup 5]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from hairpin.config.loader import load_config
from hairpin.config.rl import RLConfig
from hairpin.rl.collector import make_network
from hairpin.rl.collector_pool import CollectorPool

CPU_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "rl" / "cpu.yaml"


def check_alive(pool: CollectorPool) -> None:
    dead = {i: p.exitcode for i, p in enumerate(pool.processes) if not p.is_alive()}
    if dead:
        raise RuntimeError(f"collectors died (index: exit code) {dead}; see their error above")


def steps_per_s(cfg: RLConfig, seconds: float, warmup: float, start_timeout: float) -> float:
    """Environment steps per second received from a pool of ``performance.gpu_collectors_count`` collectors."""
    n_collectors = cfg.performance.gpu_collectors_count
    torch.manual_seed(cfg.seed)
    pool = CollectorPool(cfg, make_network(cfg), cfg.seed)
    try:
        pool.start()
        deadline = time.monotonic() + start_timeout
        seen: set[int] = set()
        while len(seen) < n_collectors:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only collectors {sorted(seen)} of {n_collectors} sent a race in {start_timeout} s")
            check_alive(pool)
            seen.update(record.collector for record in pool.inbox.receive(timeout=0.5))
        warm_until = time.monotonic() + warmup
        while (now := time.monotonic()) < warm_until:
            pool.inbox.receive(timeout=warm_until - now)
        steps = 0
        start = time.monotonic()
        end = start + seconds
        while (now := time.monotonic()) < end:
            steps += sum(len(record.actions) for record in pool.inbox.receive(timeout=end - now))
        elapsed = time.monotonic() - start
        check_alive(pool)
    finally:
        pool.stop()
    return steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="wall time of each measurement")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds after every collector sent a race")
    parser.add_argument("--start-timeout", type=float, default=120.0, help="seconds allowed for the first races")
    args = parser.parse_args()
    rates = {}
    for n in (1, 2):
        cfg = load_config(RLConfig, CPU_CONFIG, [f"performance.gpu_collectors_count={n}"])
        rates[n] = steps_per_s(cfg, args.seconds, args.warmup, args.start_timeout)
    result = {
        "collectors_1_steps_per_s": round(rates[1]),
        "collectors_2_steps_per_s": round(rates[2]),
        "scaling": round(rates[2] / rates[1], 2),
        "cars_per_collector": cfg.performance.cars_per_collector,
        "image_size": cfg.env.image_size,
        "seconds": args.seconds,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
