"""The study's table: each stage and run with its state, frames, best lap and ETA (live while running, and for
``--status`` and ``--dry-run``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from hairpin.study.plan import Plan
from hairpin.study.progress import Progress, node_progress
from hairpin.study.state import cached_nodes, process_alive, read_state

__all__ = ["Row", "disk_rows", "format_eta", "plan_table", "print_plan", "print_status"]

STATE_STYLES = {
    "done": "green",
    "cached": "green",
    "running": "bold cyan",
    "failed": "red",
    "blocked": "yellow",
    "changed": "yellow",
}


@dataclass(frozen=True)
class Row:
    """What the table shows of one node."""

    state: str
    """done | cached | running | failed | pending | blocked (a dependency failed) | changed (stale state)."""
    progress: Progress = field(default_factory=Progress)
    eta_s: float | None = None
    note: str = ""


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def plan_table(plan: Plan, rows: Mapping[str, Row], title: str) -> Table:
    """One line per node of ``plan``, in plan order."""
    table = Table(title=title, title_justify="left")
    for column in ("stage / run", "kind", "key", "state", "frames", "best lap", "ETA"):
        table.add_column(column, no_wrap=True)
    table.add_column("note", overflow="fold")
    for name, node in plan.nodes.items():
        row = rows.get(name, Row("pending"))
        p = row.progress
        frames = f"{p.frames:,}" if p.frames is not None else ""
        if p.fraction is not None and row.state == "running":
            frames = f"{frames} ({p.fraction:.0%})".strip()
        style = STATE_STYLES.get(row.state, "")
        state = f"[{style}]{row.state}[/{style}]" if style else row.state
        table.add_row(name, node.kind, node.key[:8], state, frames, p.best or "", format_eta(row.eta_s), row.note)
    return table


def disk_rows(plan: Plan, cached: set[str], done_word: str = "cached") -> dict[str, Row]:
    """The rows of ``plan`` as its state files and outputs say (``--status``, ``--dry-run``, the start of a run);
    ``done_word`` names the nodes that are done (cached: a run will skip them)."""
    rows = {}
    for name, node in plan.nodes.items():
        state = read_state(plan.study_dir, name)
        progress = node_progress(node, plan.spec.eval.maps)
        if name in cached:
            rows[name] = Row(done_word, progress)
        elif state is None:
            rows[name] = Row("pending", progress)
        elif state.key != node.key:
            rows[name] = Row("changed", progress, note="its config or inputs changed: it runs again")
        elif state.state == "running" and not (state.pid and process_alive(state.pid)):
            rows[name] = Row("failed", progress, note="interrupted: resumes on the next run")
        else:
            note = state.error.strip().splitlines()[0] if state.error else ""
            rows[name] = Row(state.state, progress, note=note)
    return rows


def print_plan(plan: Plan, cached: set[str], console: Console, seconds: float) -> None:
    """``--dry-run``: the plan in order, what is cached, what would run (nothing is written)."""
    rows = disk_rows(plan, cached)
    to_run = [name for name in plan.nodes if name not in cached]
    console.print(plan_table(plan, rows, f"study {plan.spec.name} (dry run): {plan.study_dir}"))
    console.print(
        f"{len(plan.nodes)} nodes: {len(cached)} cached, {len(to_run)} to run · code {plan.code_version} · "
        f"planned in {seconds:.2f} s"
    )


def print_status(plan: Plan, console: Console) -> None:
    """``--status``: each node's state and progress as the study folder holds them (nothing runs)."""
    rows = disk_rows(plan, cached_nodes(plan), done_word="done")
    console.print(plan_table(plan, rows, f"study {plan.spec.name}: {plan.study_dir}"))
    counts: dict[str, int] = {}
    for row in rows.values():
        counts[row.state] = counts.get(row.state, 0) + 1
    console.print(", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    for name, row in rows.items():
        if row.state == "failed":
            state = read_state(plan.study_dir, name)
            if state is not None and state.error:
                console.print(f"[red]{name}[/red] ({state.log}):", highlight=False)
                console.print(state.error, markup=False, highlight=False)
