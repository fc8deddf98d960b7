"""Logs written with torch's real SummaryWriter, with known wall times, steps and values, and hand-made run.json."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from torch.utils.tensorboard import SummaryWriter

from hairpin.runfiles.manifest import RunManifest, Session

T0 = 1_700_000_000.0
"""Wall time of the first value of every test run (2023-11-14, a whole second)."""

Value = tuple[str, float, int, float]
"""(tag, value, step, wall time)."""


def iso(wall: float) -> str:
    """A wall time as run.json writes it."""
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="seconds")


def races(
    kind: str,
    map_: str,
    results: Iterable[tuple[int, float, bool, float]],
    prefix: str = "Race/",
    fill: str = "blind",
    progress: Iterable[float] | None = None,
) -> list[Value]:
    """The tags of races ``(step, race time s, finished, wall)`` as hairpin's race_scalars writes them; with
    ``progress``, each race's share of the lap too (one per race)."""
    values = []
    results = list(results)
    shares = list(progress) if progress is not None else [None] * len(results)
    for (step, time_s, finished, wall), share in zip(results, shares, strict=True):
        suffix = f"{fill}_{map_}" if fill else map_
        values.append((f"{prefix}{kind}_race_time_{suffix}", time_s, step, wall))
        values.append((f"{prefix}{kind}_race_finished_{suffix}", float(finished), step, wall))
        if finished:
            values.append((f"{prefix}{kind}_race_time_finished_{suffix}", time_s, step, wall))
        if share is not None:
            values.append((f"{prefix}{kind}_race_progress_{suffix}", share, step, wall))
    return values


@dataclass
class Logs:
    """A tensorboard/ and a runs/ directory under a test's tmp_path."""

    root: Path

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def write(self, directory: str, values: Iterable[Value]) -> Path:
        """One session: a new event file in ``tensorboard/<directory>`` holding ``values`` in order."""
        log_dir = self.tensorboard / directory
        with SummaryWriter(str(log_dir)) as writer:
            for tag, value, step, wall in values:
                writer.add_scalar(tag, value, step, walltime=wall)
        return log_dir

    def manifest(
        self,
        name: str,
        sessions: list[tuple[float, float | None]],
        tensorboard_dirs: list[str],
        group: str | None = None,
        seed: int | None = None,
    ) -> Path:
        """``runs/<name>/run.json`` with sessions ``(start, end or None)`` and absolute TensorBoard directories."""
        manifest = RunManifest(
            run_name=name,
            group=group,
            seed=seed,
            code_version="test",
            created=iso(sessions[0][0]),
            config={},
            sessions=[
                Session(
                    start=iso(start),
                    end=iso(end) if end is not None else None,
                    frames_start=0,
                    batches_start=0,
                    code_version="test",
                    killed=end is None and i < len(sessions) - 1,
                )
                for i, (start, end) in enumerate(sessions)
            ],
            tensorboard_dirs=[str(self.tensorboard / d) for d in tensorboard_dirs],
        )
        path = self.runs / name / "run.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(manifest.model_dump_json(indent=2))
        return path


@pytest.fixture
def logs(tmp_path: Path) -> Logs:
    """Empty tensorboard/ and runs/ directories under tmp_path."""
    return Logs(tmp_path)
