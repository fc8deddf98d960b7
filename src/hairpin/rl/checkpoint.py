"""Saving and loading run checkpoints (online, target, optimizer, counters) and the best race per map, with torch.

The layout and the readers that need no torch are ``hairpin.runfiles.checkpoints`` and ``hairpin.runfiles.best``.
A save (1) takes the id k = 1 + the largest id present, so it never writes into an existing folder; (2) writes
online.pt, target.pt and optimizer.pt (plain state dicts, ``torch.load(path, weights_only=True)``) into
``ckpt-<k>/``, each atomically; (3) writes counters.json LAST, with each file's size and SHA-256; (4) atomically
replaces ``latest`` with ``ckpt-<k>`` — the commit point; (5) deletes all but the new folder and the ``keep - 1``
newest committed before it, so also any a crash left uncommitted. A crash (even SIGKILL) before (4) leaves
``latest`` on the previous complete checkpoint, which the save never touched. Loading reads only the folder
``latest`` names and checks that counters.json's checkpoint_id is that folder's and that every .pt file has the size
and SHA-256 counters.json recorded, so weights are never paired with another save's counters. Anything wrong raises
CheckpointError before any module is changed; nothing starts fresh silently (a complete folder without ``latest``,
left by a crash inside the very first save, is an error that says what to do).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hairpin.atomic import atomic_write_bytes, atomic_write_text, fsync_dir
from hairpin.nets.state_dict import compare_state_dict, load_weights
from hairpin.runfiles.best import ACTIONS, WEIGHTS, best_dirs, read_best_race
from hairpin.runfiles.checkpoints import (
    COUNTERS,
    FOLDER,
    LATEST,
    CheckpointError,
    folder_ids,
    latest_checkpoint,
    read_record,
)

__all__ = [
    "check_state_dict",
    "load_checkpoint",
    "load_state_dict_strict",
    "read_online_state",
    "save_best_race",
    "save_checkpoint",
]

STATE_FILES = ("online.pt", "target.pt", "optimizer.pt")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _shape(value: Any) -> str:
    return str(tuple(value.shape)) if isinstance(value, Tensor) else f"non-tensor {type(value).__name__}"


def check_state_dict(module: nn.Module, state: Any, source: str) -> None:
    """Raise CheckpointError naming every missing, unexpected and mis-shaped tensor of ``state`` for ``module``."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{source}: holds a {type(state).__name__}, not a state dict")
    expected = module.state_dict()
    diff = compare_state_dict(module, state)
    problems = [f"missing {key} {_shape(expected[key])}" for key in diff.missing]
    problems += [f"unexpected {key} {_shape(state[key])}" for key in diff.unexpected]
    problems += [
        f"mis-shaped {key}: checkpoint {_shape(state[key])}, module {_shape(expected[key])}" for key in diff.mis_shaped
    ]
    if problems:
        raise CheckpointError(f"{source} does not fit {type(module).__name__}:\n  " + "\n  ".join(problems))


def load_state_dict_strict(module: nn.Module, state: Any, source: str) -> None:
    """Load ``state`` into ``module`` only when every key and shape matches; else CheckpointError, nothing loaded."""
    check_state_dict(module, state, source)
    module.load_state_dict(state, strict=True)


def _check_optimizer_state(optimizer: torch.optim.Optimizer, state: Any, source: str) -> None:
    """Raise CheckpointError when ``state`` has other parameter groups or moment shapes than ``optimizer``."""
    if not isinstance(state, Mapping) or not {"state", "param_groups"} <= state.keys():
        raise CheckpointError(f"{source}: not an optimizer state dict")
    saved = [list(group["params"]) for group in state["param_groups"]]
    ours = [list(group["params"]) for group in optimizer.param_groups]
    if [len(ids) for ids in saved] != [len(params) for params in ours]:
        sizes = [len(ids) for ids in saved], [len(params) for params in ours]
        raise CheckpointError(f"{source}: parameter groups of sizes {sizes[0]}, the optimizer has {sizes[1]}")
    problems = [
        f"parameter {saved_id} {name}: checkpoint {_shape(value)}, parameter {_shape(param)}"
        for ids, params in zip(saved, ours, strict=True)
        for saved_id, param in zip(ids, params, strict=True)
        for name, value in state["state"].get(saved_id, {}).items()
        if isinstance(value, Tensor) and value.dim() > 0 and value.shape != param.shape
    ]
    if problems:
        raise CheckpointError(f"{source} does not fit the optimizer:\n  " + "\n  ".join(problems))


