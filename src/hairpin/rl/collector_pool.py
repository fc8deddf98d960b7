"""Starts the collector processes (spawn), watches them, and replaces any that dies."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch.multiprocessing as mp

from hairpin.config.rl import RLConfig
from hairpin.nets import IQNNetwork
from hairpin.rl.collector import CollectorLinks, collector_main
from hairpin.rl.lockfree import RaceSlots, SharedFlag
from hairpin.rl.race_channel import RaceInbox, make_spool, remove_dead_spools
from hairpin.rl.shared_weights import SharedWeights

__all__ = ["CollectorCrashLoopError", "CollectorPool"]

JOIN_TIMEOUT_S = 10.0
CRASH_LOOP_RESTARTS = 5
"""More restarts than this within ``CRASH_LOOP_WINDOW_S`` means collectors cannot run: the run stops."""
CRASH_LOOP_WINDOW_S = 60.0


class CollectorCrashLoopError(RuntimeError):
    """Collectors die as fast as they are restarted (their error is in the output above)."""


class CollectorPool:
    """``performance.gpu_collectors_count`` collector processes; their races arrive in ``inbox``."""

    def __init__(self, cfg: RLConfig, net: IQNNetwork, seed: int) -> None:
        self.cfg = cfg
        self.seed = seed
        self.removed_spools = remove_dead_spools()
        """Spools of learners that died without removing them, removed now."""
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
        self.restarts = 0
        self._restart_times: list[float] = []

    def _spawn(self, index: int) -> Any:
        seed = self.seed * 1_000_003 + 7919 * index + 104_729 * self.restarts
        reader, writer = self.ctx.Pipe(duplex=False)
        process = self.ctx.Process(
            target=collector_main,
            args=(index, self.cfg, self.links, writer, seed),
            name=f"hairpin-collector-{index}",
            daemon=True,
        )
        process.start()
        writer.close()  # the child holds the only write end, so its death shows as end-of-file
        self.inbox.attach(index, reader)
        return process

    def start(self) -> None:
        self.processes = [self._spawn(i) for i in range(self.cfg.performance.gpu_collectors_count)]

    def replace_dead(self, on_restart: Callable[[int, int | None], None]) -> None:
        """Restart every collector that died; ``on_restart(index, exit_code)`` is told of each."""
        if self.links.stop.is_set():
            return
        for index, process in enumerate(self.processes):
            if not process.is_alive():
                now = time.monotonic()
                self._restart_times = [t for t in self._restart_times if now - t < CRASH_LOOP_WINDOW_S] + [now]
                if len(self._restart_times) > CRASH_LOOP_RESTARTS:
                    raise CollectorCrashLoopError(
                        f"collectors died {len(self._restart_times)} times in {CRASH_LOOP_WINDOW_S:.0f} s "
                        f"(last exit code {process.exitcode}); see their error above"
                    )
                self.restarts += 1
                on_restart(index, process.exitcode)
                self.inbox.detach(index)
                self.processes[index] = self._spawn(index)

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
