"""The Ray backend of a study (``hairpin study FILE --ray ADDRESS|auto``): each node is a task on a Ray cluster.

Each node runs as one Ray task (``shipping.run_node``) that asks for the node's resources: an RL run's collector
processes + 1 learner in CPUs, pretraining 1 CPU, and one GPU when its config asks for ``cuda``. Ray places the
tasks; the study only caps them at ``--jobs``. The node's inputs go to the worker through Ray's object store (each
input once, however many tasks use it), and its outputs come back into the study folder before the node counts as
done, so the report needs nothing from the workers. A worker that dies mid-node has the task run again from the
same inputs on a live one (Ray's retries); an RL run interrupted that way starts again from where its last attempt
on the driver left it.

While a node runs, its task reports every ``shipping.REPORT_S`` how far its files say it is to the study's
``StudyBoard`` actor, which the driver's table reads. Ctrl-C asks each running task, through the board, to stop its
command (an RL run saves a checkpoint) and waits for its files to come back, so the next study run resumes where it
stopped; a task still queued is cancelled.

Every worker must have the same hairpin commit as the driver (a node refuses to run otherwise, naming both), and
files that a config names outside the study folder (a map file) at the same path.
Ray starts its workers at niceness 15; a node's task asks for niceness 0 (``ray_cluster.AT_NORMAL_PRIORITY``), so
its processes compete for the CPU as a local node's would.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from hairpin import ray_cluster
from hairpin.ray_cluster import AT_NORMAL_PRIORITY
from hairpin.study.plan import Node, Plan
from hairpin.study.progress import Progress, node_progress, rebased
from hairpin.study.shipping import Watch, apply_result, node_inputs, node_payload, pack, run_node

__all__ = ["BOARD_READ_S", "RETRIES", "RayBackend", "RayProcess", "StudyBoard", "connect", "node_resources"]

RETRIES = 3
"""Times Ray runs a node again when the worker running it dies."""
BOARD_READ_S = 1.0
"""The driver reads the board at most this often."""


class StudyBoard:
    """The Ray actor between a study's driver and its tasks: the progress each task last reported, and which
    tasks are asked to stop."""

    def __init__(self) -> None:
        self.reports: dict[str, Progress] = {}
        self.stopping: set[str] = set()

    def post(self, name: str, progress: Progress) -> bool:
        """A task's progress; whether it is asked to stop."""
        self.reports[name] = progress
        return name in self.stopping

    def read(self) -> dict[str, Progress]:
        return dict(self.reports)

    def stop(self, name: str) -> None:
        self.stopping.add(name)


