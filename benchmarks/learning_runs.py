"""Learning figures of hairpin configs: variants × seeds of ``hairpin train``, side by side on disjoint cores.

Each run is a real ``hairpin train`` with its own ``--set`` overrides, pinned to its own ``--cores-per-run``
cores (its collectors inherit the pinning; CUDA is hidden unless ``--cuda``), so several runs on a large machine
each see what a small machine of that many cores gives. Runs wait for a free slot of cores. When all are done,
``hairpin analyze`` aggregates each variant's seeds (``--group``) and this prints one JSON line per variant: at
the last common checkpoint, the best greedy (eval) lap in s and over the map's limit, the first eval finish, the
eval finish rate over the last ``--window``, each with its mean over seeds and 95% bootstrap interval, and each
seed's figures.

    python benchmarks/learning_runs.py --config configs/rl/cpu.yaml --minutes 10 --seeds 0 1 2 3 4 \
        --variant base --variant rr16=memory.number_times_single_memory_is_used_before_discard=16 \
        [--map sprint | --map my_map.npy] [--cores-per-run 2] [--work runs-ab] [--batches 30000 | --frames 300000]

A variant is ``NAME`` or ``NAME=key=value[,key=value...]`` (keys as ``--set`` takes them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("best_s", "best_to_limit", "first_finish", "window_finish_rate", "finished")


@dataclass
class Run:
    variant: str
    seed: int
    sets: list[str]

    @property
    def name(self) -> str:
        return f"{self.variant}-s{self.seed}"


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``NAME`` or ``NAME=key=value,key=value`` → (NAME, ["key=value", ...]); commas inside ``[]`` or ``{}`` belong
    to their value (``iqn.batch_size_schedule={points: [[0, 512], [150000, 256]], mode: staircase}``)."""
    name, _, sets = text.partition("=")
    if not name or any(c in name for c in "*?[]/ "):
        raise SystemExit(f"--variant {text!r}: a variant needs a plain name before its first '='")
    parts, depth, start = [], 0, 0
    for i, c in enumerate(sets):
        depth += (c in "[{") - (c in "]}")
        if c == "," and depth == 0:
            parts.append(sets[start:i])
            start = i + 1
    parts.append(sets[start:])
    return name, [s.strip() for s in parts if s.strip()]


def map_sets(map_name: str) -> list[str]:
    """Overrides that train and race on ``map_name`` only (built-in name or .npy file), as cpu.yaml's cycle does."""
    short = Path(map_name).stem if map_name.endswith(".npy") else map_name
    entries = [
        {"short_name": short, "map": map_name, "repeat": 4},
        {"short_name": short, "map": map_name, "is_exploration": False},
    ]
    return [f"env.map={map_name}", f"map_cycle.entries={json.dumps(entries)}"]


def launch(run: Run, args: argparse.Namespace, cores: list[int]) -> subprocess.Popen[bytes]:
    hairpin = shutil.which("hairpin")
    command = [hairpin] if hairpin else [sys.executable, "-m", "hairpin.cli"]
    command += ["train", str(args.config.resolve())]
    sets = [
        f"run_name={run.name}",
        f"group={run.variant}",
        f"seed={run.seed}",
        f"training.max_minutes={'null' if args.minutes is None else args.minutes}",
        *([f"training.max_{args.budget_axis}={args.budget}"] if args.budget else []),
        "paths.runs=runs",
        "paths.tensorboard=tb",
        *(map_sets(args.map) if args.map else []),
        *run.sets,
    ]
    for item in sets:
        command += ["--set", item]
    env = dict(os.environ)
    if not args.cuda:
        env["CUDA_VISIBLE_DEVICES"] = ""
    log = open(args.work / f"{run.name}.log", "wb")  # noqa: SIM115  (closed with the process)
    pin = lambda: os.sched_setaffinity(0, cores)  # noqa: E731
    return subprocess.Popen(command, cwd=args.work, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=pin)


def run_all(runs: list[Run], args: argparse.Namespace) -> None:
    """Run everything, at most one run per slot of cores; a failed run is reported, the others go on."""
    cores = sorted(os.sched_getaffinity(0))
    width = args.cores_per_run
    slots = [cores[i : i + width] for i in range(0, len(cores) - width + 1, width)]
    if not slots:
        raise SystemExit(f"--cores-per-run {args.cores_per_run} is more than the {len(cores)} cores here")
    waiting, active = list(runs), {}  # slot index → (run, process)
    while waiting or active:
        for slot, (run, process) in list(active.items()):
            if process.poll() is not None:
                if process.returncode:
                    log = args.work / f"{run.name}.log"
                    print(f"run {run.name} failed (exit {process.returncode}); see {log}", file=sys.stderr)
                del active[slot]
        for slot in range(len(slots)):
            if slot not in active and waiting:
                run = waiting.pop(0)
                active[slot] = (run, launch(run, args, slots[slot]))
                print(f"started {run.name} on cores {slots[slot]}", file=sys.stderr)
        time.sleep(1.0)


