"""Losses of visual pretraining, as pure functions of tensors: reconstruction MSE, the VAE's KL term (Kingma and
Welling 2014, "Auto-Encoding Variational Bayes"; β-VAE: Higgins et al. 2017) and NT-Xent (Chen et al. 2020).

VAE averaging: the loss of one frame is [Σ_pixels (x̂ − x)² + β · Σ_latent KL] / (C · H · W), the negative ELBO of a
unit-variance Gaussian decoder (up to the factor ½ that β absorbs) divided by the number of pixels. So its first
term is exactly the per-pixel ``recon_mse`` the autoencoder reports, and β keeps the meaning it has in the ELBO
whatever the image size. The logged ``kl`` is the KL of one frame summed over the latent dimensions (nats).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional

__all__ = ["gaussian_kl", "nt_xent", "reconstruction_mse", "vae_loss"]


def reconstruction_mse(recon: Tensor, target: Tensor) -> Tensor:
    """Mean squared error per pixel and per frame: recon, target (B, C, H, W) → (B,)."""
    return (recon - target).pow(2).flatten(1).mean(dim=1)  # (B,)


def gaussian_kl(mu: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) summed over the latent: mu, log_var (B, L) → (B,) nats (Kingma and Welling, app. B)."""
    return 0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var).sum(dim=1)  # (B,)


def vae_loss(recon: Tensor, target: Tensor, mu: Tensor, log_var: Tensor, beta: float) -> tuple[Tensor, Tensor, Tensor]:
    """(loss, recon_mse, kl), each averaged over the batch; loss = recon_mse + β · kl / (C · H · W)."""
    n_pixels = target[0].numel()  # C · H · W
    mse = reconstruction_mse(recon, target).mean()
    kl = gaussian_kl(mu, log_var).mean()
    return mse + beta * kl / n_pixels, mse, kl


def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """NT-Xent of two views of the same B samples: z1, z2 (B, L) → scalar (Chen et al. 2020, eq. 1, mean over 2B).

    Each view's positive is the other view of its sample; the 2B − 2 views of the other samples are its negatives.
    """
    batch = z1.shape[0]
    z = functional.normalize(torch.cat([z1, z2]), dim=1)  # (2B, L) on the unit sphere
    logits = z @ z.T / temperature  # (2B, 2B) cosine similarities / τ
    self_mask = torch.eye(2 * batch, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))  # a view is not its own negative
    positive = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)]).to(z.device)  # (2B,)
    return functional.cross_entropy(logits, positive)
