"""Modules that sit on top of ``img_head`` during visual pretraining and are thrown away afterwards: the decoder
that mirrors the conv stack (ae, vae) and the SimCLR projection MLP (Chen et al. 2020, "A Simple Framework for
Contrastive Learning of Visual Representations").

The decoder runs the encoder's convolutions backwards with ``ConvTranspose2d`` (same kernels, strides and
paddings). A strided convolution drops up to ``stride − 1`` rows, so each transposed convolution gets the
``output_padding`` that restores its input's exact side: the output matches the input size with no crop or
interpolation.
"""

from __future__ import annotations

from torch import nn

from hairpin.config.nn import VisConfig
from hairpin.nets.parts import conv_output_size

__all__ = ["conv_decoder", "conv_sides", "projection_head"]


def conv_sides(cfg: VisConfig, image_size: int) -> list[int]:
    """Side of the feature map before each convolution and after the last: len(channels) + 1 values."""
    conv_output_size(cfg, image_size)  # raises with a clear message when the image is too small
    sides = [image_size]
    for kernel, stride, pad in zip(cfg.kernels, cfg.strides, cfg.paddings, strict=True):
        sides.append((sides[-1] + 2 * pad - kernel) // stride + 1)
    return sides


def conv_decoder(cfg: VisConfig, image_size: int, out_channels: int, slope: float) -> nn.Sequential:
    """Mirror of ``conv_encoder``: (B, channels[-1] · h · w) features → (B, out_channels, H, W), linear output."""
    sides = conv_sides(cfg, image_size)
    in_channels = [out_channels, *cfg.channels[:-1]]  # input channels of each encoder convolution
    layers: list[nn.Module] = [nn.Unflatten(1, (cfg.channels[-1], sides[-1], sides[-1]))]
    for i in reversed(range(len(cfg.channels))):
        kernel, stride, pad = cfg.kernels[i], cfg.strides[i], cfg.paddings[i]
        natural = (sides[i + 1] - 1) * stride - 2 * pad + kernel  # transposed-conv output without extra padding
        extra = sides[i] - natural  # in [0, stride − 1] by construction of sides
        layers.append(
            nn.ConvTranspose2d(
                cfg.channels[i], in_channels[i], kernel, stride=stride, padding=pad, output_padding=extra
            )
        )
        if i > 0:
            layers.append(nn.LeakyReLU(slope))
    return nn.Sequential(*layers)


def projection_head(width: int, latent_dim: int) -> nn.Sequential:
    """SimCLR's g(·): (B, width) → (B, latent_dim) through one hidden ReLU layer of the features' width."""
    return nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, latent_dim))
