"""The IQN update: τ → target (no grad) → prediction → loss → step → stats (Dabney et al. 2018).

``Learner.update`` is the whole learning rule. Schedules, logging, checkpoints and the map cycle call it from
outside and set the learning rate through ``set_learning_rate``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from hairpin.config.rl import IQNConfig
from hairpin.nets import IQNNetwork, sample_taus
from hairpin.rl.loss import TargetSpread, quantile_huber_loss, td_target
from hairpin.rl.nstep import Batch

__all__ = ["Learner", "UpdateStats", "polyak_update"]

TorchBatch = Batch[Tensor]


class UpdateStats(NamedTuple):
    """What one update measured."""

    loss: float
    grad_norm: float
    mean_q: float
    td_error: Tensor  # (B,) per-sample loss, for prioritised replay


@torch.no_grad()
def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target ← (1 − τ)·target + τ·online, parameters and buffers."""
    torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), tau)  # one fused call, not one a tensor
    for target_buffer, online_buffer in zip(target.buffers(), online.buffers(), strict=True):
        target_buffer.copy_(online_buffer)


class Learner:
    """Owns the online and target networks' training step."""

    def __init__(self, online: IQNNetwork, target: IQNNetwork, optimizer: torch.optim.Optimizer, cfg: IQNConfig):
        self.online, self.target, self.optimizer, self.cfg = online, target, optimizer, cfg
        self.batches_done = 0
        self.target.requires_grad_(False)
        ratio = cfg.target_self_loss_clamp_ratio
        self.target_spread = TargetSpread(ratio) if ratio is not None else None

    def set_learning_rate(self, lr: float) -> None:
        """Set every parameter group's rate to ``lr`` × its part's multiplier."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)

    def _per_sample_loss(self, batch: TorchBatch, rescale: bool = False) -> tuple[Tensor, Tensor]:
        """Quantile Huber loss per transition (B,) and the online quantiles (B, N, A) it came from; ``rescale``:
        divided by the spread of each target (``TargetSpread``), when the config asks for it."""
        cfg = self.cfg
        B = batch.action.shape[0]
        device = batch.floats.device
        with torch.no_grad():
            next_taus = sample_taus(B, cfg.n_target_quantiles, device)  # (B, Np)
            next_quantiles = self.target(batch.next_img, batch.next_floats, next_taus)  # (B, Np, A)
            if cfg.double_dqn:
                acting_taus = sample_taus(B, cfg.n_acting_quantiles, device)  # (B, K)
                next_q = self.online(batch.next_img, batch.next_floats, acting_taus).mean(1)  # (B, A)
            else:
                next_q = next_quantiles.mean(1)  # (B, A)
            target = td_target(batch.reward, batch.discount, next_quantiles, next_q.argmax(1))  # (B, Np)
        taus = sample_taus(B, cfg.n_quantiles, device)  # (B, N)
        quantiles = self.online(batch.img, batch.floats, taus)  # (B, N, A)
        index = batch.action[:, None, None].expand(B, cfg.n_quantiles, 1)  # (B, N, 1)
        pred = quantiles.gather(2, index).squeeze(2)  # (B, N)
        per_sample = quantile_huber_loss(pred, target, taus, cfg.kappa)  # (B,)
        if rescale and self.target_spread is not None:
            per_sample = per_sample * self.target_spread.weights(target, next_taus, cfg.kappa)  # (B,)
        return per_sample, quantiles  # (B,), (B, N, A)

    def update(self, batch: TorchBatch) -> UpdateStats:
        """One gradient step on ``batch``."""
        per_sample, quantiles = self._per_sample_loss(batch, rescale=True)
        loss = (per_sample * batch.weight).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trained = [p for p in self.online.parameters() if p.grad is not None]
        grad_norm = torch.nn.utils.clip_grad_norm_(trained, self.cfg.clip_grad_norm) if trained else torch.zeros(())
        self.optimizer.step()
        self.batches_done += 1
        if self.batches_done % self.cfg.target_update_every_batches == 0:
            polyak_update(self.target, self.online, self.cfg.target_update_tau)
        return UpdateStats(
            loss=float(loss.detach()),
            grad_norm=float(grad_norm),
            mean_q=float(quantiles.detach().mean()),
            td_error=per_sample.detach(),
        )

    @torch.no_grad()
    def test_loss(self, batch: TorchBatch) -> float:
        """The loss on a held-out batch, without a step (``Training/loss_test``)."""
        return float(self._per_sample_loss(batch)[0].mean())
