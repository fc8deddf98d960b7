"""Config models of the IQN network (section ``nn``): one section per named part, each trainable, frozen or
frozen for a warm-up, with its own learning-rate multiplier (DESIGN §4)."""

from __future__ import annotations

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from hairpin.config.base import ConfigModel

__all__ = ["DecoderConfig", "FloatsConfig", "HeadConfig", "IQNEmbeddingConfig", "NNConfig", "PartConfig", "VisConfig"]


class PartConfig(ConfigModel):
    """How one part of the network is trained."""

    freeze: bool = False
    """Parameters never trained (left out of the optimizer), e.g. a pretrained encoder kept as it is."""
    lr_mult: float = Field(1.0, ge=0)
    """Learning-rate multiplier of this part's optimizer parameter group."""
    frozen_until_frames: int = Field(0, ge=0)
    """Frozen until this many frames were played, then trained (warm-up with frozen pretrained parts)."""


class VisConfig(PartConfig):
    """The convolutional image encoder ``img_head``; the defaults are the usual Trackmania IQN stack."""

    enabled: bool = True
    """False: a float-only network without ``img_head``; the image is ignored."""
    channels: tuple[PositiveInt, ...] = (16, 32, 64, 32)
    """Output channels of each convolution."""
    kernels: tuple[PositiveInt, ...] = (4, 4, 3, 3)
    """Kernel size of each convolution."""
    strides: tuple[PositiveInt, ...] = (2, 2, 2, 1)
    """Stride of each convolution."""
    paddings: tuple[NonNegativeInt, ...] = (0, 0, 0, 0)
    """Zero padding of each convolution. The unpadded default needs images of at least 34 × 34 pixels; for
    32 × 32 images use e.g. (1, 1, 1, 1)."""

    @model_validator(mode="after")
    def _same_lengths(self) -> VisConfig:
        lengths = {len(self.channels), len(self.kernels), len(self.strides), len(self.paddings)}
        if len(lengths) != 1 or not self.channels:
            raise ValueError(
                "nn.vis: channels, kernels, strides and paddings need the same non-zero length, got "
                f"{len(self.channels)}, {len(self.kernels)}, {len(self.strides)}, {len(self.paddings)}"
            )
        return self

    def image_too_small(self, image_size: int) -> str | None:
        """Why ``image_size`` leaves no pixels after the convolutions, or None (always None when disabled)."""
        return self.output_side(image_size)[1] if self.enabled else None

    def output_side(self, image_size: int) -> tuple[int, str | None]:
        """The side of the last feature map for square images, and why it is empty (None when it is not)."""
        side = image_size
        for i, (kernel, stride, pad) in enumerate(zip(self.kernels, self.strides, self.paddings, strict=True)):
            side = (side + 2 * pad - kernel) // stride + 1
            if side < 1:
                return side, (
                    f"image_size {image_size} is too small for nn.vis: convolution {i + 1} (kernel {kernel}, stride "
                    f"{stride}, padding {pad}) leaves no pixels; use larger images or set nn.vis.paddings"
                )
        return side, None
        side = image_size
        for i, (kernel, stride, pad) in enumerate(zip(self.kernels, self.strides, self.paddings, strict=True)):
            side = (side + 2 * pad - kernel) // stride + 1
            if side < 1:
                return (
                    f"image_size {image_size} is too small for nn.vis: convolution {i + 1} (kernel {kernel}, stride "
                    f"{stride}, padding {pad}) leaves no pixels; use larger images or set nn.vis.paddings"
                )
        return None


class FloatsConfig(PartConfig):
    """The MLP over the normalised floats, ``float_feature_extractor``."""

    hidden: int = Field(256, ge=1)
    """Width of each hidden layer (and of the part's output)."""
    layers: int = Field(2, ge=1)
    """Number of Linear + LeakyReLU layers."""


class IQNEmbeddingConfig(PartConfig):
    """The quantile embedding ``iqn_fc``: cos(π·i·τ), i = 1..embedding_dim, then Linear + LeakyReLU."""

    embedding_dim: int = Field(64, ge=1)
    """Number of cosines per τ (n in Dabney et al. 2018, eq. 4)."""


class HeadConfig(PartConfig):
    """One dueling head: Linear + LeakyReLU, then a linear output layer."""

    hidden: int = Field(512, ge=1)
    """Width of the hidden layer."""


class DecoderConfig(ConfigModel):
    """The dueling decoder: Q = V + A − mean over actions of A."""

    advantage: HeadConfig = HeadConfig()
    """The advantage head ``A_head`` (one output per action)."""
    value: HeadConfig = HeadConfig()
    """The value head ``V_head`` (one output)."""


class NNConfig(ConfigModel):
    """The IQN network shared by pretraining and RL, one section per named part."""

    vis: VisConfig = VisConfig()
    """Image encoder ``img_head``."""
    floats: FloatsConfig = FloatsConfig()
    """Float feature extractor ``float_feature_extractor``."""
    iqn: IQNEmbeddingConfig = IQNEmbeddingConfig()
    """Quantile embedding ``iqn_fc``."""
    decoder: DecoderConfig = DecoderConfig()
    """Dueling heads ``A_head`` and ``V_head``."""
    leaky_relu_slope: float = Field(0.01, ge=0, lt=1)
    """Negative slope of every LeakyReLU (also sets the orthogonal-init gain of the hidden layers)."""
