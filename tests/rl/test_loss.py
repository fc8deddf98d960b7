"""The quantile Huber loss and the n-step target: hand-computed values, invariants, gradient direction."""

from __future__ import annotations

import pytest
import torch

from hairpin.rl.loss import quantile_huber_loss, td_target


def test_hand_computed_loss_covers_both_huber_branches() -> None:
    # κ = 1, pred (τ): 0 (0.25), 1 (0.75); targets 0.5, 3.0. ρ = |τ − 1{δ<0}| · L(δ), L(δ) = δ²/2 if |δ| ≤ 1
    # else |δ| − 1/2.
    #   i=0: δ = 0.5 → 0.25 · 0.125 = 0.03125      δ = 3.0 → 0.25 · 2.5 = 0.625   (linear)
    #   i=1: δ = −0.5 → 0.25 · 0.125 = 0.03125     δ = 2.0 → 0.75 · 1.5 = 1.125   (linear)
    # sum over i: 0.0625 and 1.75; mean over j: 0.90625.
    pred = torch.tensor([[0.0, 1.0]])
    taus = torch.tensor([[0.25, 0.75]])
    target = torch.tensor([[0.5, 3.0]])
    loss = quantile_huber_loss(pred, target, taus, kappa=1.0)
    assert loss.shape == (1,)
    torch.testing.assert_close(loss, torch.tensor([0.90625]))


def test_hand_computed_loss_with_kappa() -> None:
    # κ = 2, one pair δ = 3 − 0 = 3 > κ: L = 2 · (3 − 1) = 4, weight |0.1 − 0| = 0.1, / κ → 0.2.
    loss = quantile_huber_loss(torch.tensor([[0.0]]), torch.tensor([[3.0]]), torch.tensor([[0.1]]), kappa=2.0)
    torch.testing.assert_close(loss, torch.tensor([0.2]))


@pytest.mark.parametrize("value", [-3.0, 0.0, 2.5, 1e4])
def test_zero_when_pred_equals_target(value: float) -> None:
    pred = torch.full((3, 4), value)
    target = torch.full((3, 5), value)
    taus = torch.rand(3, 4)
    assert torch.equal(quantile_huber_loss(pred, target, taus, kappa=1.0), torch.zeros(3))


def test_shapes_and_per_sample_independence() -> None:
    pred, target, taus = torch.randn(6, 8), torch.randn(6, 5), torch.rand(6, 8)
    loss = quantile_huber_loss(pred, target, taus, kappa=1.0)
    assert loss.shape == (6,)
    torch.testing.assert_close(loss[2:3], quantile_huber_loss(pred[2:3], target[2:3], taus[2:3], kappa=1.0))


def test_raising_pred_above_all_targets_raises_the_loss() -> None:
    taus = torch.rand(4, 8)
    target = torch.randn(4, 5)
    pred = (target.max() + 0.1 + torch.rand(4, 8)).requires_grad_(True)
    loss = quantile_huber_loss(pred, target, taus, kappa=1.0)
    loss.sum().backward()
    assert (pred.grad > 0).all()
    assert (quantile_huber_loss(pred.detach() + 1.0, target, taus, kappa=1.0) > loss.detach()).all()


def test_minimiser_is_the_tau_quantile() -> None:
    # Against targets 0..9, the loss of one prediction at τ = 0.3 is smallest near the 30 % quantile.
    target = torch.arange(10.0)[None]  # (1, Np)
    candidates = torch.linspace(0.0, 9.0, 91)
    losses = [quantile_huber_loss(c.view(1, 1), target, torch.tensor([[0.3]]), kappa=0.01).item() for c in candidates]
    assert 2.0 <= candidates[int(torch.tensor(losses).argmin())] <= 3.0


def test_td_target_hand_case() -> None:
    next_quantiles = torch.tensor(
        [
            [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
            [[7.0, 8.0, 9.0], [10.0, 11.0, 12.0]],
        ]
    )  # (B=2, Np=2, A=3)
    reward = torch.tensor([1.0, 0.5])
    discount = torch.tensor([0.9, 0.0])  # the second sample finished: no bootstrap
    next_actions = torch.tensor([2, 0])
    target = td_target(reward, discount, next_quantiles, next_actions)
    # row 0: 1 + 0.9 · [3, 6] = [3.7, 6.4]; row 1: 0.5 + 0 · [7, 10] = [0.5, 0.5]
    torch.testing.assert_close(target, torch.tensor([[3.7, 6.4], [0.5, 0.5]]))