def analyze(variants: list[str], args: argparse.Namespace) -> dict[str, Any]:
    hairpin = shutil.which("hairpin")
    command = [hairpin] if hairpin else [sys.executable, "-m", "hairpin.cli"]
    command += ["analyze", *(f"{v}-s*" for v in variants), "--runs-dir", "runs", "--logdir", "tb"]
    if args.budget:  # a batch or frame budget: compare on that axis, whatever else ran on the machine
        step = max(args.budget // 10, 1)
        command += ["--time-axis", args.budget_axis, "--step-interval", str(step)]
        command += ["--window", args.window or str(max(args.budget // 5, 1))]
    else:
        interval = "1m" if args.minutes >= 2 else f"{args.minutes / 4:.3g}m"
        command += ["--time-axis", "wall_minutes", "--interval", interval, "--window", args.window or "2m"]
    command += ["--format", "json"]
    for v in variants:
        command += ["--group", f"{v}={v}-s*"]
    done = subprocess.run(command, cwd=args.work, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"hairpin analyze failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def summarise(report: dict[str, Any], variant: str, seeds: list[int], axis: str) -> dict[str, Any]:
    """The eval figures of ``variant`` at the last checkpoint: mean, interval and n per figure."""
    at = max(report["checkpoints"])
    line: dict[str, Any] = {"variant": variant, "axis": axis, "at": at, "seeds": seeds}
    for cell in report["cells"]:
        if cell["section"] != "race" or cell["kind"] != "eval" or cell["subject"] != variant or cell["at"] != at:
            continue
        if cell["statistic"] in FIGURES:
            interval = None if cell["low"] is None else [round(cell["low"], 4), round(cell["high"], 4)]
            value = None if cell["value"] is None else round(cell["value"], 4)
            line[cell["statistic"]] = {"mean": value, "ci95": interval, "runs_with_value": cell["runs_with_value"]}
            line["map"] = cell["map"]
    for cell in report["cells"]:
        if cell["section"] == "duration" and cell["subject"].startswith(f"{variant}-s"):
            durations = line.setdefault("durations", {}).setdefault(cell["subject"], {})
            durations[cell["statistic"]] = round(cell["value"], 3)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "rl" / "cpu.yaml")
    parser.add_argument("--variant", action="append", default=[], help="NAME or NAME=key=value,... (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="Wall-time budget of each run (default 5); with --batches or --frames, a stop on top of the budget "
        "(default none: the budget alone ends the run).",
    )
    parser.add_argument(
        "--batches",
        type=int,
        default=None,
        help="Gradient-batch budget of each run (compared on the batch axis, so load beside the runs changes how "
        "long they take, not what they reach).",
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=None,
        help="Frame budget of each run instead (compared on the frame axis, as --batches is on batches).",
    )
    parser.add_argument("--map", default=None, help="Train and race on this map only (name or .npy file).")
    parser.add_argument("--cores-per-run", type=int, default=2)
    parser.add_argument(
        "--window",
        default=None,
        help="Span of the eval finish rate at the end (default 2m; with --batches or --frames, a fifth of the budget).",
    )
    parser.add_argument("--work", type=Path, default=Path("runs-learning"), help="Folder of the runs and logs.")
    parser.add_argument("--cuda", action="store_true", help="Let the runs see the GPU.")
    parser.add_argument("--analyze-only", action="store_true", help="Summarise the runs already in --work.")
    args = parser.parse_args()
    if args.batches and args.frames:
        raise SystemExit("give --batches or --frames, not both")
    args.budget_axis = "batches" if args.batches else "frames"
    args.budget = args.batches or args.frames
    if args.minutes is None and not args.budget:
        args.minutes = 5.0
    if args.map and args.map.endswith(".npy"):
        args.map = str(Path(args.map).resolve())
    args.work.mkdir(parents=True, exist_ok=True)
    variants = [parse_variant(text) for text in args.variant or ["base"]]
    if len({name for name, _ in variants}) != len(variants):
        raise SystemExit("two variants share a name")
    if not args.analyze_only:
        run_all([Run(name, seed, sets) for seed in args.seeds for name, sets in variants], args)
    report = analyze([name for name, _ in variants], args)
    for name, _ in variants:
        axis = args.budget_axis if args.budget else "wall_minutes"
        print(json.dumps(summarise(report, name, args.seeds, axis)), flush=True)


if __name__ == "__main__":
    main()
