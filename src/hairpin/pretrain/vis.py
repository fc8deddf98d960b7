"""``hairpin pretrain vis``: train the RL ``img_head`` without labels (ae, vae or simclr) on demonstration frames,
then export it as ``encoder.pt`` (DESIGN §5).

The dataset is split by map; each epoch trains on shuffled batches of stacked frames, then measures the validation
loss (with fixed-seed noise and augmentations, so epochs compare); ``PretrainRun`` logs the metrics, keeps the best
epoch's encoder and stops early. For ae and vae, ``reconstructions.png`` shows validation frames reconstructed by
the best epoch's weights.

Metrics per epoch: ``train_loss`` (mean over the epoch's batches, weighted by their sizes), ``val_loss``, and for
vae the validation ``recon_mse`` (per pixel) and ``kl`` (per frame, summed over the latent; see ``vis_losses``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from rich.console import Console
from torch import Tensor

from hairpin.config.pretrain import VisConfigPretrain
from hairpin.data.arrays import DemoArrays
from hairpin.devices import resolve_device
from hairpin.nets.iqn import IMAGE_MEAN, IMAGE_SCALE
from hairpin.pretrain.run import PretrainRun, PretrainRunError, batch_indices, epoch_progress, split_demos
from hairpin.pretrain.vis_frames import FrameStacker
from hairpin.pretrain.vis_grid import write_reconstructions
from hairpin.pretrain.vis_models import Autoencoder, VariationalAutoencoder, VisModel, build_vis_model

__all__ = ["RECONSTRUCTIONS_NAME", "VisTrainer", "check_image_size", "run_vis"]

RECONSTRUCTIONS_NAME = "reconstructions.png"
_VAL_SEED_OFFSET = 1_000_003  # the validation generator's seed is cfg.seed + this, apart from training's


def check_image_size(demos: DemoArrays, image_size: int) -> None:
    """Raise ``ValueError`` naming both sizes when the frames are not ``image_size`` × ``image_size``."""
    height, width = demos.images.shape[-2:]
    if (height, width) != (image_size, image_size):
        raise PretrainRunError(
            f"the dataset's frames are {height}×{width} px but the config's image_size is {image_size}: "
            "record the dataset at that size or set image_size to the dataset's"
        )


class VisTrainer:
    """The model, its optimiser and the two splits' frame stackers; one instance trains one run.

    The benchmark times the two halves of a step separately: ``batch(indices)`` gathers the stacked uint8 frames
    and moves them to the device, ``train_step(img)`` does the gradient step. ``train_epoch`` and ``evaluate``
    loop over them.
    """

    def __init__(self, cfg: VisConfigPretrain, train: DemoArrays, val: DemoArrays, *, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        self.model: VisModel = build_vis_model(cfg).to(device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay
        )
        self.frames = {"train": FrameStacker(train, cfg.n_stack), "val": FrameStacker(val, cfg.n_stack)}
        self.generator = torch.Generator(device=device).manual_seed(cfg.seed)

    def batch(self, indices: np.ndarray, split: Literal["train", "val"] = "train") -> Tensor:
        """Stacked frames of rows ``indices`` (B,) of a split: (B, n_stack, H, W) uint8 on the device."""
        return torch.from_numpy(self.frames[split].batch(indices)).to(self.device, non_blocking=True)

    def train_step(self, img: Tensor) -> dict[str, Tensor]:
        """One gradient step on img (B, C, H, W) uint8; the detached losses (no device sync)."""
        self.model.train()
        losses = self.model.losses(img, self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        self.optimizer.step()
        return {name: value.detach() for name, value in losses.items()}

    def train_epoch(
        self,
        rng: np.random.Generator,
        *,
        deadline: float | None = None,
        on_batch: Callable[[], None] | None = None,
    ) -> dict[str, float]:
        """One shuffled pass over the training split (cut short past ``deadline``, a ``time.monotonic`` value)."""
        sums: dict[str, Tensor] = {}
        seen = 0
        for indices in batch_indices(len(self.frames["train"]), self.cfg.train.batch_size, rng):
            losses = self.train_step(self.batch(indices))
            _accumulate(sums, losses, len(indices))
            seen += len(indices)
            if on_batch is not None:
                on_batch()
            if deadline is not None and time.monotonic() > deadline:
                break
        return {name: float(total) / seen for name, total in sums.items()}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Losses on the whole validation split, with the same noise and augmentations every time."""
        self.model.eval()
        generator = torch.Generator(device=self.device).manual_seed(self.cfg.seed + _VAL_SEED_OFFSET)
        sums: dict[str, Tensor] = {}
        seen = 0
        for indices in batch_indices(len(self.frames["val"]), self.cfg.train.batch_size, None):
            losses = self.model.losses(self.batch(indices, "val"), generator)
            _accumulate(sums, losses, len(indices))
            seen += len(indices)
        return {name: float(total) / seen for name, total in sums.items()}

    def n_batches(self) -> int:
        """Batches in one training epoch."""
        return -(-len(self.frames["train"]) // self.cfg.train.batch_size)

    @torch.no_grad()
    def write_reconstructions(self, path: str | Path, n_images: int) -> Path:
        """``n_images`` validation frames, evenly spread over the split, above their reconstructions (ae, vae)."""
        model = self.model
        if not isinstance(model, Autoencoder | VariationalAutoencoder):
            raise TypeError(f"{type(model).__name__} does not reconstruct frames")
        model.eval()
        n_val = len(self.frames["val"])
        rows = np.unique(np.linspace(0, n_val - 1, min(n_images, n_val)).round().astype(np.int64))
        img = self.batch(rows, "val")  # (n, C, H, W) uint8
        recon = (model.reconstruct(img) * IMAGE_SCALE + IMAGE_MEAN).clamp(0, 255).round().to(torch.uint8)
        # the last channel is the frame itself (stacks are oldest first)
        return write_reconstructions(path, img[:, -1].cpu().numpy(), recon[:, -1].cpu().numpy())


def _accumulate(sums: dict[str, Tensor], losses: dict[str, Tensor], weight: int) -> None:
    """Add ``weight`` × each batch mean into ``sums``, on the device (no sync)."""
    for name, value in losses.items():
        sums[name] = sums[name] + value * weight if name in sums else value * weight


def _load_demos(cfg: VisConfigPretrain) -> DemoArrays:
    from hairpin.data.store import check_fits, load_demos  # imported here: the store is optional for this module

    demos, meta = load_demos(cfg.data.dataset, root=cfg.data.root)
    check_fits(meta, image_size=cfg.image_size, float_layout=None)
    return demos


def run_vis(
    cfg: VisConfigPretrain, *, console: Console | None = None, demos: DemoArrays | None = None
) -> dict[str, Any]:
    """Train ``img_head`` on ``demos`` (default: the dataset ``cfg.data`` names), export it; returns the manifest."""
    demos = _load_demos(cfg) if demos is None else demos
    check_image_size(demos, cfg.image_size)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.train.threads)
    rng = np.random.default_rng(cfg.seed)
    train, val = split_demos(demos, cfg.data)
    for name, split in (("training", train), ("validation", val)):
        if split.n_frames == 0:
            raise PretrainRunError(
                f"the {name} split of {cfg.data.dataset!r} has no frames (maps {sorted(set(split.maps))})"
            )
    run = PretrainRun(cfg, console=console)
    trainer = VisTrainer(cfg, train, val, device=resolve_device(cfg.train.device))
    limit = cfg.train.max_minutes
    deadline = None if limit is None else run.started + 60.0 * limit
    best_model: dict[str, Tensor] = {}
    for epoch in range(1, cfg.train.epochs + 1):
        with epoch_progress(run.console) as progress:  # transient: gone before the epoch's line is printed
            bar = progress.add_task(f"epoch {epoch}", total=trainer.n_batches())
            train_losses = trainer.train_epoch(rng, deadline=deadline, on_batch=partial(progress.advance, bar))
        val_losses = trainer.evaluate()
        metrics = {"train_loss": train_losses["loss"], "val_loss": val_losses.pop("loss"), **val_losses}
        stop = run.epoch_done(epoch, metrics, {"encoder": trainer.model.encoder.state_dict()})
        if run.best_epoch == epoch:
            best_model = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        if stop:
            break
    if run.best_epoch < 0:
        last = run.rows[-1]["val_loss"]
        raise PretrainRunError(f"the validation loss was never finite (last {last}): nothing to export; try a lower lr")
    if cfg.task in ("ae", "vae"):
        trainer.model.load_state_dict(best_model)
        trainer.write_reconstructions(run.dir / RECONSTRUCTIONS_NAME, cfg.recon_grid_images)
    return run.export(task=cfg.task, image_size=cfg.image_size, n_stack=cfg.n_stack, float_layout=None)
