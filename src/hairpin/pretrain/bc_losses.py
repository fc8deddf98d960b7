"""Losses of behavioural cloning, as pure functions of tensors and numbers.

- Cross-entropy of each offset head on its labels, masked where the label lies outside the frame's episode.
- The large-margin loss of DQfD (Hester et al. 2018, "Deep Q-learning from Demonstrations", eq. 2):
  max_a [Q(s, a) + l(a_E, a)] − Q(s, a_E), with l(a_E, a) = margin for a ≠ a_E and 0 for a = a_E. It pushes the
  demonstrated action's Q above every other by the margin, while n-step TD keeps Q on the scale of the returns.
- n-step TD on the demonstrations: the IQN quantile Huber loss (``hairpin.rl.loss``) of the demonstrated action's
  quantiles against r + γⁿ Z_τ'(s', a*), weighted by a mask that drops transitions without a usable next frame.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional

from hairpin.rl.loss import quantile_huber_loss

__all__ = ["demo_td_loss", "large_margin_loss", "masked_cross_entropy"]


def masked_cross_entropy(logits: Tensor, labels: Tensor, valid: Tensor) -> Tensor:
    """Mean cross-entropy over the valid labels: logits (B, O, A), labels and valid (B, O) → scalar (0 if none)."""
    safe_labels = torch.where(valid, labels, torch.zeros_like(labels))  # a masked label may hold anything
    per_label = functional.cross_entropy(logits.flatten(0, 1), safe_labels.flatten(), reduction="none")  # (B·O,)
    per_label = torch.where(valid.flatten(), per_label, torch.zeros_like(per_label))  # (B·O,)
    return per_label.sum() / valid.sum().clamp(min=1)


def large_margin_loss(q: Tensor, expert_action: Tensor, margin: float) -> Tensor:
    """DQfD large-margin loss per sample (Hester et al. 2018, eq. 2): q (B, A), expert_action (B,) int64 → (B,)."""
    penalty = torch.full_like(q, margin).scatter(1, expert_action[:, None], 0.0)  # (B, A): margin except at a_E
    q_expert = q.gather(1, expert_action[:, None]).squeeze(1)  # (B,)
    return (q + penalty).max(dim=1).values - q_expert  # (B,)


def demo_td_loss(quantiles: Tensor, taus: Tensor, action: Tensor, target: Tensor, mask: Tensor, kappa: float) -> Tensor:
    """Masked mean quantile Huber loss of the demonstrated action: quantiles (B, N, A), taus (B, N), action (B,),
    target (B, Np), mask (B,) bool → scalar (0 when no transition is usable)."""
    index = action[:, None, None].expand(-1, quantiles.shape[1], 1)  # (B, N, 1)
    pred = quantiles.gather(2, index).squeeze(2)  # (B, N)
    per_sample = quantile_huber_loss(pred, target, taus, kappa)  # (B,)
    per_sample = torch.where(mask, per_sample, torch.zeros_like(per_sample))  # (B,)
    return per_sample.sum() / mask.sum().clamp(min=1)
