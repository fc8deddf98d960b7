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

__all__ = ["quantile_huber_loss", "td_target"]


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
