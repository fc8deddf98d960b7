"""``hairpin pretrain bc``: behavioural cloning of the demonstrations' actions, exported as parts RL injects.

The model is the RL ``IQNNetwork``'s own parts plus one head per time offset (``bc_model.py``). The loss is the
cross-entropy of every offset head on its labels, masked outside the episode; with ``use_full_iqn`` it adds
``margin_weight`` × the DQfD large-margin loss on Q and ``td_weight`` × n-step quantile-Huber TD on the
demonstrations' rewards (Hester et al. 2018, "Deep Q-learning from Demonstrations"; ``bc_losses.py``). TD uses a
target network updated by Polyak averaging after every batch, and RL's defaults for what BCConfig does not set: the
Huber threshold κ and the Polyak weight of ``IQNConfig``, the mini-race horizon and step length of
``MemoryConfig``, and the greedy next action of the target network (``double_dqn: false``).

Cross-entropy acts on the advantage logits, so it sets the scale of A − mean A; TD fits Q(s, a_E) = V + A_E −
mean A to the returns, so V absorbs the difference and the other actions' Q lie below the demonstrated one by
about the logit gaps, which acts as a margin. Hence two Q metrics: val_mean_q, the mean over actions as RL's
``RL/avg_Q`` reports it (= the mean of V), and val_mean_q_demo, the Q of the demonstrated action, the one on the
returns' scale.

Every epoch logs train_loss, train_acc, val_loss, val_acc (over the valid labels of all offsets),
val_acc_<offset>ms, val_acc_action_<name> (recall of the 0 ms head per action, NaN for an action absent from the
validation split), the two baselines of ``bc_metrics.py`` and, with the full IQN, the loss terms (``*_ce``,
``*_margin``, ``*_td``), val_mean_q and val_mean_q_demo. Training stops early on val_loss and the best epoch is
exported (``PretrainRun``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from rich.console import Console
from torch import Tensor

from hairpin.actions import ACTION_NAMES, N_ACTIONS
from hairpin.config.memory import MemoryConfig
from hairpin.config.pretrain import BCConfig
from hairpin.config.rl import IQNConfig
from hairpin.data.arrays import DemoArrays
from hairpin.devices import resolve_device
from hairpin.nets.iqn import fixed_taus, sample_taus
from hairpin.nets.parts import NetworkShapeError
from hairpin.obs import FloatLayout
from hairpin.pretrain.artifacts import ArtifactError, read_manifest
from hairpin.pretrain.bc_data import BCBatch, BCSplit, TDSettings, check_frame_step, make_batch
from hairpin.pretrain.bc_losses import demo_td_loss, large_margin_loss, masked_cross_entropy
from hairpin.pretrain.bc_metrics import (
    majority_action,
    majority_baseline_acc,
    per_action_recall,
    repeat_prev_baseline_acc,
)
from hairpin.pretrain.bc_model import BCModel, BCOutput, load_encoder_init
from hairpin.pretrain.run import PretrainRun, PretrainRunError, batch_indices, epoch_progress, split_demos
from hairpin.rl.learner import polyak_update
from hairpin.rl.loss import td_target

__all__ = ["BCTrainer", "LossTerms", "run_bc"]

_IQN_DEFAULTS = IQNConfig()
_MEMORY_DEFAULTS = MemoryConfig()
TD_KAPPA = _IQN_DEFAULTS.kappa
"""Huber threshold κ of the TD loss: RL's default."""
TARGET_POLYAK = _IQN_DEFAULTS.target_update_tau
"""Weight of the online network in the target network's update after each batch: RL's default."""


class LossTerms(NamedTuple):
    """The loss of one batch and its terms (scalars)."""

    total: Tensor
    ce: Tensor
    margin: Tensor | None  # full IQN only
    td: Tensor | None  # full IQN with td_weight > 0 only


