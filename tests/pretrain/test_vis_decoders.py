"""The mirrored decoder returns exactly the input size; the projection head has the asked width."""

from __future__ import annotations

import pytest
import torch

from hairpin.config.nn import VisConfig
from hairpin.nets.parts import conv_encoder
from hairpin.pretrain.vis_decoders import conv_decoder, conv_sides, projection_head

PADDED = VisConfig(paddings=(1, 1, 1, 1))
ODD = VisConfig(channels=(8, 8, 4), kernels=(5, 3, 3), strides=(3, 2, 2), paddings=(2, 0, 1))


@pytest.mark.parametrize(
    ("cfg", "size"), [(VisConfig(), 64), (VisConfig(), 34), (VisConfig(), 47), (PADDED, 32), (PADDED, 33), (ODD, 41)]
)
@pytest.mark.parametrize("channels", [1, 3])
def test_decoder_output_matches_the_input_exactly(cfg: VisConfig, size: int, channels: int) -> None:
    encoder = conv_encoder(cfg, channels, 0.01)
    decoder = conv_decoder(cfg, size, channels, 0.01)
    x = torch.randn(2, channels, size, size)
    assert decoder(encoder(x)).shape == (2, channels, size, size)


def test_conv_sides_by_hand() -> None:
    assert conv_sides(VisConfig(), 64) == [64, 31, 14, 6, 4]
    assert conv_sides(PADDED, 32) == [32, 16, 8, 4, 4]


def test_too_small_images_are_named() -> None:
    with pytest.raises(ValueError, match=r"image_size 32 is too small"):
        conv_decoder(VisConfig(), 32, 1, 0.01)


def test_projection_head_shape() -> None:
    assert projection_head(40, 7)(torch.randn(5, 40)).shape == (5, 7)
