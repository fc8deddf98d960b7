"""What every pretraining stage shares: the dataset split, the run directory, per-epoch metrics (TensorBoard and
CSV), early stopping on the validation loss with the best epoch's weights kept, a time limit, and progress.

A stage calls ``PretrainRun.epoch_done(epoch, metrics, states)`` after each epoch; the run keeps a copy of
``states`` when the validation loss improved and says when to stop. ``export`` then writes the best epoch's
artifacts. Metrics go to ``metrics.csv`` (rewritten atomically each epoch, so a crash never leaves half a row) and
to TensorBoard under ``Pretrain/<name>`` with the epoch as step.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter

from hairpin.atomic import atomic_write_text
from hairpin.config.loader import save_config
from hairpin.config.pretrain import BCConfig, DataConfig, VisConfigPretrain
from hairpin.data.arrays import DemoArrays
from hairpin.errors import HairpinError
from hairpin.obs import FloatLayout
from hairpin.pretrain.artifacts import MANIFEST_NAME, export_artifacts
from hairpin.run_lock import RunLock

__all__ = ["PretrainRun", "PretrainRunError", "batch_indices", "epoch_progress", "split_demos", "validation_maps"]

HEADLINE_METRICS = (
    "train_loss",
    "val_loss",
    "recon_mse",
    "kl",
    "train_acc",
    "val_acc",
    "baseline_majority_acc",
    "baseline_repeat_prev_acc",
    "val_mean_q_demo",
)
"""The metrics shown on each epoch's line (every metric goes to metrics.csv and TensorBoard)."""
SHORT_NAMES = {"baseline_majority_acc": "majority", "baseline_repeat_prev_acc": "repeat_prev"}


class PretrainRunError(HairpinError, ValueError):
    """A pretraining run that cannot start or export: its name is taken, its data cannot be split, no epoch ended."""


def validation_maps(maps: tuple[str, ...], cfg: DataConfig) -> list[str]:
    """The held-out maps: ``cfg.validation_maps``, or the last ``validation_fraction`` of the sorted map names."""
    if cfg.validation_maps:
        return list(cfg.validation_maps)
    names = sorted(set(maps))
    if len(names) < 2:
        raise PretrainRunError(
            f"the dataset has episodes of one map only ({names}); validation is split by map, so record at least two"
        )
    n_val = max(1, round(len(names) * cfg.validation_fraction))
    return names[-n_val:]


def split_demos(demos: DemoArrays, cfg: DataConfig) -> tuple[DemoArrays, DemoArrays]:
    """(train, validation), split by map (``DemoArrays.split_by_map``)."""
    return demos.split_by_map(validation_maps(demos.maps, cfg))


def epoch_progress(console: Console) -> Progress:
    """A transient bar for one epoch's batches; off when the console is quiet or not a terminal."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, console=console, transient=True, disable=console.quiet or not console.is_terminal)


def batch_indices(n: int, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Indices 0..n−1 in batches, shuffled with ``rng`` (in order when None); the last batch may be smaller."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


class PretrainRun:
    """The run directory of one pretraining stage, its logs, and early stopping."""

    def __init__(self, cfg: VisConfigPretrain | BCConfig, *, console: Console | None = None) -> None:
        self.cfg = cfg
        self.dir = Path(cfg.paths.runs) / cfg.run_name
        self._lock = RunLock(self.dir, what="pretraining run").acquire()
        if (self.dir / MANIFEST_NAME).exists():
            self._lock.release()
            raise PretrainRunError(
                f"{self.dir} already holds an exported pretraining run; choose another run_name (--set run_name=NEW)"
            )
        save_config(cfg, self.dir / "config.yaml")
        self.writer = SummaryWriter(str(Path(cfg.paths.tensorboard) / cfg.run_name))
        self.console = console or Console(quiet=True)
        self.rows: list[dict[str, float]] = []
        self.best_loss = math.inf
        self.best_epoch = -1
        self.best_states: dict[str, dict[str, Tensor]] = {}
        self.epochs_since_best = 0
        self.started = time.monotonic()

    def epoch_done(self, epoch: int, metrics: Mapping[str, float], states: Mapping[str, Mapping[str, Tensor]]) -> bool:
        """Log ``metrics`` (must hold ``val_loss``), keep ``states`` if best; True when training should stop."""
        row = {"epoch": float(epoch), "minutes": (time.monotonic() - self.started) / 60.0, **metrics}
        self.rows.append(row)
        for name, value in metrics.items():
            self.writer.add_scalar(f"Pretrain/{name}", value, epoch)
        self.writer.flush()
        self._write_csv()
        val_loss = float(metrics["val_loss"])
        improved = val_loss < self.best_loss
        if improved:
            self.best_loss, self.best_epoch, self.epochs_since_best = val_loss, epoch, 0
            self.best_states = {k: {n: t.detach().cpu().clone() for n, t in s.items()} for k, s in states.items()}
        else:
            self.epochs_since_best += 1
        shown = "  ".join(f"{SHORT_NAMES.get(k, k)} {metrics[k]:.4g}" for k in HEADLINE_METRICS if k in metrics)
        self.console.print(f"epoch {epoch:3d}  {shown}{'  [green]best[/green]' if improved else ''}")
        limit = self.cfg.train.max_minutes
        if self.epochs_since_best >= self.cfg.train.early_stop_patience:
            self.console.print(f"early stop: no lower val_loss for {self.epochs_since_best} epochs")
            return True
        if limit is not None and row["minutes"] >= limit:
            self.console.print(f"time limit: {row['minutes']:.1f} of {limit} minutes")
            return True
        return False

    def _write_csv(self) -> None:
        names = list(dict.fromkeys(k for row in self.rows for k in row))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=names, restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.dir / "metrics.csv", text.getvalue())

    def export(
        self, *, task: str, image_size: int | None, n_stack: int, float_layout: FloatLayout | None
    ) -> dict[str, Any]:
        """Write the best epoch's artifacts and the manifest; returns the manifest."""
        if self.best_epoch < 0:
            raise PretrainRunError(f"{self.dir}: no epoch finished, nothing to export")
        best_row = next(r for r in self.rows if int(r["epoch"]) == self.best_epoch)
        manifest = export_artifacts(
            self.dir,
            self.best_states,
            task=task,
            config=self.cfg.model_dump(mode="json"),
            metrics={"best": best_row, "epochs": len(self.rows)},
            best_epoch=self.best_epoch,
            image_size=image_size,
            n_stack=n_stack,
            float_layout=float_layout,
        )
        self.close()
        return manifest

    def close(self) -> None:
        """Close the logs and release the run directory (``export`` does this)."""
        self.writer.close()
        self._lock.release()
