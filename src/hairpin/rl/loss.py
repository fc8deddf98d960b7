"""The IQN loss and its bootstrapped target (Dabney et al. 2018, "Implicit Quantile Networks for Distributional
Reinforcement Learning", eq. 3), as pure functions of tensors and numbers.

N online τ are drawn for the prediction Z_τ(s, a) and Np target τ' for the target r + γⁿ Z_τ'(s', a*), where a*
is chosen by the caller (greedy on the online network for double DQN, on the target network otherwise). Each of
the N × Np pairs contributes the quantile Huber loss ρ^κ_τ(δ) = |τ − 1{δ < 0}| · L_κ(δ) / κ; the loss of a
sample sums over the N online quantiles and averages over the Np targets.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["TargetSpread", "quantile_huber_loss", "td_target"]


def quantile_huber_loss(pred: Tensor, target: Tensor, taus: Tensor, kappa: float) -> Tensor:
    """IQN loss per sample (Dabney et al. 2018, eq. 3). pred, taus (B, N); target (B, Np)."""
    delta = target[:, None, :] - pred[:, :, None]  # (B, N, Np)
    huber = torch.where(delta.abs() <= kappa, 0.5 * delta**2, kappa * (delta.abs() - 0.5 * kappa))
    weight = (taus[:, :, None] - (delta.detach() < 0).float()).abs()  # (B, N, Np)
    return (weight * huber / kappa).sum(1).mean(1)  # (B,)


def td_target(reward: Tensor, discount: Tensor, next_quantiles: Tensor, next_actions: Tensor) -> Tensor:
    """n-step target quantiles r + discount · Z_τ'(s', a*). reward, discount (B,) with discount = γⁿ, 0 after a
    finish; next_quantiles (B, Np, A); next_actions (B,) int64 → (B, Np)."""
    index = next_actions[:, None, None].expand(-1, next_quantiles.shape[1], 1)  # (B, Np, 1)
    chosen = next_quantiles.gather(2, index).squeeze(2)  # (B, Np)
    return reward[:, None] + discount[:, None] * chosen  # (B, Np)


class TargetSpread:
    """Linesight's "target self-loss" rescaling: each sample's loss is divided by the spread of its own target.

    The spread of a target distribution is √(its quantile loss against itself): wide targets (uncertain returns)
    give large losses whatever the prediction, and would otherwise dominate the batch. Per sample, the weight is
    typical / max(spread, typical_spread / clamp_ratio), where both typical values are running means (rate 0.01)
    of the spread and of the clamped spread, so the batch's mean scale stays about the same. The running means
    start from the first batch and are not checkpointed: a resumed run re-learns them within ~100 batches.
    """

    def __init__(self, clamp_ratio: float, rate: float = 0.01) -> None:
        self.clamp_ratio, self.rate = clamp_ratio, rate
        self.typical: float | None = None
        self.typical_clamped: float | None = None

    @torch.no_grad()
    def weights(self, target: Tensor, target_taus: Tensor, kappa: float) -> Tensor:
        """Per-sample loss weights (B,) for targets (B, Np) drawn at ``target_taus`` (B, Np); updates the means."""
        spread = quantile_huber_loss(target, target, target_taus, kappa).sqrt()  # (B,)
        mean = float(spread.mean())
        self.typical = mean if self.typical is None else (1 - self.rate) * self.typical + self.rate * mean
        clamped = spread.clamp(min=self.typical / self.clamp_ratio)  # (B,)
        mean_clamped = float(clamped.mean())
        old = self.typical_clamped
        self.typical_clamped = mean_clamped if old is None else (1 - self.rate) * old + self.rate * mean_clamped
        return self.typical_clamped / clamped  # (B,)
