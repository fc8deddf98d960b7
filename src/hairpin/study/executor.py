"""The executor of a study: runs the nodes of a plan that are not done, through a backend, with a live table.

Ready nodes (every dependency done) start while the backend has room for them (``backend.fits``: the local backend
counts this machine's cores, the Ray backend leaves placement to the cluster) and at most ``jobs`` at once. A node
that fails is recorded with its error and what depends on it waits; the others go on.

Crash safety: the done marker (``state/<node>.json`` with ``done`` and the node's content key) is written after
the node's outputs are complete in the study folder, and the next study process waits for an interrupted local
attempt's process to be gone before it touches that node again. So a SIGKILL of the study at any moment, then the
same command, finishes the study: done nodes are skipped, an interrupted RL run resumes from its checkpoint
(``hairpin train`` with the same run name resumes), an interrupted pretraining or recording starts again from
nothing (its partial output removed). Outputs made under another content key (a changed config) are moved to
``superseded/``, never deleted.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rich.console import Console
from rich.live import Live
from rich.table import Table

from hairpin.atomic import atomic_write_text
from hairpin.config.loader import dump_config
from hairpin.config.rl import RLConfig
from hairpin.run_lock import RunLock, RunLockedError
from hairpin.runfiles.manifest import MANIFEST, RunManifest, RunManifestError
from hairpin.study.display import Row, disk_rows, format_eta, plan_table
from hairpin.study.plan import Node, Plan
from hairpin.study.progress import Progress, checkpoint_counters, node_progress, outputs_complete, rl_stop
from hairpin.study.spec import StudyError
from hairpin.study.state import NodeState, cached_nodes, now, process_alive, read_state, write_state

__all__ = ["Backend", "NodeProcess", "StudyExecutor"]

LOG_TAIL_LINES = 15
"""Lines of a failed node's log kept in its state file as its error."""
GONE_TIMEOUT_S = 300.0
"""Longest wait for an interrupted attempt's process (saving its last checkpoint) to be gone."""
POLL_S = 0.25
"""How often the executor looks at its children and refreshes the table."""
PROGRESS_LINE_S = 60.0
"""Without a terminal (output to a file), a line per running node this often, and one at each start and end."""
MIN_SESSION_MINUTES = 0.05
"""A resumed run whose minutes budget is spent trains this long, to record its stop."""