class _Sums:
    """Running sums of an epoch's losses and hits, weighted by what each term averages over; kept on the device
    so that a batch never waits for the device to report."""

    def __init__(self, n_offsets: int, device: torch.device) -> None:
        zero = torch.zeros((), dtype=torch.float64, device=device)
        self.total = self.ce = self.margin = self.td = self.q = self.q_demo = zero
        self.frames = 0
        self.td_frames = self.labels = self.hits = zero
        self.offset_labels = self.offset_hits = torch.zeros(n_offsets, dtype=torch.float64, device=device)

    def add(self, terms: LossTerms, out: BCOutput, batch: BCBatch) -> None:
        b = batch.floats.shape[0]
        valid = batch.valid  # (B, O)
        hits = (out.logits.detach().argmax(dim=2) == batch.labels) & valid  # (B, O)
        n_valid = valid.sum()
        self.frames += b
        self.total = self.total + terms.total.detach() * b
        self.ce = self.ce + terms.ce.detach() * n_valid
        self.labels = self.labels + n_valid
        self.hits = self.hits + hits.sum()
        self.offset_labels = self.offset_labels + valid.sum(dim=0)
        self.offset_hits = self.offset_hits + hits.sum(dim=0)
        if terms.margin is not None and out.quantiles is not None:
            self.margin = self.margin + terms.margin.detach() * b
            q = out.quantiles.detach().mean(dim=1)  # (B, A)
            self.q = self.q + q.mean() * b
            self.q_demo = self.q_demo + q.gather(1, batch.action[:, None]).sum()
        if terms.td is not None and batch.td is not None:
            n_td = batch.td.mask.sum()
            self.td = self.td + terms.td.detach() * n_td
            self.td_frames = self.td_frames + n_td

    def per_frame(self, name: str) -> float:
        """The running sum ``name`` divided by the frames seen."""
        return float(getattr(self, name)) / max(self.frames, 1)

    def ce_mean(self) -> float:
        return float(self.ce) / max(float(self.labels), 1.0)

    def td_mean(self) -> float:
        return float(self.td) / max(float(self.td_frames), 1.0)

    def acc(self) -> float:
        labels = float(self.labels)
        return float(self.hits) / labels if labels else float("nan")


