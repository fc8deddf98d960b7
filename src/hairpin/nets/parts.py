"""The building blocks of the IQN network's named parts: the conv encoder, the float MLP, the cosine embedding of
τ and the dueling heads, with their orthogonal initialisation.

Every hidden layer (conv or linear, followed by a LeakyReLU) is initialised orthogonally with the LeakyReLU gain
√(2 / (1 + slope²)), which keeps the activations' scale through the stack. The output layers of the dueling heads
get ``OUTPUT_GAIN`` = 0.01: the network starts with Q ≈ 0 for every action and τ, so the first bootstrapped
targets are close to the rewards rather than to random outputs, no action is preferred by chance, and a pretrained
``A_head`` injected later replaces a near-neutral head. Adam scales each parameter's update by its own gradient
statistics, so the small output weights do not slow the body's learning. Biases start at zero.
"""

from __future__ import annotations

import math
from typing import TypeVar

import torch
from torch import Tensor, nn

from hairpin.config.nn import HeadConfig, VisConfig
from hairpin.errors import HairpinError

__all__ = [
    "OUTPUT_GAIN",
    "NetworkShapeError",
    "conv_encoder",
    "conv_output_size",
    "cosine_embedding",
    "dueling_head",
    "float_mlp",
    "iqn_linear",
]

OUTPUT_GAIN = 0.01
"""Orthogonal-init gain of the last layers of ``A_head`` and ``V_head``."""


_Layer = TypeVar("_Layer", nn.Conv2d, nn.Linear)


def _init(layer: _Layer, gain: float) -> _Layer:
    nn.init.orthogonal_(layer.weight, gain=gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def _hidden_gain(slope: float) -> float:
    return nn.init.calculate_gain("leaky_relu", slope)


class NetworkShapeError(HairpinError, ValueError):
    """A network that cannot be built for these inputs (an image too small for the convolutions)."""


def conv_output_size(cfg: VisConfig, image_size: int) -> tuple[int, int]:
    """(channels, side) of the encoder's last feature map for square images; raises when the image is too small."""
    side, problem = cfg.output_side(image_size)
    if problem is not None:
        raise NetworkShapeError(problem)
    return cfg.channels[-1], side


def conv_encoder(cfg: VisConfig, in_channels: int, slope: float) -> nn.Sequential:
    """img_head: (B, C, H, W) normalised image → (B, channels[-1] · h · w) features."""
    layers: list[nn.Module] = []
    for out_channels, kernel, stride, pad in zip(cfg.channels, cfg.kernels, cfg.strides, cfg.paddings, strict=True):
        conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=pad)
        layers += [_init(conv, _hidden_gain(slope)), nn.LeakyReLU(slope)]
        in_channels = out_channels
    return nn.Sequential(*layers, nn.Flatten())


def float_mlp(n_floats: int, hidden: int, n_layers: int, slope: float) -> nn.Sequential:
    """float_feature_extractor: (B, F) normalised floats → (B, hidden)."""
    layers: list[nn.Module] = []
    width = n_floats
    for _ in range(n_layers):
        layers += [_init(nn.Linear(width, hidden), _hidden_gain(slope)), nn.LeakyReLU(slope)]
        width = hidden
    return nn.Sequential(*layers)


def dueling_head(width: int, cfg: HeadConfig, n_out: int, slope: float) -> nn.Sequential:
    """A_head (n_out = A) or V_head (n_out = 1): (..., width) → (..., n_out)."""
    return nn.Sequential(
        _init(nn.Linear(width, cfg.hidden), _hidden_gain(slope)),
        nn.LeakyReLU(slope),
        _init(nn.Linear(cfg.hidden, n_out), OUTPUT_GAIN),
    )


def iqn_linear(embedding_dim: int, width: int, slope: float) -> nn.Linear:
    """iqn_fc: (..., embedding_dim) cosines → (..., width); a plain Linear so its keys match the usual checkpoints."""
    return _init(nn.Linear(embedding_dim, width), _hidden_gain(slope))


def cosine_embedding(taus: Tensor, embedding_dim: int) -> Tensor:
    """cos(π·i·τ) for i = 1..embedding_dim (Dabney et al. 2018, eq. 4): taus (B, N) → (B, N, embedding_dim)."""
    i = torch.arange(1, embedding_dim + 1, device=taus.device, dtype=taus.dtype)  # (embedding_dim,)
    return torch.cos(math.pi * i * taus[:, :, None])  # (B, N, embedding_dim)
