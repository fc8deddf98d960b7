"""Losses of visual pretraining: hand-computed values and a loop reference for NT-Xent."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional

from hairpin.pretrain.vis_losses import gaussian_kl, nt_xent, reconstruction_mse, vae_loss


def test_reconstruction_mse_by_hand() -> None:
    recon = torch.zeros(2, 1, 2, 2)
    target = torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[2.0, 0.0], [0.0, 0.0]]]])
    torch.testing.assert_close(reconstruction_mse(recon, target), torch.tensor([1.0, 1.0]))


def test_gaussian_kl_by_hand() -> None:
    assert gaussian_kl(torch.zeros(3, 4), torch.zeros(3, 4)).abs().max() == 0
    mu, log_var = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(2.0)]])
    expected = 0.5 * 1.0 + 0.5 * (2.0 - 1.0 - math.log(2.0))
    torch.testing.assert_close(gaussian_kl(mu, log_var), torch.tensor([expected]))


def test_vae_loss_scales_the_kl_per_pixel() -> None:
    recon, target = torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4)
    mu, log_var = torch.ones(2, 3), torch.zeros(2, 3)
    loss, mse, kl = vae_loss(recon, target, mu, log_var, beta=2.0)
    assert mse.item() == pytest.approx(1.0)
    assert kl.item() == pytest.approx(1.5)
    assert loss.item() == pytest.approx(1.0 + 2.0 * 1.5 / 16)


def test_nt_xent_by_hand() -> None:
    z = torch.eye(2)  # two orthogonal samples, both views identical
    t = 0.5
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2.0))  # positive cos 1, two negatives cos 0
    assert nt_xent(z, z.clone(), t).item() == pytest.approx(expected)


def test_nt_xent_matches_a_loop_reference() -> None:
    gen = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    z = functional.normalize(torch.cat([z1, z2]), dim=1)
    t, n = 0.2, 10
    total = 0.0
    for i in range(n):
        j = (i + 5) % n
        denominator = sum(math.exp(float(z[i] @ z[k]) / t) for k in range(n) if k != i)
        total += -math.log(math.exp(float(z[i] @ z[j]) / t) / denominator)
    assert nt_xent(z1, z2, t).item() == pytest.approx(total / n, rel=1e-5)


def test_nt_xent_prefers_matching_views() -> None:
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    assert nt_xent(z, z, 0.1) < nt_xent(z, z.roll(1, dims=0), 0.1)
