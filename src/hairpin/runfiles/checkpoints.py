"""The checkpoint layout of a run and its readers that need no torch (DESIGN §6); ``rl.checkpoint`` saves and loads.

Checkpoints live in numbered folders under ``runs/<run>/checkpoints/``; the file ``latest`` names the one to load::

    checkpoints/ckpt-000007/{online.pt, target.pt, optimizer.pt, counters.json}
    checkpoints/latest                      "ckpt-000007"

counters.json, written last in a save, holds ``{"checkpoint_id": k, "saved_at", "files": {name: {"bytes",
"sha256"}}, "counters": {...}}``; ``latest`` is replaced atomically once the folder is complete (the commit point).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hairpin.errors import HairpinError

__all__ = [
    "COUNTERS",
    "FOLDER",
    "LATEST",
    "CheckpointError",
    "folder_ids",
    "latest_checkpoint",
    "read_counters",
    "read_record",
]

LATEST = "latest"
COUNTERS = "counters.json"
FOLDER = re.compile(r"ckpt-(\d+)")
"""A checkpoint folder's name."""


class CheckpointError(HairpinError, RuntimeError):
    """A checkpoint exists but cannot be loaded; the message names the file and what is wrong."""


def folder_ids(root: Path) -> dict[int, Path]:
    """Every checkpoint folder under ``root`` by id (committed or not)."""
    if not root.is_dir():
        return {}
    matches = ((FOLDER.fullmatch(path.name), path) for path in root.iterdir() if path.is_dir())
    return {int(match.group(1)): path for match, path in matches if match}


def latest_checkpoint(root: Path) -> tuple[int, Path] | None:
    """Id and folder ``latest`` names; None when nothing was ever committed; CheckpointError when inconsistent."""
    latest = root / LATEST
    if not latest.exists():
        orphans = sorted(path.name for path in folder_ids(root).values() if (path / COUNTERS).exists())
        if orphans:
            raise CheckpointError(
                f"{latest} is missing but {orphans} hold counters: write the folder name to resume from into "
                f"{latest}, or delete the folders to start fresh"
            )
        return None
    name = latest.read_text(encoding="utf-8").strip()
    if not (match := FOLDER.fullmatch(name)) or not (root / name).is_dir():
        raise CheckpointError(f"{latest} names {name!r}, which is not a checkpoint folder in {root}")
    return int(match.group(1)), root / name


def read_record(folder: Path, checkpoint_id: int) -> dict[str, Any]:
    """The checked counters.json of checkpoint ``checkpoint_id`` in ``folder``."""
    path = folder / COUNTERS
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise CheckpointError(f"{path} is missing although {LATEST} names {folder.name}") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(record, dict) or not {"checkpoint_id", "files", "counters"} <= record.keys():
        raise CheckpointError(f"{path}: needs the keys checkpoint_id, files and counters")
    if record["checkpoint_id"] != checkpoint_id:
        raise CheckpointError(f"{path}: checkpoint_id {record['checkpoint_id']!r} but it lies in {folder.name}")
    return record


def read_counters(run_dir: Path) -> dict[str, Any] | None:
    """The counters (frames, batches, training hours) of the run's latest checkpoint, or None without one."""
    latest = latest_checkpoint(Path(run_dir) / "checkpoints")
    if latest is None:
        return None
    return dict(read_record(latest[1], latest[0])["counters"])