def _to_cpu(obj: Any) -> Any:
    """A copy of a (nested) state dict with every tensor on the CPU; a state dict's ``_metadata`` is kept."""
    if isinstance(obj, Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        items = [(key, _to_cpu(value)) for key, value in obj.items()]
        copy: dict[Any, Any] = OrderedDict(items) if isinstance(obj, OrderedDict) else dict(items)
        if hasattr(obj, "_metadata"):
            copy._metadata = obj._metadata  # type: ignore[attr-defined]
        return copy
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(value) for value in obj)
    return obj


def _serialise(state: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(_to_cpu(state), buffer)
    return buffer.getvalue()


def save_checkpoint(
    run_dir: str | Path,
    *,
    online: nn.Module,
    target: nn.Module,
    optimizer: torch.optim.Optimizer,
    counters: Mapping[str, Any],
    keep: int = 2,
) -> Path:
    """Save a complete checkpoint (scheme in the module docstring); returns its folder. ``keep`` >= 1 are kept."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    root = Path(run_dir) / "checkpoints"
    states = (online.state_dict(), target.state_dict(), optimizer.state_dict())
    payloads = {name: _serialise(state) for name, state in zip(STATE_FILES, states, strict=True)}
    committed = latest_checkpoint(root)  # an inconsistent checkpoints/ stops the save, as it stops a load
    previous = committed[0] if committed else 0
    checkpoint_id = max([previous, *folder_ids(root)]) + 1
    files = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in payloads.items()}
    record = {"checkpoint_id": checkpoint_id, "saved_at": _now(), "files": files, "counters": dict(counters)}
    try:
        record_text = json.dumps(record, indent=2) + "\n"
    except (TypeError, ValueError) as error:
        raise ValueError(f"counters must be JSON-serialisable: {error}") from error
    folder = root / f"ckpt-{checkpoint_id:06d}"
    folder.mkdir(parents=True)
    fsync_dir(root)
    for name, data in payloads.items():
        atomic_write_bytes(folder / name, data)
    atomic_write_text(folder / COUNTERS, record_text)
    atomic_write_text(root / LATEST, folder.name + "\n")
    _prune(root, checkpoint_id, previous, keep)
    return folder


def _prune(root: Path, current: int, previous: int, keep: int) -> None:
    """Keep ``current`` and the ``keep - 1`` newest complete folders up to ``previous``, the last committed one.

    Folders between ``previous`` and ``current`` are saves a crash left uncommitted; each save deletes them, so
    every complete folder up to ``previous`` was committed once. Stray temporary files go too.
    """
    folders = folder_ids(root)
    committed = sorted(i for i, path in folders.items() if i <= previous and (path / COUNTERS).exists())
    kept = set(committed[max(0, len(committed) - keep + 1) :]) | {current}
    for checkpoint_id, path in folders.items():
        if checkpoint_id not in kept:
            shutil.rmtree(path)
    for stray in root.glob(".*.tmp"):
        stray.unlink(missing_ok=True)


def _read_state(path: Path, entry: Mapping[str, Any] | None) -> Any:
    """Load one .pt file (weights only, on the CPU) after checking its size and SHA-256 against counters.json."""
    if entry is None:
        raise CheckpointError(f"{path.parent / COUNTERS} does not list {path.name}")
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise CheckpointError(f"{path} is missing") from error
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != entry.get("bytes") or digest != entry.get("sha256"):
        raise CheckpointError(
            f"{path}: {len(data)} bytes, SHA-256 {digest[:12]}…, but {COUNTERS} records {entry.get('bytes')} bytes, "
            f"SHA-256 {str(entry.get('sha256'))[:12]}…: not the file saved with these counters"
        )
    return load_weights(data, str(path), error=CheckpointError)


def read_online_state(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The verified online weights and counters of a run directory (its latest checkpoint) or of one checkpoint
    folder (``ckpt-<k>``), without a module to load them into."""
    path = Path(path)
    latest = latest_checkpoint(path / "checkpoints") if (path / "checkpoints").is_dir() else None
    if latest is None:
        match = FOLDER.fullmatch(path.name)
        if match is None or not path.is_dir():
            raise CheckpointError(f"{path}: neither a run directory with a checkpoint nor a checkpoint folder")
        latest = int(match.group(1)), path
    checkpoint_id, folder = latest
    record = read_record(folder, checkpoint_id)
    return _read_state(folder / "online.pt", record["files"].get("online.pt")), dict(record["counters"])


def load_checkpoint(
    run_dir: str | Path, *, online: nn.Module, target: nn.Module, optimizer: torch.optim.Optimizer | None
) -> dict[str, Any] | None:
    """Load the latest checkpoint into the modules (and optimizer); its counters, or None when there is none.

    The optimizer gets its saved param_groups too (learning rate included): set scheduled values after loading.
    """
    latest = latest_checkpoint(Path(run_dir) / "checkpoints")
    if latest is None:
        return None
    checkpoint_id, folder = latest
    try:
        record = read_record(folder, checkpoint_id)
        names = STATE_FILES if optimizer is not None else STATE_FILES[:2]
        states = {name: _read_state(folder / name, record["files"].get(name)) for name in names}
    except CheckpointError as error:
        raise CheckpointError(f"{error}; {_way_out(folder)}") from error
    check_state_dict(online, states["online.pt"], str(folder / "online.pt"))
    check_state_dict(target, states["target.pt"], str(folder / "target.pt"))
    if optimizer is not None:
        _check_optimizer_state(optimizer, states["optimizer.pt"], str(folder / "optimizer.pt"))
    online.load_state_dict(states["online.pt"], strict=True)
    target.load_state_dict(states["target.pt"], strict=True)
    if optimizer is not None:
        optimizer.load_state_dict(states["optimizer.pt"])
    return dict(record["counters"])


def _way_out(damaged: Path) -> str:
    """What to do about a damaged checkpoint folder: resume from an older complete one, if the run kept one."""
    root = damaged.parent
    older = sorted(
        (path for i, path in folder_ids(root).items() if path != damaged and (path / COUNTERS).exists()),
        key=lambda path: path.name,
    )
    if older:
        return (
            f"the checkpoint is damaged: to resume from the one before, write {older[-1].name!r} into {root / LATEST}"
        )
    return f"the checkpoint is damaged and no older one is kept: restore {damaged} from a backup or start a new run"


def save_best_race(
    run_dir: str | Path,
    map_name: str,
    *,
    race_time_ms: int,
    actions: Sequence[int] | np.ndarray,
    online: nn.Module | Mapping[str, Tensor],
    extra: Mapping[str, Any] | None = None,
    tick_keys: Sequence[Any] | None = None,
    step_ms: int = 50,
) -> bool:
    """Store weights (a module or its state dict) and actions (one per ``step_ms`` step) when ``race_time_ms``
    beats the stored best."""
    action_array = np.asarray(actions)
    if action_array.ndim != 1 or (action_array.size and not np.issubdtype(action_array.dtype, np.integer)):
        raise ValueError(f"actions must be a 1-D sequence of ints, got shape {action_array.shape} {action_array.dtype}")
    stored = read_best_race(run_dir, map_name)
    if stored is not None and int(stored["race_time_ms"]) <= race_time_ms:
        return False
    record: dict[str, Any] = {"map": map_name, "race_time_ms": int(race_time_ms), "saved_at": _now()}
    record |= {"step_ms": step_ms, "actions": action_array.astype(np.int64).tolist(), "extra": dict(extra or {})}
    if tick_keys is not None:
        record["tick_keys"] = list(tick_keys)
    text = json.dumps(record, indent=1) + "\n"
    final, new, old = best_dirs(run_dir, map_name)
    new.mkdir(parents=True)
    state = online.state_dict() if isinstance(online, nn.Module) else online
    atomic_write_bytes(new / WEIGHTS, _serialise(state))
    atomic_write_text(new / ACTIONS, text)
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    fsync_dir(final.parent)
    if old.exists():
        shutil.rmtree(old)
    return True
