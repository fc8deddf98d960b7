"""How races travel from collectors to the learner, safely even when a collector is killed mid-send.

A multiprocessing queue is not: a writer killed while it holds the queue's lock, or halfway through a large
message, leaves every reader and writer blocked forever. So a race's arrays go into a file of a spool directory
(written under a temporary name, then renamed), and only a small message (< 4 KiB, so one atomic pipe write) goes
through the collector's own pipe. A dead collector leaves at most a temporary file, which nobody reads, and a pipe
that reports end-of-file; the races it announced before dying are still taken. ``RaceSlots`` bounds the races
waiting for the learner: collectors wait, nothing is dropped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hairpin.processes import pid_alive
from hairpin.rl.lockfree import RaceSlots

__all__ = ["RaceInbox", "RaceRecord", "make_spool", "remove_dead_spools", "send_race", "spool_root"]


class RaceRecord(NamedTuple):
    """One race, as a collector sends it to the learner."""

    collector: int
    entry: int  # index of the map-cycle entry
    frames: np.ndarray  # (T + 1, 1, H, W) uint8
    floats: np.ndarray  # (T + 1, F) float32
    actions: np.ndarray  # (T,) int64
    rewards: np.ndarray  # (T,) float32
    greedy: np.ndarray  # (T,) bool: the action was argmax Q (False: a random or Boltzmann-noisy one)
    terminated: bool  # crossed the finish
    race_time_ms: int
    mean_q: float  # mean over the race of the chosen action's Q
    weights_version: int
    start_m: float = 0.0  # where the race started along the line (> 0: a random start, not a lap)
    incarnation: int = 0  # which life of its collector drove it (a restarted collector is a new incarnation)
    sequence: int = 0  # its number among the races of that incarnation, from 0, with no gap
    ended_unix: float = 0.0  # when it ended (time.time() on the collector's machine)
    progress: float = 0.0  # share of the line from its start to the finish that it covered (1.0: finished)
    stalled: bool = False  # cut off for lack of progress


ARRAYS = ("frames", "floats", "actions", "rewards", "greedy")
MAX_MESSAGE_BYTES = 4096


SPOOL_PREFIX = "hairpin-races-"


def spool_root() -> Path:
    """Where spools live: in memory (/dev/shm) where the system has it, else the temporary directory."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() else Path(tempfile.gettempdir())


def make_spool(root: Path | None = None) -> Path:
    """A fresh spool directory named after this process (``hairpin-races-<pid>-…``), so a later run can tell that
    a spool's learner is dead."""
    return Path(tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-", dir=root or spool_root()))


def remove_dead_spools(root: Path | None = None) -> list[Path]:
    """Remove the spools whose learner no longer runs (a learner killed with SIGKILL cannot remove its own)."""
    removed = []
    for spool in sorted((root or spool_root()).glob(f"{SPOOL_PREFIX}*")):
        owner = spool.name[len(SPOOL_PREFIX) :].split("-", 1)[0]
        if spool.is_dir() and owner.isdigit() and not pid_alive(int(owner)):
            shutil.rmtree(spool, ignore_errors=True)
            removed.append(spool)
    return removed


def send_race(conn: Connection, spool: Path, record: RaceRecord) -> None:
    """Write the race's arrays to the spool, then announce it with a small message."""
    path = spool / f"race-{record.collector}-{os.getpid()}-{record.sequence}.npz"
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **{name: getattr(record, name) for name in ARRAYS})
    os.replace(tmp, path)
    meta = {k: v for k, v in record._asdict().items() if k not in ARRAYS}
    conn.send((str(path), meta))


def _load(path: str, meta: dict[str, Any]) -> RaceRecord:
    with np.load(path) as arrays:
        record = RaceRecord(**meta, **{name: arrays[name] for name in ARRAYS})
    os.unlink(path)
    return record


class RaceInbox:
    """The learner's end: one pipe per collector, the spool directory, and the pending-race counts."""

    def __init__(self, spool: Path, slots: RaceSlots) -> None:
        self.spool = spool
        self.slots = slots
        self.conns: dict[int, Connection] = {}
        self._backlog: list[RaceRecord] = []

    def attach(self, index: int, conn: Connection) -> None:
        """Read collector ``index`` from ``conn`` from now on."""
        self.conns[index] = conn

    def detach(self, index: int) -> None:
        """Take every race a dead collector announced, close its pipe and free its slots for its replacement."""
        conn = self.conns.pop(index, None)
        if conn is not None:
            self._backlog.extend(self._drain(index, conn))
            conn.close()
        self.slots.reset(index)

    def receive(self, timeout: float) -> list[RaceRecord]:
        """Every race announced so far, waiting up to ``timeout`` seconds for the first."""
        records, self._backlog = self._backlog, []
        if records:
            timeout = 0.0
        ready = {id(c) for c in wait(list(self.conns.values()), timeout)}
        for index, conn in self.conns.items():
            if id(conn) in ready:
                records.extend(self._drain(index, conn))
        return records

    def _drain(self, index: int, conn: Connection) -> list[RaceRecord]:
        records = []
        while True:
            try:
                if not conn.poll():
                    break
                path, meta = conn.recv()
            except (EOFError, OSError):  # the collector died; CollectorPool replaces it
                break
            records.append(_load(path, meta))
            self.slots.mark_taken(index)
        return records

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
        shutil.rmtree(self.spool, ignore_errors=True)
