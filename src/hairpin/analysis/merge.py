"""One run's event files merged into one series per tag, with the timeline a crash rewound removed.

The files of a run (every log directory, every session) are put in the order they were opened: the stamp of their
first record, which writers take from the real clock even when, like old Linesight, they stamp values with another
one. When a file starts at a step below what an earlier session's file reached, the run was resumed from an older
checkpoint: what the earlier session logged from that step on belongs to a timeline that was thrown away, and the
later session's values win, for every tag. The same holds within one tag whose steps go back. Equal steps are not a
rewind (several races can end at the same frame count).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hairpin.analysis.axes import TRAINING_CLOCK_BEFORE
from hairpin.analysis.events import EventFileScalars, ReadProblem, is_event_file, read_event_file

__all__ = ["Series", "TagEvents", "merge_files", "read_run_files"]


@dataclass(frozen=True)
class Series:
    """The values of one tag of one run in the order they were logged; E values."""

    step: np.ndarray  # (E,) int64, cumul_number_frames_played for hairpin and Linesight
    wall: np.ndarray  # (E,) float64, the writer's wall-time stamp in seconds
    value: np.ndarray  # (E,) float64

    def __len__(self) -> int:
        return int(self.step.size)


@dataclass
class TagEvents:
    """Every tag's series of one run after merging, and what merging found."""

    series: dict[str, Series]
    files: tuple[Path, ...]
    problems: list[ReadProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dropped: int = 0
    """Values dropped because a later session rewound the step counter below them."""

    @property
    def count(self) -> int:
        """Number of values kept, over all tags."""
        return sum(len(s) for s in self.series.values())


def _created(events: EventFileScalars) -> float:
    """When a file was opened: its first record's stamp, else its earliest value's (a damaged first record)."""
    if np.isfinite(events.created):
        return events.created
    return float(events.wall_time.min()) if len(events) else np.inf


def read_run_files(log_dirs: Sequence[Path]) -> list[EventFileScalars]:
    """Every event file directly inside ``log_dirs``, read, in the order they were opened."""
    paths = [path for directory in log_dirs for path in sorted(directory.iterdir()) if is_event_file(path)]
    return sorted((read_event_file(path) for path in paths), key=lambda f: (_created(f), f.path.name))


def _file_rewinds(files: Sequence[EventFileScalars]) -> np.ndarray:
    """(E,) mask over the values of ``files`` (one file after the other): those a later session's start overrides.

    File k rewinds an earlier file j when k starts below a step j reached and j's values all came before k's first
    one: two sessions, not two processes writing at once. Stamps that are training seconds (old Linesight) rewind
    with the counter, so for them creation order alone says which session came first.
    """
    offsets = np.cumsum([0, *(len(f) for f in files)])
    drop = np.zeros(int(offsets[-1]), bool)
    on_clock = [bool(f.wall_time.min() >= TRAINING_CLOCK_BEFORE) for f in files]
    for k, later in enumerate(files):
        start, began = int(later.step.min()), float(later.wall_time.min())
        for j, earlier in enumerate(files[:k]):
            sequential = not (on_clock[j] and on_clock[k]) or float(earlier.wall_time.max()) <= began
            if sequential and int(earlier.step.max()) > start:
                drop[offsets[j] : offsets[j + 1]] |= earlier.step >= start
    return drop


def _tag_rewinds(step: np.ndarray) -> np.ndarray:
    """(E,) mask, for one tag in logging order: values at or above a step the counter later went back to."""
    back = np.flatnonzero(step[1:] < step[:-1]) + 1
    if back.size == 0:
        return np.zeros(step.size, bool)
    rewound_to = np.full(step.size, np.iinfo(np.int64).max)
    rewound_to[back] = step[back]
    later_min = np.minimum.accumulate(rewound_to[::-1])[::-1]  # smallest rewind target at or after each index
    later = np.append(later_min[1:], np.iinfo(np.int64).max)  # ... strictly after it
    return step >= later


def merge_files(files: Sequence[EventFileScalars]) -> TagEvents:
    """One series per tag over ``files`` (in creation order), rewound timelines removed."""
    tags = sorted({tag for f in files for tag in f.tags})
    tag_id = {tag: i for i, tag in enumerate(tags)}
    kept_files = [f for f in files if len(f)]
    if not kept_files:
        return TagEvents({}, tuple(f.path for f in files), [p for f in files for p in f.problems])
    ids = np.concatenate([np.array([tag_id[t] for t in f.tags], np.int32)[f.tag_index] for f in kept_files])
    step = np.concatenate([f.step for f in kept_files])
    wall = np.concatenate([f.wall_time for f in kept_files])
    value = np.concatenate([f.value for f in kept_files])
    drop = _file_rewinds(kept_files)
    order = np.argsort(ids, kind="stable")  # per tag, logging order kept
    bounds = np.searchsorted(ids[order], np.arange(len(tags) + 1))
    series = {}
    for i, tag in enumerate(tags):
        rows = order[bounds[i] : bounds[i + 1]]
        rows = rows[~drop[rows]]
        rows = rows[~_tag_rewinds(step[rows])]
        if rows.size:
            series[tag] = Series(step[rows], wall[rows], value[rows])
    merged = TagEvents(series, tuple(f.path for f in files), [p for f in files for p in f.problems])
    merged.dropped = int(step.size) - merged.count
    if merged.dropped:
        merged.notes.append(
            f"{merged.dropped} values dropped: a later session rewound the step counter below them (later values win)"
        )
    return merged
