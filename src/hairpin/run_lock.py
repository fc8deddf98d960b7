"""A run directory belongs to one process: ``RunLock`` holds ``<dir>/run.lock`` while the process writes the run.

The lock is an advisory OS lock on the open file (``flock`` on POSIX, ``msvcrt.locking`` on Windows), so the OS
drops it the instant its holder exits, however it dies (SIGKILL included): a stale lock cannot outlive its process
and there is no pid guessing. The file also holds who took it (pid, host, since when, command), read back to name
the holder when a second process is refused, and to note a take-over when the last holder died without releasing
it (the file still names it, but nobody holds the OS lock). On a network file system the OS lock is only as good as
that file system's locking (NFSv4 supports it). The Windows branch follows the documented ``msvcrt`` API and has not
been run here.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hairpin.errors import HairpinError

__all__ = ["LOCK_FILE", "RunLock", "RunLockedError"]

LOCK_FILE = "run.lock"
_WINDOWS_LOCK_OFFSET = 1 << 20
"""Windows locks a byte range, which others then cannot read: lock a byte far past the holder record."""


class RunLockedError(HairpinError):
    """Another live process is writing this run."""


def _try_os_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    return True


def _read_holder(fd: int) -> dict[str, Any] | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    try:
        holder = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return holder if isinstance(holder, dict) else None


def _describe(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "an unknown process"
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} since {holder.get('since', '?')}"


class RunLock:
    """Hold ``directory/run.lock`` for this process; ``acquire`` raises RunLockedError naming a live holder."""

    def __init__(self, directory: str | Path, what: str = "run") -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self.what = what
        self._fd: int | None = None
        self.took_over: str | None = None
        """Who held the lock last without releasing it (a dead process), when ``acquire`` took it over."""

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        if self._fd is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_os_lock(fd):
                holder = _read_holder(fd)
                raise RunLockedError(
                    f"{self.directory}: this {self.what} is being written by {_describe(holder)}; stop that process "
                    f"or choose another name (lock: {self.path})"
                )
            previous = _read_holder(fd)
            self.took_over = _describe(previous) if previous else None
            record = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": " ".join(sys.argv),
            }
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(record).encode("utf-8"))
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the holder record (a clean exit leaves nothing to take over) and drop the OS lock."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass  # a full or read-only disk: the record stays, and the next start notes a take-over
        finally:
            os.close(fd)  # closing the descriptor drops the OS lock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
