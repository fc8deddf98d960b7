"""The experiment registry (``configs/experiments.yaml``): an experiment's name → the runs or variants it compares.

``hairpin plot --experiments NAME`` turns an entry into analysis options, so that a figure in a report is one
command away from being made again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from hairpin.analysis.analyze import AnalysisOptions
from hairpin.analysis.errors import AnalysisError
from hairpin.config import ConfigError, load_config
from hairpin.config.base import ConfigModel

__all__ = ["Experiment", "ExperimentRegistry", "experiment_options", "load_registry"]

DEFAULT_REGISTRY = Path("configs/experiments.yaml")


class Experiment(ConfigModel):
    """One comparison: its runs, or its variants with their seeds, and how to align them."""

    description: str = ""
    """One line saying what the experiment asks; it heads the report."""
    runs: list[str] = []
    """Run names or glob patterns; runs that share a run.json ``group`` are aggregated as one variant."""
    groups: dict[str, list[str]] = {}
    """Variant name → run names or glob patterns of its seeds (for runs whose run.json has no group)."""
    time_axis: Literal["auto", "wall_minutes", "training_hours", "frames", "batches"] = "auto"
    """Axis the runs are aligned on."""
    interval: str | None = None
    """Checkpoint spacing on a time axis (``30m``, ``2h``); a round value is chosen when unset."""
    step_interval: str | None = None
    """Checkpoint spacing on the frames or batches axis (``1M``)."""
    window: str | None = None
    """Span of the windowed finish rate; the checkpoint interval when unset."""
    metrics: list[str] = []
    """Tags to table and plot; every race and the usual scalars when empty."""
    gap_minutes: float = Field(30.0, gt=0)
    """For runs without run.json: a stretch this long without a value is downtime."""

    @model_validator(mode="after")
    def _names_runs(self) -> Experiment:
        if not self.runs and not self.groups:
            raise ValueError("an experiment needs runs or groups")
        return self


class ExperimentRegistry(ConfigModel):
    """The contents of configs/experiments.yaml."""

    experiments: dict[str, Experiment]
    """Experiment name → what it compares."""


def load_registry(path: str | Path) -> ExperimentRegistry:
    """Read and validate a registry file; a bad file is an AnalysisError naming the key."""
    try:
        return load_config(ExperimentRegistry, path)
    except ConfigError as error:
        raise AnalysisError(str(error)) from error


def experiment_options(registry: ExperimentRegistry, name: str, logdir: Path, runs_dir: Path) -> AnalysisOptions:
    """The analysis options of experiment ``name``; an unknown name lists the experiments that exist."""
    if name not in registry.experiments:
        raise AnalysisError(f"no experiment {name!r}; the registry has: {', '.join(registry.experiments) or 'none'}")
    experiment = registry.experiments[name]
    groups = tuple(f"{group}={pattern}" for group, patterns in experiment.groups.items() for pattern in patterns)
    patterns = [*experiment.runs, *(p for patterns in experiment.groups.values() for p in patterns)]
    return AnalysisOptions(
        runs=tuple(patterns),
        logdir=logdir,
        runs_dir=runs_dir,
        time_axis=experiment.time_axis,
        interval=experiment.interval,
        step_interval=experiment.step_interval,
        window=experiment.window,
        metrics=tuple(experiment.metrics),
        groups=groups,
        gap_minutes=experiment.gap_minutes,
    )
