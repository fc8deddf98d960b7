"""SimCLR views: shape and range, reproducible from the generator, identity at zero strength, never flipped."""

from __future__ import annotations

import torch

from hairpin.pretrain.vis_augment import AugmentConfig, augment


def frames(batch: int = 8, channels: int = 2, size: int = 16) -> torch.Tensor:
    return torch.randint(
        0, 256, (batch, channels, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


def test_views_keep_shape_and_pixel_range() -> None:
    view = augment(frames(), torch.Generator().manual_seed(1))
    assert view.shape == (8, 2, 16, 16)
    assert view.dtype == torch.float32
    assert view.min() >= 0 and view.max() <= 255


def test_views_are_reproducible_from_the_generator_and_vary_with_it() -> None:
    img = frames()
    a = augment(img, torch.Generator().manual_seed(3))
    b = augment(img, torch.Generator().manual_seed(3))
    c = augment(img, torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().mean() > 1.0


def test_zero_strength_is_the_identity() -> None:
    img = frames()
    still = AugmentConfig(min_scale=1.0, max_shift=0.0, brightness=0.0, contrast=0.0)
    torch.testing.assert_close(augment(img, torch.Generator().manual_seed(0), still), img.float(), rtol=0, atol=1e-3)


def test_stacked_channels_share_one_transform() -> None:
    img = frames(channels=1).repeat(1, 3, 1, 1)  # three identical stacked frames
    view = augment(img, torch.Generator().manual_seed(5))
    torch.testing.assert_close(view[:, 0], view[:, 2], rtol=0, atol=0)


def test_a_left_bar_stays_on_the_left() -> None:
    """A horizontal flip would swap left and right bends: a bar left of centre must stay left in every view."""
    size = 32
    img = torch.zeros(64, 1, size, size, dtype=torch.uint8)
    img[..., int(0.15 * size) : int(0.3 * size)] = 255  # bar centred at 0.225 of the width
    cfg = AugmentConfig(min_scale=0.8, max_shift=0.05)  # centre moves at most 0.15 + 0.05: the bar stays left
    view = augment(img, torch.Generator().manual_seed(2), cfg)[:, 0]  # (B, H, W)
    bright = (view > view.mean(dim=(1, 2), keepdim=True)).float()  # (B, H, W)
    column = torch.arange(size, dtype=torch.float32)
    centroid = (bright.sum(1) * column).sum(1) / bright.sum((1, 2))  # (B,)
    assert bool((centroid < size / 2 - 2).all()), centroid
