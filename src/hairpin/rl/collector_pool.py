"""The local collector backend: collector processes on this machine (spawn), watched and replaced when one dies.

Races come through the spool and pipes of ``race_channel``, weights through ``SharedWeights``, the learner's frame
count and hold through lock-free shared values (``lockfree``), so a collector killed at any instant blocks nothing.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.multiprocessing as mp
from torch import nn

from hairpin.config.rl import RLConfig
from hairpin.nets import IQNNetwork
from hairpin.rl.collector import WAIT_POLL_S, collect
from hairpin.rl.collectors import CollectorCrashLoopError, CrashLoopGuard, EventSink
from hairpin.rl.lockfree import RaceSlots, SharedFlag
from hairpin.rl.race_channel import RaceInbox, RaceRecord, make_spool, remove_dead_spools, send_race
from hairpin.rl.race_ledger import RaceLedger
from hairpin.rl.shared_weights import SharedWeights

__all__ = ["CollectorCrashLoopError", "CollectorLinks", "CollectorPool", "collector_main"]

JOIN_TIMEOUT_S = 10.0


class CollectorLinks(NamedTuple):
    """What every local collector shares with the learner."""

    weights: SharedWeights
    frames_played: Any  # multiprocessing.Value('q'): the learner's cumul_number_frames_played
    may_run: SharedFlag  # cleared while the learner is behind its replay ratio
    stop: SharedFlag
    slots: RaceSlots  # races that may wait for the learner
    spool: Path  # directory the race files go through


class LocalPort:
    """The collector loop's port in a collector process: shared memory, the spool and this collector's pipe."""

    def __init__(self, index: int, links: CollectorLinks, conn: Connection) -> None:
        self.index, self.links, self.conn = index, links, conn
        self.parent = os.getppid()

    def running(self) -> bool:
        """Not stopped, and the learner that started this collector is still its parent (a learner killed with
        SIGKILL cannot tell its collectors to stop, so they notice it is gone)."""
        return not self.links.stop.is_set() and os.getppid() == self.parent

    def wait_to_run(self, timeout: float) -> bool:
        return self.links.may_run.wait(timeout)

    def pull(self, net: IQNNetwork, version: int) -> int:
        return self.links.weights.pull(net, version)

    def frames_played(self) -> int:
        return int(self.links.frames_played.value)

    def send(self, record: RaceRecord) -> bool:
        while self.running():
            if self.links.slots.wait_for_room(self.index, WAIT_POLL_S):
                send_race(self.conn, self.links.spool, record)
                self.links.slots.mark_sent(self.index)
                return True
        return False


def collector_main(
    index: int, incarnation: int, cfg: RLConfig, links: CollectorLinks, conn: Connection, seed: int
) -> None:
    """Entry point of a collector process; races go out through ``conn``."""
    torch.set_num_threads(1)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    port = LocalPort(index, links, conn)
    try:
        with ExitStack() as resources:  # the game connection and the emulator a game collector started
            collect(index, incarnation, cfg, port, seed, resources)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the learner handles it
        pass
    except (BrokenPipeError, ConnectionResetError):
        pass  # the learner closed its end of the pipe: it stopped or died; nothing to report
    except FileNotFoundError:
        if port.running():
            raise
        # the spool went with the learner that died: nothing to report


class CollectorPool:
    """``performance.gpu_collectors_count`` collector processes; their races arrive in ``inbox``."""

    def __init__(self, cfg: RLConfig, net: nn.Module, seed: int) -> None:
        self.cfg = cfg
        self.seed = seed
        self.ledger = RaceLedger()
        for spool in remove_dead_spools():  # a learner killed with SIGKILL cannot remove its own
            self.ledger.events.append(("spool_removed", f"removed {spool}, left by a learner that no longer runs"))
        self.ctx = mp.get_context("spawn")
        self.links = CollectorLinks(
            weights=SharedWeights(net, self.ctx),
            frames_played=self.ctx.Value("q", 0, lock=False),
            may_run=SharedFlag(self.ctx, True),
            stop=SharedFlag(self.ctx),
            slots=RaceSlots(self.ctx, cfg.performance.gpu_collectors_count, cfg.performance.max_pending_races),
            spool=make_spool(),
        )
        self.inbox = RaceInbox(self.links.spool, self.links.slots)
        self.processes: list[Any] = []
        self.incarnations: list[int] = []
        self.guard = CrashLoopGuard()

    @property
    def restarts(self) -> int:
        return self.guard.restarts

    def _spawn(self, index: int) -> Any:
        seed = self.seed * 1_000_003 + 7919 * index + 104_729 * self.restarts
        reader, writer = self.ctx.Pipe(duplex=False)
        process = self.ctx.Process(
            target=collector_main,
            args=(index, self.incarnations[index], self.cfg, self.links, writer, seed),
            name=f"hairpin-collector-{index}",
            daemon=True,
        )
        process.start()
        writer.close()  # the child holds the only write end, so its death shows as end-of-file
        self.inbox.attach(index, reader)
        return process

    def start(self) -> None:
        self.incarnations = [0] * self.cfg.performance.gpu_collectors_count
        self.processes = [self._spawn(i) for i in range(len(self.incarnations))]

    def publish(self, net: nn.Module) -> int:
        return self.links.weights.publish(net)

    def receive(self, timeout: float) -> list[RaceRecord]:
        return [record for record in self.inbox.receive(timeout) if self.ledger.accept(record)]

    def set_frames_played(self, frames: int) -> None:
        self.links.frames_played.value = frames

    def set_may_run(self, may_run: bool) -> None:
        (self.links.may_run.set if may_run else self.links.may_run.clear)()

    def check_health(self, on_event: EventSink) -> None:
        """Restart every collector that died."""
        if not self.links.stop.is_set():
            for index, process in enumerate(self.processes):
                if not process.is_alive():
                    self.guard.record(f"last exit code {process.exitcode}")
                    message = f"collector {index} died (exit code {process.exitcode}); started a new one"
                    self.ledger.events.append(("collector_restarted", message))
                    self.inbox.detach(index)
                    self.incarnations[index] += 1
                    self.processes[index] = self._spawn(index)
        for kind, message in self.ledger.drain_events():
            on_event(kind, message)

    def stop(self) -> None:
        """Ask every collector to stop, make sure each has, and remove the spool."""
        self.links.stop.set()
        self.links.may_run.set()
        for process in self.processes:
            process.join(JOIN_TIMEOUT_S)
            if process.is_alive():
                process.terminate()
                process.join(JOIN_TIMEOUT_S)
        self.inbox.close()
