"""What running a study costs beyond its runs: the runner's overhead, the cores ``--jobs`` fills, Ray against local.

A small study (one demos stage, then two RL variants × ``--seeds`` seeds of the study tests' tiny 32 px config on
a 180 m map, ``--frames`` frames each) is run by ``hairpin study`` in a fresh folder, three ways:

- ``--jobs 1`` (local): ``overhead_share`` = (the study command's wall time − the sum of its nodes' own wall times)
  / that sum. A node's own time runs from its process's start to the executor seeing its end (up to 0.25 s
  late), so the share counts everything else: starting Python, reading the study file, planning, the state files,
  the report and its figures.
- ``--jobs 2 × cores`` (local): ``peak_cpus`` = the most CPUs (an RL run's collectors + 1 learner, 1 for other
  nodes) that running nodes held at one time, from each node's recorded start and wall time, against ``cores``.
- the same on Ray: ``ray start --head --num-cpus CORES`` on this machine, then ``--ray auto``; ``ray_over_local``
  = its wall time over the local run's at the same ``--jobs``; ``local_sessions_s`` and ``ray_sessions_s``: the
  seconds the RL runs' trainers spent in their sessions (run.json) in either, which separates the runs' own speed
  from what surrounds them (starting Python, the study's bookkeeping, Ray). Skipped (null, with a hint on stderr)
  without Ray (``pip install -e ".[ray]"``).

Each figure is the median of ``--repeats`` repeats (each repeat's figures under ``each``). Prints one JSON line.
The tiny study comes from the study tests (``tests/study/conftest.py``), so this runs from a checkout with the
``dev`` extra.

    python benchmarks/study_overhead.py [--repeats 3] [--frames 4000] [--seeds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.study.conftest import demos_stage, tiny_rl_config  # noqa: E402  (the study tests' tiny study)

from hairpin.runfiles.manifest import RunManifest  # noqa: E402
from hairpin.study.plan import default_cores  # noqa: E402
from hairpin.study.state import read_states  # noqa: E402


def write_study(folder: Path, frames: int, seeds: int) -> Path:
    rl = tiny_rl_config(folder)
    study = {
        "name": "overhead",
        "stages": {"demo": demos_stage()},
        "variants": {
            "base": {"config": str(rl)},
            "slow_lr": {"config": str(rl), "set": {"schedules.lr_schedule": [[0, 3.0e-4]]}},
        },
        "seeds": list(range(seeds)),
        "budget": {"frames": frames},
        "eval": {"maps": ["short"]},
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def sessions_s(states: dict[str, Any]) -> float:
    """Seconds the RL runs' trainers spent in their sessions (run.json), wherever they ran: the runs' own time,
    without starting Python, the study's bookkeeping or Ray's."""
    total = 0.0
    for state in states.values():
        if state.kind != "rl":
            continue
        for session in RunManifest.load(Path(state.output)).sessions:
            if session.end is not None:
                total += (datetime.fromisoformat(session.end) - datetime.fromisoformat(session.start)).total_seconds()
    return total


def run_study(path: Path, *options: str) -> tuple[float, dict[str, Any], float]:
    """Run ``hairpin study PATH OPTIONS`` in a fresh folder: its wall time, the node states it left and the RL
    runs' session seconds."""
    studies = path.parent / "studies"
    shutil.rmtree(studies, ignore_errors=True)
    command = [sys.executable, "-m", "hairpin.cli", "study", str(path), "--studies-dir", str(studies), *options]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=path.parent, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    states = dict(read_states(studies / "overhead"))
    return wall, states, sessions_s(states)


def peak_cpus(states: dict[str, Any], cpus: dict[str, int]) -> int:
    """The most CPUs held at one time by nodes running together."""
    events = []
    for name, state in states.items():
        events += [(state.start_time, cpus[name]), (state.start_time + state.seconds, -cpus[name])]
    held = peak = 0
    for _, change in sorted(events, key=lambda e: (e[0], e[1])):  # ends before starts at the same instant
        held += change
        peak = max(peak, held)
    return peak


def node_cpus(path: Path) -> dict[str, int]:
    from hairpin.study.plan import build_plan
    from hairpin.study.spec import load_study

    plan = build_plan(load_study(path), path.parent / "studies" / "overhead")
    return {name: node.cpus for name, node in plan.nodes.items()}


def with_ray(cores: int, study: Path, jobs: int) -> tuple[float, float] | None:
    """Wall time and RL session seconds of the study on a Ray head started here with ``cores`` CPUs (None without
    Ray)."""
    ray = shutil.which("ray")
    if ray is None:
        print("ray is not installed: pip install -e '.[ray]'", file=sys.stderr)
        return None
    temp = tempfile.mkdtemp(prefix="ray-")
    start = [ray, "start", "--head", f"--num-cpus={cores}", "--include-dashboard=false", f"--temp-dir={temp}"]
    subprocess.run([*start, "--disable-usage-stats"], check=True, capture_output=True)
    try:
        wall, _, sessions = run_study(study, f"--jobs={jobs}", "--ray=auto")
        return wall, sessions
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True)
        shutil.rmtree(temp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=4000)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    cores = default_cores()
    jobs = 2 * cores
    folder = Path(tempfile.mkdtemp(prefix="study-overhead-"))
    try:
        study = write_study(folder, args.frames, args.seeds)
        cpus = node_cpus(study)
        run_study(study, "--jobs=1")  # warm-up: numba's compiled kernels, the map's racing line
        shares, peaks, local_walls, ray_walls, node_sums = [], [], [], [], []
        local_sessions, ray_sessions = [], []
        for _ in range(args.repeats):
            wall, states, _ = run_study(study, "--jobs=1")
            own = sum(state.seconds for state in states.values())
            node_sums.append(own)
            shares.append((wall - own) / own)
            wall, states, sessions = run_study(study, f"--jobs={jobs}")
            local_walls.append(wall)
            local_sessions.append(sessions)
            peaks.append(peak_cpus(states, cpus))
            ray = with_ray(cores, study, jobs)
            if ray is not None:
                ray_walls.append(ray[0])
                ray_sessions.append(ray[1])
        line = {
            "benchmark": "study_overhead",
            "nodes": len(cpus),
            "cores": cores,
            "repeats": args.repeats,
            "nodes_own_s": round(statistics.median(node_sums), 2),
            "overhead_share": round(statistics.median(shares), 4),
            "jobs": jobs,
            "peak_cpus": max(peaks),
            "local_wall_s": round(statistics.median(local_walls), 2),
            "ray_wall_s": round(statistics.median(ray_walls), 2) if ray_walls else None,
            "ray_over_local": round(statistics.median(ray_walls) / statistics.median(local_walls), 3)
            if ray_walls
            else None,
            "local_sessions_s": round(statistics.median(local_sessions), 2),
            "ray_sessions_s": round(statistics.median(ray_sessions), 2) if ray_sessions else None,
            "each": {
                "overhead_share": [round(x, 4) for x in shares],
                "local_wall_s": [round(x, 2) for x in local_walls],
                "ray_wall_s": [round(x, 2) for x in ray_walls],
                "local_sessions_s": [round(x, 2) for x in local_sessions],
                "ray_sessions_s": [round(x, 2) for x in ray_sessions],
            },
            "python": sys.version.split()[0],
            "cpu": os.uname().machine,
        }
        print(json.dumps(line), flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
