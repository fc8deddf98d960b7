"""What ``hairpin demos info`` prints: episodes, frames and finishes per map, the action histogram, race times."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from hairpin.actions import ACTION_NAMES, N_ACTIONS
from hairpin.data.meta import DatasetMeta, minari_data_dir

__all__ = ["DatasetSummary", "MapSummary", "summarise", "summary_view"]


@dataclass(frozen=True)
class MapSummary:
    """Episodes of one map."""

    map: str
    episodes: int
    frames: int
    finished: int
    mean_finished_ms: float | None


@dataclass(frozen=True)
class DatasetSummary:
    """A dataset at a glance."""

    name: str
    source: str
    minari_dir: str
    episodes: int
    frames: int
    finished: int
    image_size: int
    n_floats: int
    capture_every_steps: int
    maps: list[MapSummary]
    action_counts: np.ndarray  # (A,) int64
    mean_finished_ms: float | None
    bytes_on_disk: int


def _mean(values: list[int]) -> float | None:
    return float(np.mean(values)) if values else None


def summarise(meta: DatasetMeta, actions: np.ndarray) -> DatasetSummary:
    """The summary of a dataset from its sidecar and its (T,) actions."""
    rows = []
    for name in meta.maps:
        eps = [e for e in meta.episodes if e.map == name]
        times = [e.race_time_ms for e in eps if e.finished]
        rows.append(MapSummary(name, len(eps), sum(e.frames for e in eps), len(times), _mean(times)))
    finished = [e.race_time_ms for e in meta.episodes if e.finished]
    size = sum(p.stat().st_size for p in meta.directory.rglob("*") if p.is_file())
    return DatasetSummary(
        name=meta.name,
        source=meta.source,
        minari_dir=str(minari_data_dir(meta.directory, meta.name)),
        episodes=len(meta.episodes),
        frames=meta.n_frames,
        finished=len(finished),
        image_size=meta.image_size,
        n_floats=meta.n_floats,
        capture_every_steps=meta.capture_every_steps,
        maps=rows,
        action_counts=np.bincount(actions, minlength=N_ACTIONS).astype(np.int64),
        mean_finished_ms=_mean(finished),
        bytes_on_disk=size,
    )


def _seconds(ms: float | None) -> str:
    return f"{ms / 1000:.2f} s" if ms is not None else "-"


def summary_view(s: DatasetSummary) -> Group:
    """The summary as rich tables."""
    head = Text.assemble(
        (s.name, "bold"),
        f" ({s.source}): {s.episodes} episodes, {s.frames} frames, {s.finished} finished, "
        f"mean finished race time {_seconds(s.mean_finished_ms)}\n",
        f"images {s.image_size}×{s.image_size} px, {s.n_floats} floats, a frame every {s.capture_every_steps} "
        f"step(s), {s.bytes_on_disk / 1e6:.1f} MB on disk\nMinari: {s.minari_dir}",
    )
    maps = Table(title="maps")
    for column in ("map", "episodes", "frames", "finished", "mean finished time"):
        maps.add_column(column, justify="left" if column == "map" else "right")
    for m in s.maps:
        maps.add_row(m.map, str(m.episodes), str(m.frames), str(m.finished), _seconds(m.mean_finished_ms))
    actions = Table(title="actions (label at 0 ms)")
    for column in ("#", "action", "frames", "share"):
        actions.add_column(column, justify="left" if column == "action" else "right")
    total = max(int(s.action_counts.sum()), 1)
    for a, (name, count) in enumerate(zip(ACTION_NAMES, s.action_counts, strict=True)):
        actions.add_row(str(a), name, str(int(count)), f"{100 * count / total:.1f}%")
    return Group(head, maps, actions)
