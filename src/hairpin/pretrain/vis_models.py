"""The three visual pretraining models around the RL ``img_head`` (DESIGN §4): an autoencoder, a variational
autoencoder and SimCLR. Each takes uint8 frames, normalises them exactly as ``IQNNetwork`` does
(``normalise_image``), and returns its losses; only ``encoder`` is exported.

    ae      img_head → features (B, Di) → mirrored decoder → reconstruction of the normalised frame; MSE
    vae     img_head → Linear μ, Linear log σ² (B, L) → z = μ + σ·ε → Linear, LeakyReLU → decoder; MSE + β·KL
    simclr  two augmented views → img_head → projection (B, L) → NT-Xent
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hairpin.config.pretrain import VisConfigPretrain
from hairpin.nets.iqn import normalise_image
from hairpin.nets.parts import conv_encoder, conv_output_size
from hairpin.pretrain.run import PretrainRunError
from hairpin.pretrain.vis_augment import augment
from hairpin.pretrain.vis_decoders import conv_decoder, projection_head
from hairpin.pretrain.vis_losses import nt_xent, reconstruction_mse, vae_loss

__all__ = ["Autoencoder", "SimCLR", "VariationalAutoencoder", "VisModel", "build_vis_model"]


class VisModel(nn.Module):
    """An ``encoder`` shaped exactly like the RL ``img_head`` (in_channels = n_stack) plus task modules."""

    def __init__(self, cfg: VisConfigPretrain) -> None:
        super().__init__()
        if not cfg.nn.vis.enabled:
            raise PretrainRunError("visual pretraining needs an image encoder, but nn.vis.enabled is false")
        channels, side = conv_output_size(cfg.nn.vis, cfg.image_size)
        self.feature_width = channels * side * side  # Di
        self.encoder = conv_encoder(cfg.nn.vis, cfg.n_stack, cfg.nn.leaky_relu_slope)

    def losses(self, img: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """Scalar losses of a batch img (B, C, H, W) uint8; ``loss`` is the one to minimise."""
        raise NotImplementedError


class Autoencoder(VisModel):
    """Reconstructs the normalised frame from the encoder's features."""

    def __init__(self, cfg: VisConfigPretrain) -> None:
        super().__init__(cfg)
        self.decoder = conv_decoder(cfg.nn.vis, cfg.image_size, cfg.n_stack, cfg.nn.leaky_relu_slope)

    def reconstruct(self, img: Tensor) -> Tensor:
        """Normalised reconstruction (B, C, H, W) of img (B, C, H, W) uint8."""
        return self.decoder(self.encoder(normalise_image(img)))  # (B, C, H, W)

    def losses(self, img: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """``loss`` = per-pixel MSE between the normalised frame and its reconstruction."""
        x = normalise_image(img)  # (B, C, H, W)
        mse = reconstruction_mse(self.decoder(self.encoder(x)), x).mean()
        return {"loss": mse}


class VariationalAutoencoder(VisModel):
    """β-VAE on the encoder's features; the decoder mirrors the conv stack."""

    def __init__(self, cfg: VisConfigPretrain) -> None:
        super().__init__(cfg)
        self.beta = cfg.vae_beta
        self.to_mu = nn.Linear(self.feature_width, cfg.latent_dim)
        self.to_log_var = nn.Linear(self.feature_width, cfg.latent_dim)
        self.from_latent = nn.Sequential(
            nn.Linear(cfg.latent_dim, self.feature_width), nn.LeakyReLU(cfg.nn.leaky_relu_slope)
        )
        self.decoder = conv_decoder(cfg.nn.vis, cfg.image_size, cfg.n_stack, cfg.nn.leaky_relu_slope)

    def reconstruct(self, img: Tensor) -> Tensor:
        """Normalised reconstruction (B, C, H, W) from the posterior mean z = μ."""
        return self.decoder(self.from_latent(self.to_mu(self.encoder(normalise_image(img)))))

    def losses(self, img: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """``loss`` = recon_mse + β · kl / (C · H · W) (see ``vae_loss``), with ``recon_mse`` and ``kl``."""
        x = normalise_image(img)  # (B, C, H, W)
        features = self.encoder(x)  # (B, Di)
        mu, log_var = self.to_mu(features), self.to_log_var(features)  # (B, L), (B, L)
        eps = torch.randn(mu.shape, device=mu.device, generator=generator)  # (B, L)
        z = mu + torch.exp(0.5 * log_var) * eps  # (B, L) reparameterisation
        loss, mse, kl = vae_loss(self.decoder(self.from_latent(z)), x, mu, log_var, self.beta)
        return {"loss": loss, "recon_mse": mse, "kl": kl}


class SimCLR(VisModel):
    """Contrastive: two random views of each frame should project close together, apart from other frames."""

    def __init__(self, cfg: VisConfigPretrain) -> None:
        super().__init__(cfg)
        self.temperature = cfg.simclr_temperature
        self.projection = projection_head(self.feature_width, cfg.latent_dim)

    def losses(self, img: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """``loss`` = NT-Xent between the projections of two augmented views of each frame."""
        views = torch.cat([augment(img, generator), augment(img, generator)])  # (2B, C, H, W) pixel values
        z = self.projection(self.encoder(normalise_image(views)))  # (2B, L)
        z1, z2 = z.chunk(2)  # (B, L) each
        return {"loss": nt_xent(z1, z2, self.temperature)}


def build_vis_model(cfg: VisConfigPretrain) -> VisModel:
    """The model of ``cfg.task``."""
    models: dict[str, type[VisModel]] = {"ae": Autoencoder, "vae": VariationalAutoencoder, "simclr": SimCLR}
    return models[cfg.task](cfg)