class BCTrainer:
    """Trains a ``BCModel`` on the training split and measures it on the validation split."""

    def __init__(
        self,
        cfg: BCConfig,
        train: DemoArrays,
        val: DemoArrays,
        *,
        float_layout: FloatLayout,
        device: torch.device | str = "cpu",
    ) -> None:
        if train.floats.shape[1] != float_layout.size:
            raise PretrainRunError(
                f"the demonstrations have {train.floats.shape[1]} floats, the layout {float_layout.size}"
            )
        self.cfg = cfg
        self.device = torch.device(device)
        self.image_size = train.image_size
        self.model = BCModel(cfg, image_size=train.image_size, float_layout=float_layout)
        self.encoder_manifest: dict[str, Any] | None = None
        if cfg.encoder_init_path is not None:
            self.encoder_manifest = load_encoder_init(self.model.net, cfg.encoder_init_path, train.image_size)
        self.model.to(self.device)
        self.images = self.model.net.img_head is not None
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay
        )
        self.train_split = BCSplit.from_demos(train, cfg.bc_time_offsets_ms)
        self.val_split = BCSplit.from_demos(val, cfg.bc_time_offsets_ms)
        self.rng = np.random.default_rng(cfg.seed)
        self.td: TDSettings | None = None
        self.target = None
        if cfg.use_full_iqn and cfg.td_weight > 0:
            for split in (train, val):
                check_frame_step(split, _MEMORY_DEFAULTS.step_ms)
            self.td = TDSettings(
                n_steps=cfg.td_n_steps,
                gamma=cfg.gamma,
                mini_race_steps=_MEMORY_DEFAULTS.mini_race_steps,
                step_s=_MEMORY_DEFAULTS.step_ms / 1000.0,
                time_slice=float_layout.slices["mini_race_time"],
            )
            self.target = copy.deepcopy(self.model.net).requires_grad_(False)
        majority = majority_action(train.actions)
        self.baselines = {
            "baseline_majority_acc": majority_baseline_acc(val.actions, majority),
            "baseline_repeat_prev_acc": repeat_prev_baseline_acc(val.actions, val.episode_starts, majority),
        }

    def batch(
        self, indices: np.ndarray, *, split: Literal["train", "val"] = "train", rng: np.random.Generator | None = None
    ) -> BCBatch:
        """The frames ``indices`` of the ``train`` or ``val`` split as a batch on the device."""
        source = {"train": self.train_split, "val": self.val_split}[split]
        return make_batch(source, indices, device=self.device, images=self.images, td=self.td, rng=rng or self.rng)

    def losses(self, batch: BCBatch, taus: Tensor, target_taus: Tensor) -> tuple[LossTerms, BCOutput]:
        """Loss terms of ``batch`` with online ``taus`` (B, N) and target ``target_taus`` (B, Np)."""
        cfg = self.cfg
        out = self.model(batch.img, batch.floats, taus)
        ce = masked_cross_entropy(out.logits, batch.labels, batch.valid)
        if out.quantiles is None:
            return LossTerms(ce, ce, None, None), out
        q = out.quantiles.mean(dim=1)  # (B, A)
        margin = large_margin_loss(q, batch.action, cfg.margin).mean()
        total = ce + cfg.margin_weight * margin
        td = None
        if batch.td is not None and self.target is not None:
            with torch.no_grad():
                next_quantiles = self.target(batch.td.next_img, batch.td.next_floats, target_taus)  # (B, Np, A)
                next_actions = next_quantiles.mean(dim=1).argmax(dim=1)  # (B,)
                target = td_target(batch.td.reward, batch.td.discount, next_quantiles, next_actions)  # (B, Np)
            td = demo_td_loss(out.quantiles, taus, batch.action, target, batch.td.mask, TD_KAPPA)
            total = total + cfg.td_weight * td
        return LossTerms(total, ce, margin, td), out

    def train_epoch(self, on_batch: Callable[[int], Any] | None = None) -> dict[str, float]:
        """One pass over the training split in a random order; ``on_batch(frames)`` after each step."""
        self.model.train()
        sums = _Sums(len(self.cfg.bc_time_offsets_ms), self.device)
        n_taus = self.cfg.n_taus
        for index in batch_indices(self.train_split.n_frames, self.cfg.train.batch_size, self.rng):
            batch = self.batch(index)
            b = len(index)
            taus = sample_taus(b, n_taus, self.device)  # (B, N)
            terms, out = self.losses(batch, taus, sample_taus(b, n_taus, self.device))
            self.optimizer.zero_grad(set_to_none=True)
            terms.total.backward()
            self.optimizer.step()
            if self.target is not None:
                polyak_update(self.target, self.model.net, TARGET_POLYAK)
            sums.add(terms, out, batch)
            if on_batch is not None:
                on_batch(b)
        metrics = {
            "train_loss": self._mean_loss(sums),
            "train_objective": sums.per_frame("total"),
            "train_acc": sums.acc(),
        }
        return metrics | self._term_metrics("train", sums)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Loss and accuracies on the validation split: fixed τ, no dropout, the same mini-race times each call."""
        self.model.eval()
        cfg = self.cfg
        sums = _Sums(len(cfg.bc_time_offsets_ms), self.device)
        rng = np.random.default_rng(cfg.seed + 1)
        val = self.val_split
        pred0: list[Tensor] = []  # (B,) 0 ms head's prediction per batch, in frame order
        zero = cfg.bc_time_offsets_ms.index(0) if 0 in cfg.bc_time_offsets_ms else None
        midpoints = fixed_taus(cfg.n_taus, self.device)  # (N,)
        for index in batch_indices(val.n_frames, cfg.train.batch_size, None):
            batch = self.batch(index, split="val", rng=rng)
            taus = midpoints.expand(len(index), cfg.n_taus)  # (B, N)
            terms, out = self.losses(batch, taus, taus)
            sums.add(terms, out, batch)
            if zero is not None:
                pred0.append(out.logits[:, zero].argmax(dim=1))
        metrics = {"val_loss": self._mean_loss(sums), "val_acc": sums.acc()}
        offset_hits, offset_labels = sums.offset_hits.cpu().numpy(), sums.offset_labels.cpu().numpy()
        for offset, hits, n in zip(cfg.bc_time_offsets_ms, offset_hits, offset_labels, strict=True):
            metrics[f"val_acc_{offset}ms"] = float(hits / n) if n else float("nan")
        if zero is not None:
            valid0 = val.valid[:, zero]  # (T,)
            pred = torch.cat(pred0).cpu().numpy()  # (T,)
            recall = per_action_recall(pred[valid0], val.labels[valid0, zero], N_ACTIONS)  # (A,)
            for name, value in zip(ACTION_NAMES, recall, strict=True):
                metrics[f"val_acc_action_{name.replace('+', '_')}"] = float(value)
        metrics |= self._term_metrics("val", sums)
        if cfg.use_full_iqn:
            metrics["val_mean_q"] = sums.per_frame("q")
            metrics["val_mean_q_demo"] = sums.per_frame("q_demo")
        return metrics

    def _mean_loss(self, sums: _Sums) -> float:
        """The imitation loss of the epoch, cross-entropy (+ margin for full IQN), each term averaged as in a batch.

        It is what early stopping compares. The TD term is trained on but left out: its targets move as Q spreads
        along the demonstrations, so it grows while the network improves and cannot rank epochs.
        """
        cfg = self.cfg
        loss = sums.ce_mean()
        if cfg.use_full_iqn:
            loss += cfg.margin_weight * sums.per_frame("margin")
        return loss

    def _term_metrics(self, prefix: str, sums: _Sums) -> dict[str, float]:
        if not self.cfg.use_full_iqn:
            return {}
        metrics = {f"{prefix}_ce": sums.ce_mean(), f"{prefix}_margin": sums.per_frame("margin")}
        if self.td is not None:
            metrics[f"{prefix}_td"] = sums.td_mean()
        return metrics

    def artifact_states(self) -> dict[str, dict[str, Tensor]]:
        """What ``run_bc`` exports from this epoch (see ``BCModel.artifact_states``)."""
        return self.model.artifact_states()


def _encoder_image_size(cfg: BCConfig) -> int | None:
    """The image size the init encoder was trained at, or None without ``encoder_init_path``."""
    if cfg.encoder_init_path is None:
        return None
    path = Path(cfg.encoder_init_path)
    if not path.exists():
        raise ArtifactError(f"encoder_init_path {path}: no such run folder or .pt file")
    try:
        size = read_manifest(path if path.is_dir() else path.parent).get("image_size")
    except ArtifactError as err:
        raise ArtifactError(f"encoder_init_path {path}: {err}") from err
    return None if size is None else int(size)


def _load_dataset(cfg: BCConfig) -> tuple[DemoArrays, FloatLayout]:
    """The dataset of ``cfg.data`` and its float layout, refused when it does not fit the network."""
    from hairpin.config.sim import EnvConfig
    from hairpin.data.store import check_fits, load_demos
    from hairpin.sim.race import float_layout

    demos, meta = load_demos(cfg.data.dataset, root=cfg.data.root)
    layout = float_layout(EnvConfig.model_validate(meta.env))
    check_fits(meta, image_size=_encoder_image_size(cfg), float_layout=layout)
    return demos, layout


def run_bc(
    cfg: BCConfig,
    *,
    console: Console | None = None,
    demos: DemoArrays | None = None,
    float_layout: FloatLayout | None = None,
) -> dict[str, Any]:
    """Train, stop early on val_loss, export the best epoch; returns the manifest.

    Without ``demos`` the dataset of ``cfg.data`` is loaded and checked; with ``demos`` (tests, benchmarks) their
    floats follow ``float_layout`` (default: ``FloatLayout()``).
    """
    console = console or Console(quiet=True)
    if demos is None:
        demos, layout = _load_dataset(cfg)
    else:
        layout = float_layout or FloatLayout()
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.train.device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.train.threads)
    train, val = split_demos(demos, cfg.data)
    try:
        trainer = BCTrainer(cfg, train, val, float_layout=layout, device=device)
    except NetworkShapeError as err:
        size = demos.images.shape[-1] if demos.images.size else None
        raise PretrainRunError(f"dataset {cfg.data.dataset!r} has {size} px frames: {err}") from err
    run = PretrainRun(cfg, console=console)
    console.print(
        f"bc: {train.n_frames} training frames on {len(set(train.maps))} maps, {val.n_frames} validation frames on "
        f"{sorted(set(val.maps))}, offsets {cfg.bc_time_offsets_ms} ms, device {device}"
    )
    with epoch_progress(console) as progress:
        for epoch in range(1, cfg.train.epochs + 1):
            task = progress.add_task(f"bc epoch {epoch}", total=train.n_frames)
            metrics = trainer.train_epoch(on_batch=partial(progress.advance, task))
            metrics |= trainer.evaluate() | trainer.baselines
            progress.remove_task(task)
            if run.epoch_done(epoch, metrics, trainer.artifact_states()):
                break
    image_size = trainer.image_size if trainer.images else None
    return run.export(task="bc", image_size=image_size, n_stack=1, float_layout=layout)
