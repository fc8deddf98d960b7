"""Random views of a batch of frames for SimCLR (Chen et al. 2020): crop-and-resize with a small shift, then
brightness and contrast jitter.

No horizontal flip: it would turn a left bend into a right one, and the encoder must tell them apart. No colour
jitter beyond brightness and contrast: the frames are grey. Every channel of a sample (its stacked frames) gets the
same transform, so the stack still shows one motion. All randomness comes from the ``generator`` passed in, so a
fixed-seed generator gives the same views every time (the validation loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional

__all__ = ["AugmentConfig", "augment"]


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of the random views."""

    min_scale: float = 0.7
    """Smallest crop side as a share of the image side (crop-and-resize zooms in by up to 1 / min_scale)."""
    max_shift: float = 0.1
    """Largest extra shift of the crop as a share of the image side (it may then cross the border: zero padding)."""
    brightness: float = 0.3
    """Brightness offset drawn in ±brightness · 255."""
    contrast: float = 0.3
    """Contrast factor drawn in [1 − contrast, 1 + contrast], around each frame's mean."""


def augment(img: Tensor, generator: torch.Generator, cfg: AugmentConfig = AugmentConfig()) -> Tensor:
    """One random view per sample: img (B, C, H, W) 0–255 → (B, C, H, W) float32 0–255 pixel values."""
    x = img.float()
    batch, device = x.shape[0], x.device

    def uniform(low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(batch, device=device, generator=generator)  # (B,)

    scale = uniform(cfg.min_scale, 1.0)  # (B,) crop side / image side
    # affine_grid works in [-1, 1] coordinates: a crop of side `scale` can move by 1 − scale and stay inside
    tx = (1 - scale) * uniform(-1.0, 1.0) + 2 * cfg.max_shift * uniform(-1.0, 1.0)  # (B,)
    ty = (1 - scale) * uniform(-1.0, 1.0) + 2 * cfg.max_shift * uniform(-1.0, 1.0)  # (B,)
    zero = torch.zeros_like(scale)
    theta = torch.stack([torch.stack([scale, zero, tx], 1), torch.stack([zero, scale, ty], 1)], 1)  # (B, 2, 3)
    grid = functional.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    x = functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # (B, C, H, W)
    contrast = uniform(1 - cfg.contrast, 1 + cfg.contrast)[:, None, None, None]  # (B, 1, 1, 1)
    brightness = 255.0 * uniform(-cfg.brightness, cfg.brightness)[:, None, None, None]  # (B, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return ((x - mean) * contrast + mean + brightness).clamp(0.0, 255.0)  # (B, C, H, W)
