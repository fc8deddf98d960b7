"""The implicit quantile network (Dabney et al. 2018, "Implicit Quantile Networks for Distributional
Reinforcement Learning") with a dueling decoder (Wang et al. 2016), built from named parts so that pretraining
and RL share the exact same modules (DESIGN §4):

    img_head                 conv encoder of the uint8 image                   (B, C, H, W) → (B, Di)
    float_feature_extractor  MLP of the floats                                 (B, F) → (B, Df)
    iqn_fc                   Linear of the cosine embedding of τ, LeakyReLU    (B, N, E) → (B, N, D), D = Di + Df
    A_head, V_head           dueling heads on features ⊙ embedding             (B, N, D) → (B, N, A), (B, N, 1)

Q_τ = V_τ + A_τ − mean_a A_τ. Both inputs are normalised here and nowhere else: the image with the constants
``IMAGE_MEAN`` and ``IMAGE_SCALE``, the floats with the ``float_mean`` / ``float_std`` buffers taken from the
``FloatLayout`` table, which travel with the state dict. Part names and state-dict keys follow the usual
Trackmania IQN checkpoints (``img_head.0.weight``, ``iqn_fc.weight``, ``A_head.2.bias``, ...).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hairpin.actions import N_ACTIONS
from hairpin.config.nn import NNConfig
from hairpin.nets.parts import conv_encoder, conv_output_size, cosine_embedding, dueling_head, float_mlp, iqn_linear
from hairpin.obs import FloatLayout

__all__ = ["IMAGE_MEAN", "IMAGE_SCALE", "PART_NAMES", "IQNNetwork", "fixed_taus", "normalise_image", "sample_taus"]

IMAGE_MEAN = 128.0
"""Subtracted from the 0–255 pixel values: the middle of the uint8 range, so images are centred near 0."""
IMAGE_SCALE = 128.0
"""Divides the centred pixels: the network sees values in [−1, 127/128]."""

PART_NAMES = ("img_head", "float_feature_extractor", "iqn_fc", "A_head", "V_head")
"""The named parts, in forward order; ``img_head`` is absent from float-only networks."""


def normalise_image(img: Tensor) -> Tensor:
    """(img − IMAGE_MEAN) / IMAGE_SCALE as float32: pixel values 0–255 (uint8 or float) → about [−1, 1]."""
    return (img.float() - IMAGE_MEAN) / IMAGE_SCALE


def sample_taus(
    batch: int, n: int, device: torch.device | str | None = None, generator: torch.Generator | None = None
) -> Tensor:
    """τ ~ U(0, 1) for training: (B, N) float32."""
    return torch.rand((batch, n), device=device, generator=generator)


def fixed_taus(n: int, device: torch.device | str | None = None) -> Tensor:
    """Evenly spaced midpoints (i + ½) / n, i = 0..n−1: (N,) float32, for deterministic greedy evaluation."""
    return (torch.arange(n, device=device, dtype=torch.float32) + 0.5) / n


class IQNNetwork(nn.Module):
    """Quantiles Z_τ(s, a) of the return for each τ and action, from an image and the float vector."""

    float_mean: Tensor  # (F,) buffer
    float_std: Tensor  # (F,) buffer

    def __init__(
        self,
        cfg: NNConfig,
        *,
        image_size: int,
        float_layout: FloatLayout,
        n_actions: int = N_ACTIONS,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        slope = cfg.leaky_relu_slope
        self.slope = slope
        self.embedding_dim = cfg.iqn.embedding_dim
        self.n_actions = n_actions
        self.n_floats = float_layout.size
        self.img_head: nn.Sequential | None = None
        self.image_shape: tuple[int, int, int] | None = None
        img_width = 0
        if cfg.vis.enabled:
            channels, side = conv_output_size(cfg.vis, image_size)
            self.img_head = conv_encoder(cfg.vis, in_channels, slope)
            self.image_shape = (in_channels, image_size, image_size)
            img_width = channels * side * side
        self.float_feature_extractor = float_mlp(self.n_floats, cfg.floats.hidden, cfg.floats.layers, slope)
        self.feature_width = img_width + cfg.floats.hidden  # D, the concatenated image and float features
        self.iqn_fc = iqn_linear(self.embedding_dim, self.feature_width, slope)
        self.A_head = dueling_head(self.feature_width, cfg.decoder.advantage, n_actions, slope)
        self.V_head = dueling_head(self.feature_width, cfg.decoder.value, 1, slope)
        self.register_buffer("float_mean", torch.as_tensor(float_layout.mean, dtype=torch.float32).clone())
        self.register_buffer("float_std", torch.as_tensor(float_layout.std, dtype=torch.float32).clone())

    def parts(self) -> dict[str, nn.Module]:
        """The named parts this network has, by name (``img_head`` only when the image is used)."""
        return {name: part for name in PART_NAMES if (part := getattr(self, name)) is not None}

    def features(self, img: Tensor | None, floats: Tensor) -> Tensor:
        """State features before the τ embedding: img (B, C, H, W) 0–255, floats (B, F) → (B, D)."""
        self._check_inputs(img, floats)
        float_features = self.float_feature_extractor((floats - self.float_mean) / self.float_std)  # (B, Df)
        if self.img_head is None:
            return float_features
        assert img is not None  # checked above
        img_features = self.img_head(normalise_image(img))  # (B, Di)
        return torch.cat([img_features, float_features], dim=1)  # (B, D)

    def forward(self, img: Tensor | None, floats: Tensor, taus: Tensor) -> Tensor:
        """Quantiles: img (B, C, H, W) uint8 (None when float-only), floats (B, F), taus (B, N) → (B, N, A)."""
        features = self.features(img, floats)  # (B, D)
        cosines = cosine_embedding(taus, self.embedding_dim)  # (B, N, E)
        tau_embedding = nn.functional.leaky_relu(self.iqn_fc(cosines), self.slope)  # (B, N, D)
        x = features[:, None, :] * tau_embedding  # (B, N, D)
        advantage = self.A_head(x)  # (B, N, A)
        value = self.V_head(x)  # (B, N, 1)
        return value + advantage - advantage.mean(dim=2, keepdim=True)  # (B, N, A)

    def q_values(self, img: Tensor | None, floats: Tensor, n_taus: int = 32) -> Tensor:
        """Q(s, a) as the mean of the quantiles at ``fixed_taus(n_taus)`` (a midpoint rule for E[Z]): (B, A)."""
        taus = fixed_taus(n_taus, device=floats.device).expand(floats.shape[0], n_taus)  # (B, N)
        return self(img, floats, taus).mean(dim=1)  # (B, A)

    def _check_inputs(self, img: Tensor | None, floats: Tensor) -> None:
        if floats.ndim != 2 or floats.shape[1] != self.n_floats:
            raise ValueError(f"floats must be (B, {self.n_floats}), got {tuple(floats.shape)}")
        if self.image_shape is None:
            return
        if img is None or img.ndim != 4 or tuple(img.shape[1:]) != self.image_shape:
            got = None if img is None else tuple(img.shape)
            raise ValueError(f"img must be (B, {', '.join(map(str, self.image_shape))}), got {got}")
        if img.shape[0] != floats.shape[0]:
            raise ValueError(f"img has {img.shape[0]} samples but floats has {floats.shape[0]}")
