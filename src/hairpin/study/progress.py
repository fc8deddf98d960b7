"""What a node's outputs on disk say: complete or not, and how far along (frames, batches, best lap, epochs).

RL runs are read through their files (DESIGN §6, ``hairpin.runfiles``, which needs no torch): ``run.json``
(sessions and the ``stop`` event), the latest checkpoint's counters (frames, batches, training hours) and the best
race per map. Pretraining runs are complete when their
``manifest.json`` exists (written last, DESIGN §5); datasets when their ``hairpin.json`` exists (the writer renames
the finished dataset into place).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hairpin.runfiles.best import peek_best_race
from hairpin.runfiles.checkpoints import CheckpointError, read_counters
from hairpin.runfiles.manifest import MANIFEST, RunManifest, RunManifestError
from hairpin.study.plan import Node

__all__ = [
    "BUDGET_STOPS",
    "Progress",
    "checkpoint_counters",
    "node_progress",
    "outputs_complete",
    "rebased",
    "rl_stop",
]

BUDGET_STOPS = ("max_frames", "max_batches", "max_minutes", "early stop")
"""Beginnings of the trainer's stop reasons that end a run as planned (its budget, or its own early stop)."""


@dataclass(frozen=True)
class Progress:
    """How far a node got; None where it cannot be told."""

    frames: int | None = None
    batches: int | None = None
    training_minutes: float | None = None
    best: str | None = None
    """The best lap so far, ``map 27.31 s``."""
    fraction: float | None = None
    """Share of the budget (RL) or of the epochs (pretraining) done, 0–1."""


def checkpoint_counters(run_dir: Path) -> dict[str, Any] | None:
    """The counters of the run's latest checkpoint (frames, batches, training hours), or None without a readable
    one (a run being written is read as it stands)."""
    try:
        return read_counters(run_dir)
    except (CheckpointError, OSError):
        return None


def best_lap(run_dir: Path, maps: list[str]) -> str | None:
    """The best stored race on the first of ``maps`` that has one (any map when ``maps`` is empty)."""
    best = run_dir / "best"
    names = maps or (sorted(p.name for p in best.iterdir() if not p.name.startswith(".")) if best.is_dir() else [])
    for name in names:
        record = peek_best_race(run_dir, name)
        if record is not None:
            return f"{name} {int(record['race_time_ms']) / 1000:.2f} s"
    return None


def rl_stop(run_dir: Path) -> tuple[bool, str | None]:
    """(whether the run ended as planned, the last stop reason) from run.json."""
    try:
        manifest = RunManifest.load(run_dir)
    except RunManifestError:
        return False, None
    stops = [event.message for event in manifest.events if event.kind == "stop"]
    last = stops[-1] if stops else None
    ended = bool(manifest.sessions) and manifest.sessions[-1].end is not None
    return ended and last is not None and last.startswith(BUDGET_STOPS), last


def outputs_complete(node: Node) -> bool:
    """Whether the node's outputs are all there (a dataset, an exported pretraining run, an RL run at its end)."""
    if node.kind in ("dataset", "demos"):
        return (node.output / "hairpin.json").is_file()
    if node.kind in ("vis", "bc"):
        return (node.output / "manifest.json").is_file()
    return (node.output / MANIFEST).is_file() and rl_stop(node.output)[0]


def _pretrain_progress(node: Node) -> Progress:
    metrics = node.output / "metrics.csv"
    try:
        epochs = max(0, len(metrics.read_text(encoding="utf-8").splitlines()) - 1)
    except OSError:
        return Progress()
    total = getattr(getattr(node.config, "train", None), "epochs", None)
    return Progress(fraction=min(1.0, epochs / total) if total else None)


def _budget_fraction(node: Node, progress: Progress, offset: dict[str, float] | None) -> float | None:
    """Share of the node's budget done, counted from ``offset`` (the counters its run started at)."""
    if node.budget is None:
        return None
    axis, amount = node.budget
    done = {"frames": progress.frames, "batches": progress.batches, "minutes": progress.training_minutes}[axis]
    if done is None:
        return None
    return min(1.0, max(0.0, (float(done) - (offset or {}).get(axis, 0.0)) / amount))


def rebased(node: Node, progress: Progress, offset: dict[str, float] | None) -> Progress:
    """``progress`` of an RL run with its budget share counted from ``offset`` (a worker reports it from zero)."""
    if node.kind != "rl":
        return progress
    return replace(progress, fraction=_budget_fraction(node, progress, offset))


def node_progress(node: Node, eval_maps: list[str], offset: dict[str, float] | None = None) -> Progress:
    """How far ``node`` got; ``offset``: counters the run started at (an ``init_from`` run keeps the other's)."""
    if node.kind in ("vis", "bc"):
        return _pretrain_progress(node)
    if node.kind != "rl":
        return Progress()
    counters = checkpoint_counters(node.output) or {}
    hours = counters.get("cumul_training_hours")
    progress = Progress(
        frames=counters.get("cumul_number_frames_played"),
        batches=counters.get("cumul_number_batches_done"),
        training_minutes=float(hours) * 60 if isinstance(hours, int | float) else None,
        best=best_lap(node.output, eval_maps),
    )
    return rebased(node, progress, offset)
