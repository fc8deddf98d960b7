"""The live view of ``hairpin train``: frames, batches/s, buffer, learner busy %, best time and finish rate per map."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from hairpin.rl.limits import ratio_to_limit
from hairpin.rl.trainer import TrainerStatus

__all__ = ["status_view"]


def _time(ms: int | None) -> str:
    return f"{ms / 1000:.2f} s" if ms is not None else "—"


def _ratio(value: float | None) -> str:
    return f"{value:.3f}×" if value is not None else "—"


def status_view(run_name: str, status: TrainerStatus, expert_ms: dict[str, int] | None = None) -> Group:
    """A renderable of the run's state."""
    head = Text.assemble(
        (f"{run_name}  ", "bold"),
        f"{status.elapsed_s / 60:5.1f} min · {status.frames:,} frames · {status.batches:,} batches "
        f"({status.batches_per_s:.1f}/s) · buffer {status.buffer_size:,} · "
        f"learner busy {100 * status.learner_busy:.0f}% · "
        f"ε {status.epsilon:.3f} · lr {status.learning_rate:.2e} · loss {status.loss:.4f}",
    )
    table = Table(box=None, pad_edge=False)
    for column in ("map", "kind", "races", "finished", "last 20", "best", "limit", "best/limit", "expert"):
        table.add_column(column, justify="right" if column not in ("map", "kind") else "left")
    for (name, kind), tally in sorted(status.race_log.tallies.items()):
        table.add_row(
            name,
            kind,
            str(tally.races),
            str(tally.finished),
            f"{100 * tally.recent_finish_rate:.0f}%",
            _time(tally.best_ms),
            _time(status.limits_ms.get(name)),
            _ratio(ratio_to_limit(tally.best_ms, status.limits_ms.get(name))),
            _time((expert_ms or {}).get(name)),
        )
    parts: list[Text | Table] = [head, table]
    parts += [Text(f"event: {e}", style="yellow") for e in status.events[-3:]]
    return Group(*parts)
