"""BC losses: masked cross-entropy, the DQfD large-margin loss and masked TD, on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from hairpin.pretrain.bc_losses import demo_td_loss, large_margin_loss, masked_cross_entropy
from hairpin.rl.loss import quantile_huber_loss


def test_cross_entropy_of_uniform_logits_is_log_a() -> None:
    logits = torch.zeros(3, 2, 12)  # (B, O, A)
    labels = torch.tensor([[0, 5], [11, 3], [2, 2]])
    valid = torch.ones(3, 2, dtype=torch.bool)
    assert masked_cross_entropy(logits, labels, valid).item() == pytest.approx(math.log(12))


def test_a_masked_label_changes_nothing_and_the_mean_is_over_valid_labels() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 2, 4, requires_grad=True)  # (B, O, A)
    valid = torch.tensor([[True, False], [True, True]])
    labels = torch.tensor([[1, 0], [3, 2]])
    loss = masked_cross_entropy(logits, labels, valid)
    changed = labels.clone()
    changed[0, 1] = 3  # the masked label
    assert torch.equal(loss, masked_cross_entropy(logits, changed, valid))
    assert torch.equal(loss, masked_cross_entropy(logits, torch.tensor([[1, -1], [3, 2]]), valid))  # even invalid
    log_p = torch.log_softmax(logits, dim=2)  # (B, O, A)
    by_hand = -(log_p[0, 0, 1] + log_p[1, 0, 3] + log_p[1, 1, 2]) / 3
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-6)
    loss.backward()
    assert logits.grad is not None and torch.all(logits.grad[0, 1] == 0)  # no gradient from the masked label
    other = labels.clone()
    other[1, 1] = 0  # a valid label does change the loss
    assert masked_cross_entropy(logits, other, valid).item() != pytest.approx(loss.item())


def test_no_valid_label_gives_zero_loss() -> None:
    logits = torch.randn(2, 1, 3, requires_grad=True)
    loss = masked_cross_entropy(logits, torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, 1, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None and torch.all(logits.grad == 0)


def test_large_margin_loss_hand_computed() -> None:
    q = torch.tensor([[1.0, 2.0, 0.5], [1.0, 2.0, 0.5], [3.0, 2.0, 0.5], [2.5, 2.0, 0.5]])  # (B, A)
    expert = torch.tensor([0, 1, 0, 0])
    loss = large_margin_loss(q, expert, margin=0.8)
    # max(1, 2 + .8, .5 + .8) − 1; max(1 + .8, 2, .5 + .8) − 2; max(3, 2.8, 1.3) − 3; max(2.5, 2.8, 1.3) − 2.5
    assert loss.tolist() == pytest.approx([1.8, 0.0, 0.0, 0.3])
    assert large_margin_loss(q, expert, margin=0.0).tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0])


def test_large_margin_gradient_raises_the_expert_and_lowers_the_rival() -> None:
    q = torch.tensor([[1.0, 2.0, 0.5]], requires_grad=True)
    large_margin_loss(q, torch.tensor([0]), margin=0.8).sum().backward()
    assert q.grad is not None and q.grad.tolist() == [[-1.0, 1.0, 0.0]]


def test_demo_td_loss_masks_samples_and_matches_the_iqn_loss() -> None:
    torch.manual_seed(0)
    quantiles = torch.randn(3, 4, 5)  # (B, N, A)
    taus = torch.rand(3, 4)  # (B, N)
    action = torch.tensor([1, 4, 0])
    target = torch.randn(3, 6)  # (B, Np)
    mask = torch.tensor([True, False, True])
    loss = demo_td_loss(quantiles, taus, action, target, mask, kappa=0.1)
    pred = quantiles[torch.arange(3), :, action]  # (B, N)
    per_sample = quantile_huber_loss(pred, target, taus, 0.1)  # (B,)
    assert loss.item() == pytest.approx(((per_sample[0] + per_sample[2]) / 2).item(), rel=1e-6)
    wild = target.clone()
    wild[1] = 1e6  # the masked transition's target does not matter
    assert torch.equal(loss, demo_td_loss(quantiles, taus, action, wild, mask, kappa=0.1))
    none = torch.zeros(3, dtype=torch.bool)
    assert demo_td_loss(quantiles, taus, action, target, none, kappa=0.1).item() == 0.0
