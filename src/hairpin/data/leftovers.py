"""Temporary dataset folders left by writers that died (SIGKILL, power loss): removed when the next writer starts.

A ``DatasetWriter`` writes into ``ROOT/.NAME.tmp-*`` and, first thing, puts there ``.writer.json`` naming its pid
and host; the folder is renamed to ``ROOT/NAME`` when the dataset is finished (and the record removed), or removed
on any error. A folder left behind is one whose writer was killed. The next writer under ROOT removes such folders
when their record names this host and a pid that no process has (``hairpin.processes.pid_alive``: a recycled pid
counts as alive, so a folder is only ever kept by mistake, never removed by mistake). It keeps, and names, the
folders it cannot judge: no record (made by a hairpin before the record existed, or killed in the instant between
creating the folder and writing the record), or an unreadable one. Folders of other hosts (a shared file system)
are kept silently: their writers may well be alive.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hairpin.atomic import atomic_write_text
from hairpin.data.integrity import WRITER_RECORD
from hairpin.processes import pid_alive

__all__ = ["Leftovers", "remove_dead_writers", "temporary_prefix", "write_writer_record"]

_TEMPORARY = re.compile(r"\.(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*)\.tmp-.+")


def temporary_prefix(name: str) -> str:
    """The prefix of the temporary folders of dataset ``name`` (``tempfile.mkdtemp`` adds a random tail)."""
    return f".{name}.tmp-"


def write_writer_record(folder: Path) -> None:
    """Mark ``folder`` as written by this process of this host."""
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write_text(folder / WRITER_RECORD, json.dumps(record) + "\n")


def _read_record(folder: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((folder / WRITER_RECORD).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if isinstance(record, dict) and isinstance(record.get("pid"), int) and isinstance(record.get("host"), str):
        return record
    return None


@dataclass
class Leftovers:
    """What ``remove_dead_writers`` did under one root."""

    root: Path
    removed: list[tuple[Path, int]] = field(default_factory=list)
    """(folder, pid of its dead writer)"""
    unknown: list[Path] = field(default_factory=list)
    """Temporary folders without a readable writer record: kept."""

    def note(self) -> str | None:
        """One line saying what was removed and kept, or None when there was nothing to say."""
        parts = []
        if self.removed:
            listing = ", ".join(f"{path.name} (pid {pid})" for path, pid in self.removed)
            parts.append(
                f"removed {len(self.removed)} half-written dataset folder(s) of dead writers under {self.root}: "
                f"{listing}"
            )
        if self.unknown:
            listing = ", ".join(path.name for path in self.unknown)
            parts.append(
                f"kept {len(self.unknown)} temporary dataset folder(s) under {self.root} that name no writer: "
                f"{listing} (remove them by hand if no recording is running)"
            )
        return "; ".join(parts) if parts else None


def remove_dead_writers(root: Path) -> Leftovers:
    """Remove the temporary dataset folders under ``root`` whose writer, on this host, no longer runs."""
    done = Leftovers(Path(root))
    if not done.root.is_dir():
        return done
    host, me = socket.gethostname(), os.getpid()
    for folder in sorted(done.root.iterdir()):
        if not _TEMPORARY.fullmatch(folder.name) or not folder.is_dir() or folder.is_symlink():
            continue
        record = _read_record(folder)
        if record is None:
            done.unknown.append(folder)
        elif record["host"] == host and record["pid"] != me and not pid_alive(record["pid"]):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                done.removed.append((folder, record["pid"]))
    return done
