"""The best race of a run per map (DESIGN §6): ``best/<map>/{weights.pt, actions.json}``; ``rl.checkpoint`` saves it.

A new best is written into ``best/.<map>.new/`` and swapped in with two renames (``<map>`` → ``.<map>.old``,
``.<map>.new`` → ``<map>``); a crash between them is repaired on the next call of ``best_dirs``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from hairpin.runfiles.checkpoints import CheckpointError

__all__ = ["ACTIONS", "WEIGHTS", "best_dirs", "peek_best_race", "read_best_race"]

ACTIONS = "actions.json"
WEIGHTS = "weights.pt"


def best_dirs(run_dir: str | Path, map_name: str) -> tuple[Path, Path, Path]:
    """``best/<map>``, ``best/.<map>.new`` and ``best/.<map>.old``, after repairing a swap a crash interrupted."""
    if not map_name or map_name.startswith(".") or any(sep in map_name for sep in ("/", "\\", os.sep)):
        raise ValueError(f"map name {map_name!r} cannot be a folder name")
    best = Path(run_dir) / "best"
    final, new, old = best / map_name, best / f".{map_name}.new", best / f".{map_name}.old"
    if not final.exists():
        for candidate in (new, old):  # the new folder is complete once its actions.json exists
            if (candidate / ACTIONS).exists():
                os.replace(candidate, final)
                break
    for leftover in (new, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    return final, new, old


def read_best_race(run_dir: str | Path, map_name: str) -> dict[str, Any] | None:
    """The stored ``actions.json`` of the best race on ``map_name``, or None when there is none."""
    final, _, _ = best_dirs(run_dir, map_name)
    path = final / ACTIONS
    if not path.exists():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: not a best-race record: {error}") from error


def peek_best_race(run_dir: str | Path, map_name: str) -> dict[str, Any] | None:
    """The best race on ``map_name`` as it stands, for a reader beside the run's writer: nothing repaired or moved;
    None when there is none or it is being swapped."""
    try:
        record = json.loads((Path(run_dir) / "best" / map_name / ACTIONS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "race_time_ms" in record else None
