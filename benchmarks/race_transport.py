"""Race transport: environment steps/s delivered to the learner and per-race latency, for each collector backend.

The same collectors and cars (``configs/rl/cpu.yaml``, ``--collectors`` collectors of ``--cars`` cars, a fresh
network, ε = 1 since the frame count stays 0) run under each backend, and this process takes their races through
the trainer's interface (``Collectors.receive``) without training, so the figure is what the transport delivers:

- ``local``: collector processes on this machine (spool files and pipes);
- ``ray``: Ray actors on a Ray of one node started here (``ray.init(num_cpus=collectors)``);
- ``ray-2nodes``: Ray actors on two Ray nodes of this machine (``ray.cluster_utils.Cluster``), one collector on
  each, so races cross between raylets and object stores as they would between machines.

The clock starts once every collector has handed over a race and ``--warmup`` more seconds have passed; each
backend is measured ``--repeats`` times for ``--seconds`` and the median is printed. Latency is the time from a
race's end (``RaceRecord.ended_unix``, taken by the collector) to its receipt here. With ``--kills N``, each Ray
backend then has a collector killed N times (SIGKILL of its process and ``ray.kill`` in turn, every ``--kill-every``
seconds) and reports the races duplicated (must be 0), gaps inside a life, lives seen, and the bound on races lost
with the dead lives.

One JSON line per backend; ``vs_local`` is its steps/s over the local backend's, measured in the same run.

    python benchmarks/race_transport.py [--backends local ray ray-2nodes] [--seconds 20] [--repeats 3] [--kills 20]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from hairpin.config.loader import load_config
from hairpin.config.rl import RLConfig
from hairpin.rl.collector import make_network
from hairpin.rl.collectors import Collectors, make_collectors

CPU_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "rl" / "cpu.yaml"


@contextmanager
def ray_cluster(nodes: int, cpus: int) -> Iterator[None]:
    """A Ray of ``nodes`` nodes on this machine sharing ``cpus`` CPUs (none on the head when there are several)."""
    import ray

    if nodes == 1:
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            yield
        finally:
            ray.shutdown()
        return
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(nodes):
        cluster.add_node(num_cpus=max(1, cpus // nodes))
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()
        cluster.shutdown()


def take_until(
    collectors: Collectors,
    done: Callable[[], bool],
    timeout_s: float,
    on_race: Callable[[Any], None] | None = None,
    events: list[tuple[str, str]] | None = None,
) -> None:
    """Take races (as the trainer does, without training) until ``done()``; events go to ``events``."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"collectors did not deliver within {timeout_s:.0f} s")
        for record in collectors.receive(timeout=0.2):
            if on_race is not None:
                on_race(record)
        collectors.check_health(lambda kind, message: events.append((kind, message)) if events is not None else None)


class Tally:
    """Steps and end-to-receipt lags of the races taken."""

    def __init__(self) -> None:
        self.steps = 0
        self.lags: list[float] = []

    def __call__(self, record: Any) -> None:
        self.steps += len(record.actions)
        self.lags.append(time.time() - record.ended_unix)


def measure(cfg: RLConfig, args: argparse.Namespace) -> dict[str, Any]:
    """Steps/s and latency of each repeat, then the kill run (Ray backends)."""
    torch.manual_seed(cfg.seed)
    collectors = make_collectors(cfg, make_network(cfg), cfg.seed)
    seen: set[int] = set()
    collectors.start()
    try:
        take_until(
            collectors, lambda: len(seen) == cfg.performance.gpu_collectors_count, 180, lambda r: seen.add(r.collector)
        )
        warm_until = time.monotonic() + args.warmup
        take_until(collectors, lambda: time.monotonic() >= warm_until, args.warmup + 60)
        rates, latencies = [], []
        for _ in range(args.repeats):
            tally = Tally()
            end = time.monotonic() + args.seconds
            take_until(collectors, lambda end=end: time.monotonic() >= end, args.seconds + 60, tally)  # type: ignore[misc]
            rates.append(tally.steps / (time.monotonic() - end + args.seconds))
            latencies.append(1000 * statistics.median(tally.lags) if tally.lags else float("nan"))
        result: dict[str, Any] = {
            "steps_per_s": statistics.median(rates),
            "steps_per_s_runs": [round(r, 1) for r in rates],
            "race_latency_ms_median": statistics.median(latencies),
        }
        if args.kills and cfg.performance.collectors == "ray":
            result["kills"] = kill_run(collectors, args)
    finally:
        collectors.stop()
    return result


def kill_run(collectors: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Kill a collector ``args.kills`` times while taking races; what the ledger counted."""
    import ray

    events: list[tuple[str, str]] = []
    lives = collectors.ledger.lives
    for kill in range(args.kills):
        index = kill % len(collectors.remotes)
        known = len(lives.get(index, {}))
        pid = collectors.remotes[index].pid
        if kill % 2 == 0 and pid is not None:
            os.kill(pid, signal.SIGKILL)
        else:
            ray.kill(collectors.remotes[index].actor, no_restart=False)
        after = time.monotonic() + args.kill_every

        def back(index: int = index, known: int = known, after: float = after) -> bool:
            return len(lives.get(index, {})) > known and time.monotonic() >= after

        take_until(collectors, back, 180, events=events)
        collectors.guard.forget()  # these deaths are deliberate: no crash loop
    restarts = [message for kind, message in events if kind == "collector_restarted"]
    ledger = collectors.ledger
    return {
        "kills": args.kills,
        "restarts_logged": len(restarts),
        "lives": sum(len(known) for known in ledger.lives.values()),
        "races_taken": ledger.taken,
        "duplicates": ledger.duplicates,
        "gaps_inside_a_life": ledger.missing,
        "lost_bound_races": len(restarts) * collectors.capacity,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["local", "ray", "ray-2nodes"])
    parser.add_argument("--collectors", type=int, default=2)
    parser.add_argument("--cars", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kills", type=int, default=0, help="collector kills per Ray backend after the timing")
    parser.add_argument("--kill-every", type=float, default=2.0, help="least seconds between kills")
    args = parser.parse_args()
    local_rate = None
    for backend in args.backends:
        sets = [
            f"performance.gpu_collectors_count={args.collectors}",
            f"performance.cars_per_collector={args.cars}",
            f"performance.collectors={'local' if backend == 'local' else 'ray'}",
        ]
        cfg = load_config(RLConfig, CPU_CONFIG, sets)
        if backend == "local":
            result = measure(cfg, args)
            local_rate = result["steps_per_s"]
        else:
            with ray_cluster(2 if backend == "ray-2nodes" else 1, args.collectors):
                result = measure(cfg, args)
        line = {"benchmark": "race_transport", "backend": backend, "collectors": args.collectors, "cars": args.cars}
        line.update(result)
        if local_rate:
            line["vs_local"] = round(result["steps_per_s"] / local_rate, 3)
        line["cpus"] = os.cpu_count()
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
