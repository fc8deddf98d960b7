"""The local backend of a study: each node is a subprocess of the ``hairpin`` CLI on this machine.

Nodes start side by side within the machine's cores: an RL run counts its collector processes + 1 learner, other
nodes 1 (a node larger than the machine runs alone). GPUs are not counted: runs on a GPU machine share its GPUs
(``performance.device``), as separate trainings would. Children get SIGINT when the study process dies (Linux
``PR_SET_PDEATHSIG``: an RL run then saves a checkpoint and exits).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from hairpin.study.plan import Node
from hairpin.study.progress import Progress, node_progress

__all__ = ["LocalBackend", "LocalProcess", "die_with_parent", "hairpin_process"]

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child get SIGINT when ``parent`` dies (Linux only; None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None

    def preexec() -> None:
        import ctypes

        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a study started in the background (`&`) has SIGINT ignored
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def hairpin_process(
    command: list[str], log: Path, *, python: str = sys.executable, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """``python -m hairpin.cli COMMAND`` appending its output to ``log``, dying with this process (Linux)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "160"}
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [python, "-m", "hairpin.cli", *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            preexec_fn=die_with_parent(os.getpid()),  # the main thread spawns every child
        )


class LocalProcess:
    """A node's subprocess (the executor's ``NodeProcess``)."""

    def __init__(self, process: subprocess.Popen[bytes], node: Node) -> None:
        self.process, self.node = process, node
        self.pid: int | None = process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def progress(self, eval_maps: list[str], offset: dict[str, float]) -> Progress:
        return node_progress(self.node, eval_maps, offset)

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


class LocalBackend:
    """Runs nodes as subprocesses within ``cores`` cores."""

    where = "local"

    def __init__(self, cores: int, *, python: str = sys.executable) -> None:
        self.cores, self.python = max(1, cores), python

    def fits(self, node: Node, running: list[Node]) -> bool:
        """Within the cores; a node that needs more than the machine has runs alone."""
        busy = sum(min(other.cpus, self.cores) for other in running)
        return busy + min(node.cpus, self.cores) <= self.cores

    def start(self, node: Node, command: list[str], log: Path, config_file: Path) -> LocalProcess:
        return LocalProcess(hairpin_process(command, log, python=self.python), node)
