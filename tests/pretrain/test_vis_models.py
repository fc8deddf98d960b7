"""The three visual models: their encoder is the RL img_head, losses are finite scalars, gradients reach it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from hairpin.config.pretrain import VisConfigPretrain
from hairpin.nets.iqn import IQNNetwork, normalise_image
from hairpin.obs import FloatLayout
from hairpin.pretrain.vis_models import Autoencoder, SimCLR, VariationalAutoencoder, build_vis_model

EXPECTED_KEYS = {"ae": {"loss"}, "vae": {"loss", "recon_mse", "kl"}, "simclr": {"loss"}}


def images(batch: int, channels: int, size: int = 32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (batch, channels, size, size), dtype=torch.uint8, generator=gen)


@pytest.mark.parametrize("task", ["ae", "vae", "simclr"])
@pytest.mark.parametrize("n_stack", [1, 3])
def test_encoder_is_the_rl_img_head_and_learns(
    vis_make_config: Callable[..., VisConfigPretrain], task: str, n_stack: int
) -> None:
    cfg = vis_make_config(task=task, n_stack=n_stack)
    model = build_vis_model(cfg)
    net = IQNNetwork(cfg.nn, image_size=32, float_layout=FloatLayout(), in_channels=n_stack)
    expected = {k: v.shape for k, v in net.img_head.state_dict().items()}  # type: ignore[union-attr]
    assert {k: v.shape for k, v in model.encoder.state_dict().items()} == expected
    losses = model.losses(images(4, n_stack), torch.Generator().manual_seed(0))
    assert set(losses) == EXPECTED_KEYS[task]
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())
    losses["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


@pytest.mark.parametrize("task", ["ae", "vae"])
def test_reconstructions_have_the_input_shape(vis_make_config: Callable[..., VisConfigPretrain], task: str) -> None:
    model = build_vis_model(vis_make_config(task=task, n_stack=2))
    assert isinstance(model, Autoencoder | VariationalAutoencoder)
    assert model.reconstruct(images(3, 2)).shape == (3, 2, 32, 32)


def test_autoencoder_loss_is_the_mse_of_the_normalised_frame(vis_make_config: Callable[..., VisConfigPretrain]) -> None:
    model = build_vis_model(vis_make_config(task="ae"))
    img = images(4, 1)
    assert isinstance(model, Autoencoder)
    expected = (model.reconstruct(img) - normalise_image(img)).pow(2).mean()
    torch.testing.assert_close(model.losses(img, torch.Generator())["loss"], expected)


@pytest.mark.parametrize("task", ["vae", "simclr"])
def test_random_losses_follow_the_generator(vis_make_config: Callable[..., VisConfigPretrain], task: str) -> None:
    model = build_vis_model(vis_make_config(task=task))
    img = images(4, 1)
    a = model.losses(img, torch.Generator().manual_seed(7))["loss"]
    b = model.losses(img, torch.Generator().manual_seed(7))["loss"]
    c = model.losses(img, torch.Generator().manual_seed(8))["loss"]
    assert a.item() == b.item() != c.item()


def test_task_picks_the_model(vis_make_config: Callable[..., VisConfigPretrain]) -> None:
    assert type(build_vis_model(vis_make_config(task="simclr"))) is SimCLR


def test_a_network_without_image_is_refused(vis_make_config: Callable[..., VisConfigPretrain]) -> None:
    with pytest.raises(ValueError, match=r"nn.vis.enabled"):
        build_vis_model(vis_make_config(nn={"vis": {"enabled": False}}))
