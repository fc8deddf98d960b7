"""The state of each node of a study on disk: ``studies/<name>/state/<node>.json``, written atomically.

A node is *done* only when its state file says ``done`` with the node's current content key; that file is written
after the node's outputs are complete, so a crash (even a SIGKILL of the study) before it leaves the node to be
finished again, and a crash after it leaves nothing to redo. ``running`` is written before the command starts
(with its pid), so the next study process knows an interrupted attempt and waits for its process to be gone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hairpin.atomic import atomic_write_text
from hairpin.processes import pid_alive
from hairpin.study.plan import Plan
from hairpin.study.spec import StudyError

__all__ = [
    "NodeState",
    "StateName",
    "cached_nodes",
    "now",
    "process_alive",
    "read_state",
    "read_states",
    "state_path",
    "write_state",
]

StateName = Literal["pending", "running", "done", "failed"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class NodeState(BaseModel):
    """What ``state/<node>.json`` holds."""

    model_config = ConfigDict(extra="forbid")

    node: str
    state: StateName
    key: str
    """The content key of the node this state is about (a state of another key is stale)."""
    kind: str
    output: str
    """The output directory (dataset, pretraining run, RL run)."""
    command: list[str] = []
    log: str | None = None
    started: str | None = None
    ended: str | None = None
    error: str | None = None
    """Why it failed: the exit code and the last lines of its log."""
    start_time: float | None = None
    """Unix time the last attempt started (``started`` to the second, this to the microsecond)."""
    seconds: float | None = None
    """Wall time of the last attempt, from its start to its end as the study saw them."""
    attempts: int = 0
    pid: int | None = None
    """The process of the running attempt."""


def state_path(study_dir: Path, node: str) -> Path:
    return study_dir / "state" / f"{node}.json"


def write_state(study_dir: Path, state: NodeState) -> None:
    """Write ``state/<node>.json`` atomically."""
    atomic_write_text(state_path(study_dir, state.node), state.model_dump_json(indent=2) + "\n")


def read_state(study_dir: Path, node: str) -> NodeState | None:
    """The node's state file, or None when it has none."""
    path = state_path(study_dir, node)
    try:
        return NodeState.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValidationError as error:
        raise StudyError(
            f"{path}: not a study state file ({error.errors()[0]['msg']}); delete it to rerun the node"
        ) from error


def read_states(study_dir: Path) -> dict[str, NodeState]:
    """Every node state of the study, by node name."""
    folder = study_dir / "state"
    if not folder.is_dir():
        return {}
    states = (read_state(study_dir, path.stem) for path in sorted(folder.glob("*.json")))
    return {state.node: state for state in states if state is not None}


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live hairpin command (its command line is checked where /proc has it, against pid reuse;
    a zombie counts as gone)."""
    if not pid_alive(pid):
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():
        return True  # no /proc (macOS): a live pid is taken as the command
    try:
        command = (proc / "cmdline").read_bytes()
        zombie = ") Z " in (proc / "stat").read_text(errors="replace")
    except OSError:  # it ended while we looked
        return False
    return b"hairpin" in command and not zombie


def cached_nodes(plan: Plan) -> set[str]:
    """Nodes done under their current content key, with their outputs still there (nothing to run)."""
    cached = set()
    for name, node in plan.nodes.items():
        state = read_state(plan.study_dir, name)
        done = state is not None and state.state == "done" and state.key == node.key and node.output.exists()
        if node.kind == "dataset" or done:
            cached.add(name)
    return cached