class NodeProcess(Protocol):
    """One attempt of a node, as its backend runs it."""

    pid: int | None
    """The local process id (recorded in the node's state so that a later study waits for it); None elsewhere."""

    def poll(self) -> int | None:
        """The exit code once the attempt has ended and its outputs are in the study folder; None before."""
        ...

    def progress(self, eval_maps: list[str], offset: dict[str, float]) -> Progress:
        """How far the attempt is (``offset``: the counters its run started at)."""
        ...

    def interrupt(self) -> None:
        """Ask the attempt to stop (an RL run saves a checkpoint)."""
        ...

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` s for the end; the exit code, or None if it has not ended."""
        ...

    def kill(self) -> None:
        """Stop it at once."""
        ...


class Backend(Protocol):
    """Where nodes run: this machine (``study.local``) or a Ray cluster (``study.ray_backend``)."""

    where: str
    """Shown in the table's notes: "local", "ray"."""

    def fits(self, node: Node, running: list[Node]) -> bool:
        """Whether ``node`` may start beside ``running``."""
        ...

    def start(self, node: Node, command: list[str], log: Path, config_file: Path) -> NodeProcess:
        """Start ``python -m hairpin.cli COMMAND`` for ``node`` (its config in ``config_file``); its output goes to
        the end of ``log``."""
        ...


@dataclass
class _Attempt:
    """A running node."""

    node: Node
    process: NodeProcess
    state: NodeState
    started: float
    offset: dict[str, float] = field(default_factory=dict)
    session_minutes: float | None = None
    first: tuple[float, float] | None = None
    """(time, budget fraction) of the first progress seen, for the ETA."""


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_bytes()[-20_000:].decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(line.rstrip() for line in text.splitlines()[-lines:] if line.strip())


def _move_aside(study_dir: Path, node: Node, old_key: str | None) -> None:
    """Move outputs made under another (or an unknown) key to ``superseded/`` with their TensorBoard logs."""
    paths = [node.output]
    if node.kind == "rl" and (node.output / MANIFEST).is_file():
        with contextlib.suppress(RunManifestError):  # an unreadable run.json: its logs stay where they are
            paths += [Path(p) for p in RunManifest.load(node.output).tensorboard_dirs]
    elif node.kind in ("vis", "bc"):
        paths.append(node.output.parent.parent / "tensorboard" / node.name)
    target = study_dir / "superseded" / f"{node.name}-{(old_key or 'unknown')[:12]}-{time.strftime('%Y%m%d-%H%M%S')}"
    for path in paths:
        if path.exists():
            target.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(target / path.name))


def _remove_partial(node: Node) -> None:
    """Remove what an interrupted pretraining or recording left (it starts again from nothing)."""
    paths = [node.output]
    if node.kind in ("vis", "bc"):
        paths.append(node.output.parent.parent / "tensorboard" / node.name)
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)


def _wait_for_lock(directory: Path) -> None:
    """Wait until no process holds ``directory``'s run lock (an orphan saving its last checkpoint)."""
    if not directory.is_dir():
        return
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while True:
        try:
            RunLock(directory).acquire().release()
            return
        except RunLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL_S)


class StudyExecutor:
    """Runs the nodes of a plan that are not done, through ``backend``."""

    def __init__(self, plan: Plan, backend: Backend, *, jobs: int, console: Console) -> None:
        self.plan, self.backend, self.jobs, self.console = plan, backend, max(1, jobs), console
        self.study_dir = plan.study_dir
        self.rows: dict[str, Row] = {}
        self.running: dict[str, _Attempt] = {}
        self.results: dict[str, str] = {}
        """Each node's end in this run: cached | done | failed | blocked."""
        self.lines_at = time.monotonic()

    # -- the loop -------------------------------------------------------------------------------------------

    def run(self) -> dict[str, str]:
        """Run every node that is not done; returns each node's end: cached, done, failed or blocked."""
        cached = cached_nodes(self.plan)
        self.rows = disk_rows(self.plan, cached)
        self.results = {name: "cached" for name in cached}
        with Live(self._table(), console=self.console, refresh_per_second=4, transient=False) as live:
            try:
                while self._step():
                    live.update(self._table())
                    self._progress_lines()
                    time.sleep(POLL_S)
            except KeyboardInterrupt:
                self._interrupt()
                live.update(self._table())
                raise
            live.update(self._table())
        if not self.console.is_terminal:
            self.console.line()
        return self.results

    def _say(self, name: str, text: str) -> None:
        """A line of its own when the output is not a terminal (the live table shows it otherwise)."""
        if not self.console.is_terminal:
            self.console.print(f"{time.strftime('%H:%M:%S')} {name}: {text}", markup=False, highlight=False)

    def _progress_lines(self) -> None:
        if self.console.is_terminal or time.monotonic() - self.lines_at < PROGRESS_LINE_S:
            return
        self.lines_at = time.monotonic()
        for name in self.running:
            row = self.rows[name]
            self._say(name, _describe(row) + (f", ETA {format_eta(row.eta_s)}" if row.eta_s is not None else ""))

    def _table(self) -> Table:
        counts = {word: list(self.results.values()).count(word) for word in ("done", "cached", "failed", "blocked")}
        summary = ", ".join(f"{n} {word}" for word, n in counts.items() if n)
        title = f"study {self.plan.spec.name}: {len(self.running)} running" + (f", {summary}" if summary else "")
        return plan_table(self.plan, self.rows, title)

    def _step(self) -> bool:
        """Reap finished children, start ready nodes; False when nothing runs and nothing changed (the end)."""
        ended = len(self.results)
        for name in list(self.running):
            self._poll(name)
        for name, node in self.plan.nodes.items():
            if name in self.results or name in self.running:
                continue
            deps = [self.results.get(dep) for dep in node.deps]
            if any(d in ("failed", "blocked") for d in deps):
                self.results[name] = "blocked"
                failed = [dep for dep in node.deps if self.results.get(dep) in ("failed", "blocked")]
                self.rows[name] = Row("blocked", note=f"needs {', '.join(failed)}")
            elif all(d in ("done", "cached") for d in deps) and self._fits(node):
                self._start(node)  # may end at once (outputs found complete, a missing best race)
        return bool(self.running) or len(self.results) > ended

    def _fits(self, node: Node) -> bool:
        """Whether ``node`` may start now: under ``jobs`` nodes and where the backend has room."""
        if len(self.running) >= self.jobs:
            return False
        return self.backend.fits(node, [a.node for a in self.running.values()])

    # -- one node -------------------------------------------------------------------------------------------

    def _prepare(self, node: Node, previous: NodeState | None) -> None:
        """Make the node's outputs ready for a new attempt (module docstring)."""
        if previous is not None and previous.state == "running" and previous.pid:
            deadline = time.monotonic() + GONE_TIMEOUT_S
            while process_alive(previous.pid) and time.monotonic() < deadline:
                time.sleep(POLL_S)
        if not node.output.exists():
            return
        if previous is None or previous.key != node.key:
            _move_aside(self.study_dir, node, previous.key if previous else None)
        elif node.kind != "rl" and not outputs_complete(node):
            _remove_partial(node)
        if node.kind in ("vis", "bc", "rl"):  # the commands that hold a run lock on their output
            _wait_for_lock(node.output)

    def _start(self, node: Node) -> None:
        previous = read_state(self.study_dir, node.name)
        self._prepare(node, previous)
        if node.output.exists() and outputs_complete(node):  # finished before the study could mark it
            self._finish(node, previous, "done", None)
            return
        attempt_state = NodeState(
            node=node.name,
            state="running",
            key=node.key,
            kind=node.kind,
            output=str(node.output),
            log=str(self.study_dir / "logs" / f"{node.name}.log"),
            started=now(),
            start_time=time.time(),
            attempts=(previous.attempts if previous and previous.key == node.key else 0) + 1,
        )
        try:
            command, offset, minutes = self._command(node)
        except (OSError, StudyError) as error:
            self._finish(node, attempt_state, "failed", str(error))
            return
        attempt_state = attempt_state.model_copy(update={"command": command})
        write_state(self.study_dir, attempt_state)
        log_path = Path(attempt_state.log or "")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            header = f"\n=== attempt {attempt_state.attempts} at {attempt_state.started} ({self.backend.where}): "
            log.write(f"{header}{' '.join(command)}\n".encode())
        try:
            process = self.backend.start(node, command, log_path, self._config_path(node))
        except (OSError, StudyError) as error:
            self._finish(node, attempt_state, "failed", f"could not start: {error}")
            return
        attempt_state = attempt_state.model_copy(update={"pid": process.pid})
        write_state(self.study_dir, attempt_state)
        self.running[node.name] = _Attempt(node, process, attempt_state, time.monotonic(), offset, minutes)
        self.rows[node.name] = Row("running", process.progress(self.plan.spec.eval.maps, offset))
        self._say(node.name, f"started ({self.backend.where}, attempt {attempt_state.attempts})")

    def _command(self, node: Node) -> tuple[list[str], dict[str, float], float | None]:
        """Write the node's config for this attempt; its command, the counters it starts at, its session minutes."""
        config = node.config
        offset: dict[str, float] = {}
        minutes = None
        resuming = (node.output / MANIFEST).is_file()
        if isinstance(config, RLConfig) and node.budget is not None:
            config, offset, minutes = self._session_config(node, config, resuming)
        path = self._config_path(node)
        assert config is not None
        atomic_write_text(path, dump_config(config))
        return node.command(path, resuming=resuming), offset, minutes

    def _config_path(self, node: Node) -> Path:
        return self.study_dir / "configs" / f"{node.name}.yaml"

    def _session_config(
        self, node: Node, cfg: RLConfig, resuming: bool
    ) -> tuple[RLConfig, dict[str, float], float | None]:
        """The budget of this session: frames or batches past the counters the run started at (an ``init_from``
        run that keeps the other run's counters counts from there); minutes still left of a minutes budget."""
        assert node.budget is not None
        axis, amount = node.budget
        offset: dict[str, float] = {}
        init = node.init_from
        if init is not None and init.keeps_counters:
            source = checkpoint_counters(self.plan.nodes[init.node].output) or {}
            offset = {
                "frames": float(source.get("cumul_number_frames_played", 0)),
                "batches": float(source.get("cumul_number_batches_done", 0)),
            }
        if init is not None and init.checkpoint == "best" and not resuming and not init.weights.is_file():
            raise StudyError(
                f"{init.node} has no best race on {self.plan.spec.eval.maps[0]}: {init.weights} is missing"
            )
        if axis == "minutes":
            done_h = float((checkpoint_counters(node.output) or {}).get("cumul_training_hours", 0.0))
            minutes = max(amount - done_h * 60.0, MIN_SESSION_MINUTES)
            return _with_training(cfg, max_minutes=minutes), offset, minutes
        key = f"max_{axis}"
        return _with_training(cfg, **{key: int(amount + offset.get(axis, 0.0))}), offset, None

    def _poll(self, name: str) -> None:
        attempt = self.running[name]
        node = attempt.node
        progress = attempt.process.progress(self.plan.spec.eval.maps, attempt.offset)
        code = attempt.process.poll()
        if code is None:
            self.rows[name] = Row("running", progress, self._eta(attempt, progress))
            return
        del self.running[name]
        seconds = time.monotonic() - attempt.started
        if code == 0 and outputs_complete(node):
            self._finish(node, attempt.state, "done", None, seconds)
            return
        reason = f"exit code {code}"
        if node.kind == "rl" and code == 0:
            reason = f"stopped before its budget: {rl_stop(node.output)[1] or 'no stop recorded'}"
        error = f"{reason}\n{_tail(Path(attempt.state.log or ''))}"
        self._finish(node, attempt.state, "failed", error, seconds)

    def _eta(self, attempt: _Attempt, progress: Progress) -> float | None:
        elapsed = time.monotonic() - attempt.started
        if attempt.session_minutes is not None:
            return max(0.0, attempt.session_minutes * 60.0 - elapsed)
        if progress.fraction is None:
            return None
        if attempt.first is None:
            attempt.first = (time.monotonic(), progress.fraction)
        t0, f0 = attempt.first
        if progress.fraction <= f0:
            return None
        return (1.0 - progress.fraction) * (time.monotonic() - t0) / (progress.fraction - f0)

    def _finish(
        self, node: Node, state: NodeState | None, result: str, error: str | None, seconds: float | None = None
    ) -> None:
        """Record the node's end: the done marker (after its outputs are complete) or its error."""
        base = state or NodeState(
            node=node.name, state="pending", key=node.key, kind=node.kind, output=str(node.output)
        )
        update = {"state": result, "key": node.key, "ended": now(), "error": error, "pid": None, "seconds": seconds}
        final = base.model_copy(update=update)
        write_state(self.study_dir, final)
        self.results[node.name] = result
        progress = node_progress(node, self.plan.spec.eval.maps)
        self.rows[node.name] = Row(result, progress, note=(error or "").splitlines()[0] if error else "")
        took = f" in {format_eta(seconds)}" if seconds is not None else ""
        self._say(node.name, f"{result}{took}: {_describe(self.rows[node.name])}")

    def _interrupt(self) -> None:
        """Ctrl-C: interrupt the attempts (an RL run saves a checkpoint), wait for them, record them failed."""
        for attempt in self.running.values():
            if attempt.process.poll() is None:
                attempt.process.interrupt()
        deadline = time.monotonic() + GONE_TIMEOUT_S
        for attempt in self.running.values():
            if attempt.process.wait(max(1.0, deadline - time.monotonic())) is None:
                attempt.process.kill()
            self._finish(attempt.node, attempt.state, "failed", "interrupted (Ctrl-C): resumes on the next run")
        self.running.clear()


def _describe(row: Row) -> str:
    """A row as words: its share of the budget, frames, best lap and note."""
    p = row.progress
    parts = [f"{p.fraction:.0%}" if p.fraction is not None and row.state == "running" else ""]
    parts += [f"{p.frames:,} frames" if p.frames is not None else "", p.best or "", row.note]
    return ", ".join(part for part in parts if part) or row.state


def _with_training(cfg: RLConfig, **values: float | int | None) -> RLConfig:
    """``cfg`` with these ``training`` keys changed (the study's budget keys, free to change on a resumed run)."""
    return cfg.model_copy(update={"training": cfg.training.model_copy(update=values)})