def _watched_node(payload: dict[str, Any], board: Any, node: Node, eval_maps: list[str], *blobs: bytes) -> Any:
    """The Ray task of a node: ``run_node`` reporting to ``board``.

    It never waits on the board: a task blocked in ``ray.get`` lends its CPUs back to Ray, which then starts a
    queued task beside the running command, more processes than the cores hold. Each report is sent without
    waiting; the board's answer to it (whether to stop) is read at the next report, once it has come.
    """
    import ray

    sent: list[Any] = []  # the future of the last report whose answer has not been read

    def post(progress: Progress) -> bool:
        asked = False
        with contextlib.suppress(ray.exceptions.RayError):  # the driver is gone or going: the node runs on, unwatched
            if sent and sent[0].done():
                asked = bool(sent.pop().result())
            if not sent:
                sent.append(board.post.remote(node.name, progress).future())
        return asked

    return run_node(payload, *blobs, watch=Watch(node, eval_maps, post))


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` (``auto``: the one this machine belongs to); a clear error without Ray."""
    ray_cluster.connect(address, "--ray")


def node_resources(node: Node) -> dict[str, float]:
    """The Ray resources of ``node``: CPUs for its processes, a GPU when its config asks for CUDA."""
    config: Any = node.config
    device = None
    if config is not None:
        section = getattr(config, "performance", None) or getattr(config, "train", None)
        device = getattr(section, "device", None)
    return {"num_cpus": float(node.cpus), "num_gpus": 1.0 if device == "cuda" else 0.0}


class RayProcess:
    """A node's Ray task (the executor's ``NodeProcess``); its result is brought into the study folder once."""

    pid: int | None = None

    def __init__(self, ref: Any, node: Node, backend: RayBackend, log: Path) -> None:
        self.ref, self.node, self.backend, self.log = ref, node, backend, log
        self.code: int | None = None

    def progress(self, eval_maps: list[str], offset: dict[str, float]) -> Progress:
        """What the task last reported; the study folder's files before its first report."""
        reported = self.backend.reported(self.node.name)
        if reported is None:
            return node_progress(self.node, eval_maps, offset)
        return rebased(self.node, reported, offset)

    def poll(self) -> int | None:
        import ray

        if self.code is None and ray.wait([self.ref], timeout=0)[0]:
            self.code = self._collect()
        return self.code

    def _collect(self) -> int:
        import ray

        try:
            result = ray.get(self.ref)
        except ray.exceptions.TaskCancelledError:
            self._append("the Ray task was cancelled\n")
            return 130
        except ray.exceptions.RayError as error:
            self._append(f"the Ray task failed: {error}\n")
            return 1
        return apply_result(result, self.backend.plan.study_dir, self.log)

    def _append(self, text: str) -> None:
        with self.log.open("a", encoding="utf-8") as file:
            file.write(text)

    def interrupt(self) -> None:
        """Ask a running task to stop its command (its files come back); cancel one that has not started."""
        import ray

        self.backend.board.stop.remote(self.node.name)
        if self.backend.reported(self.node.name, fresh=True) is None:
            ray.cancel(self.ref)

    def wait(self, timeout: float) -> int | None:
        import ray

        ray.wait([self.ref], timeout=timeout)
        return self.poll()

    def kill(self) -> None:
        import ray

        ray.cancel(self.ref, force=True)


class RayBackend:
    """Runs nodes as Ray tasks on the cluster ``connect`` joined."""

    where = "ray"

    def __init__(self, plan: Plan) -> None:
        import ray

        self.plan = plan
        self.task = ray.remote(_watched_node)
        self.board: Any = ray.remote(num_cpus=0)(StudyBoard).remote()
        self.reports: dict[str, Progress] = {}
        self.read_at = float("-inf")
        self.shipped: dict[Path, tuple[tuple[int, int], Any]] = {}
        """Input → (its size and newest mtime when put, its object): each input goes to the store once."""

    def reported(self, name: str, *, fresh: bool = False) -> Progress | None:
        """The progress the task of ``name`` last reported (the board read at most every ``BOARD_READ_S``, or now
        when ``fresh``); None before its first report."""
        import ray

        if fresh or time.monotonic() - self.read_at >= BOARD_READ_S:
            self.reports = ray.get(self.board.read.remote())
            self.read_at = time.monotonic()
        return self.reports.get(name)

    def fits(self, node: Node, running: list[Node]) -> bool:
        return True  # Ray queues a task until a node of the cluster has its resources

    def _put(self, path: Path) -> Any:
        import ray

        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        stats = [f.stat() for f in files]
        signature = (sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0))
        known = self.shipped.get(path)
        if known is None or known[0] != signature:
            known = (signature, ray.put(pack([path], path.parent)))
            self.shipped[path] = known
        return known[1]

    def start(self, node: Node, command: list[str], log: Path, config_file: Path) -> RayProcess:
        inputs = node_inputs(node, self.plan, config_file)
        payload = node_payload(self.plan, command, inputs)
        task = self.task.options(
            **node_resources(node), max_retries=RETRIES, name=f"hairpin:{node.name}", runtime_env=AT_NORMAL_PRIORITY
        )
        ref = task.remote(payload, self.board, node, self.plan.spec.eval.maps, *(self._put(p) for p in inputs))
        return RayProcess(ref, node, self, log)
