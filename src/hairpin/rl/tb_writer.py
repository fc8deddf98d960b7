"""TensorBoard writer whose directory follows ``tensorboard_suffix_schedule`` (DESIGN §6).

Every value's step is ``cumul_number_frames_played``. The schedule ``[(0, ""), (1_000_000, "_2")]`` writes
``tensorboard/<run_name>/`` until one million frames, then ``tensorboard/<run_name>_2/``. The writer opens its
directory at the first value, from that value's frames, so a resumed run appends a new event file to the directory
it was writing; it only moves forward through the schedule, so a late value with fewer frames stays where it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from torch.utils.tensorboard import SummaryWriter

__all__ = ["SuffixedSummaryWriter", "suffix_index"]


def _validated(schedule: Sequence[Sequence[object]] | None) -> list[tuple[int, str]]:
    """The schedule as sorted ``(frames, suffix)`` pairs; a ValueError names the first bad entry."""
    if schedule is None:
        return [(0, "")]
    pairs: list[tuple[int, str]] = []
    for index, entry in enumerate(schedule):
        if len(entry) != 2 or not isinstance(entry[0], int) or not isinstance(entry[1], str) or entry[0] < 0:
            raise ValueError(f"suffix schedule entry {index} must be [frames >= 0, suffix], got {entry!r}")
        if pairs and entry[0] <= pairs[-1][0]:
            raise ValueError(f"suffix schedule frames must increase, got {entry[0]} after {pairs[-1][0]}")
        if "/" in entry[1] or "\\" in entry[1]:
            raise ValueError(f"suffix schedule entry {index}: a suffix cannot hold a path separator: {entry[1]!r}")
        pairs.append((entry[0], entry[1]))
    if not pairs:
        raise ValueError("suffix schedule is empty; use None for a single directory")
    return pairs


def suffix_index(schedule: Sequence[tuple[int, str]], frames: int) -> int:
    """Index of the schedule entry in force at ``frames``: the last one whose frames are <= it (0 before all)."""
    return max((i for i, (start, _) in enumerate(schedule) if start <= frames), default=0)


class SuffixedSummaryWriter:
    """``add_scalar(tag, value, frames)`` into ``<tensorboard_root>/<run_name><suffix>/``, suffix by frames."""

    def __init__(
        self,
        tensorboard_root: str | Path,
        run_name: str,
        suffix_schedule: Sequence[Sequence[object]] | None,
        on_new_dir: Callable[[Path], None],
    ) -> None:
        self._root = Path(tensorboard_root)
        self._run_name = run_name
        self._schedule = _validated(suffix_schedule)
        self._on_new_dir = on_new_dir
        self._writer: SummaryWriter | None = None
        self._index = -1

    @property
    def log_dir(self) -> Path | None:
        """The directory being written, or None before the first value."""
        return self._dir(self._index) if self._writer is not None else None

    def _dir(self, index: int) -> Path:
        return self._root / f"{self._run_name}{self._schedule[index][1]}"

    def _writer_for(self, frames: int) -> SummaryWriter:
        """The writer for ``frames``: opened at the first value and each time a schedule step is passed."""
        index = max(suffix_index(self._schedule, frames), self._index)
        if self._writer is None or index != self._index:
            if self._writer is not None:
                self._writer.close()
            self._index = index
            log_dir = self._dir(index)
            self._writer = SummaryWriter(log_dir=str(log_dir))
            self._on_new_dir(log_dir)  # called on each opening; the run manifest lists a directory once
        return self._writer

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        """Write one value; ``step`` is cumul_number_frames_played."""
        self._writer_for(step).add_scalar(tag, float(value), global_step=step)

    def add_scalars(self, values: Mapping[str, float], step: int) -> None:
        """Write several values at the same step, each under its own tag."""
        writer = self._writer_for(step)
        for tag, value in values.items():
            writer.add_scalar(tag, float(value), global_step=step)

    def add_text(self, tag: str, text: str, step: int) -> None:
        """Write one text (Markdown) value; ``step`` is cumul_number_frames_played."""
        self._writer_for(step).add_text(tag, text, global_step=step)

    def flush(self) -> None:
        """Write pending values to disk."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the current event file; a later value reopens the directory."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> SuffixedSummaryWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
