"""IQNNetwork: shapes, dueling identity, normalisation inside the network, part names, init, state dicts."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from hairpin.config.nn import NNConfig, VisConfig
from hairpin.nets import IMAGE_MEAN, IMAGE_SCALE, PART_NAMES, IQNNetwork, fixed_taus, sample_taus
from hairpin.nets.parts import OUTPUT_GAIN, cosine_embedding
from hairpin.obs import FloatLayout

LAYOUT = FloatLayout()
PADDED = NNConfig(vis=VisConfig(paddings=(1, 1, 1, 1)))


def make_inputs(batch: int, size: int, channels: int = 1, seed: int = 0) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 256, (batch, channels, size, size), dtype=torch.uint8, generator=gen)
    floats = torch.from_numpy(LAYOUT.mean) + torch.from_numpy(LAYOUT.std) * torch.randn(
        batch, LAYOUT.size, generator=gen
    )
    return img, floats


@pytest.mark.parametrize(
    ("cfg", "size", "feature_width"), [(NNConfig(), 64, 32 * 4 * 4 + 256), (PADDED, 32, 32 * 4 * 4 + 256)]
)
@pytest.mark.parametrize("n_taus", [1, 8])
def test_shapes_with_image(cfg: NNConfig, size: int, feature_width: int, n_taus: int) -> None:
    net = IQNNetwork(cfg, image_size=size, float_layout=LAYOUT)
    img, floats = make_inputs(3, size)
    assert net.feature_width == feature_width
    assert net(img, floats, sample_taus(3, n_taus)).shape == (3, n_taus, 12)
    assert net.q_values(img, floats, n_taus=n_taus).shape == (3, 12)


@pytest.mark.parametrize("size", [32, 64])
def test_float_only_network_has_no_img_head_and_ignores_the_image(size: int) -> None:
    net = IQNNetwork(NNConfig(vis=VisConfig(enabled=False)), image_size=size, float_layout=LAYOUT)
    img, floats = make_inputs(2, size)
    assert net.img_head is None and not any(k.startswith("img_head") for k in net.state_dict())
    assert net.feature_width == 256
    taus = sample_taus(2, 5)
    out = net(None, floats, taus)  # (B, N, A)
    assert out.shape == (2, 5, 12)
    assert torch.equal(out, net(img, floats, taus))
    assert net.q_values(None, floats).shape == (2, 12)


def test_stacked_frames_and_small_images() -> None:
    net = IQNNetwork(NNConfig(), image_size=64, float_layout=LAYOUT, in_channels=4, n_actions=5)
    img, floats = make_inputs(2, 64, channels=4)
    assert net(img, floats, sample_taus(2, 3)).shape == (2, 3, 5)
    with pytest.raises(ValueError, match="image_size 32 is too small"):
        IQNNetwork(NNConfig(), image_size=32, float_layout=LAYOUT)


def test_bad_inputs_are_named() -> None:
    net = IQNNetwork(NNConfig(), image_size=64, float_layout=LAYOUT)
    img, floats = make_inputs(2, 64)
    with pytest.raises(ValueError, match="floats must be"):
        net(img, floats[:, :-1], sample_taus(2, 3))
    with pytest.raises(ValueError, match="img must be"):
        net(None, floats, sample_taus(2, 3))
    with pytest.raises(ValueError, match="img must be"):
        net(img[:, :, :32], floats, sample_taus(2, 3))


def test_dueling_identity() -> None:
    net = IQNNetwork(NNConfig(), image_size=64, float_layout=LAYOUT)
    outputs: dict[str, Tensor] = {}
    net.A_head.register_forward_hook(lambda m, i, o: outputs.__setitem__("A", o))
    net.V_head.register_forward_hook(lambda m, i, o: outputs.__setitem__("V", o))
    quantiles = net(*make_inputs(4, 64), sample_taus(4, 6))  # (B, N, A)
    assert outputs["A"].shape == (4, 6, 12) and outputs["V"].shape == (4, 6, 1)
    centred = quantiles - outputs["V"]  # (B, N, A)
    torch.testing.assert_close(centred.mean(2), torch.zeros(4, 6), atol=1e-6, rtol=0)
    torch.testing.assert_close(centred, outputs["A"] - outputs["A"].mean(2, keepdim=True))


def test_normalisation_happens_inside_the_network() -> None:
    net = IQNNetwork(NNConfig(), image_size=64, float_layout=LAYOUT)
    state = net.state_dict()
    torch.testing.assert_close(state["float_mean"], torch.from_numpy(LAYOUT.mean))
    torch.testing.assert_close(state["float_std"], torch.from_numpy(LAYOUT.std))
    seen: dict[str, Tensor] = {}
    net.img_head.register_forward_pre_hook(lambda m, a: seen.__setitem__("img", a[0]))
    net.float_feature_extractor.register_forward_pre_hook(lambda m, a: seen.__setitem__("floats", a[0]))
    img, floats = make_inputs(2, 64)
    net(img, floats, sample_taus(2, 1))
    torch.testing.assert_close(seen["img"], (img.float() - IMAGE_MEAN) / IMAGE_SCALE)
    assert seen["img"].min() >= -1 and seen["img"].max() < 1
    torch.testing.assert_close(seen["floats"], (floats - net.float_mean) / net.float_std)


def test_part_names() -> None:
    net = IQNNetwork(NNConfig(), image_size=64, float_layout=LAYOUT)
    assert tuple(net.parts()) == PART_NAMES
    assert tuple(name for name, _ in net.named_children()) == PART_NAMES
    assert {key.split(".")[0] for key in net.state_dict()} == {*PART_NAMES, "float_mean", "float_std"}


def test_orthogonal_init() -> None:
    cfg = NNConfig()
    net = IQNNetwork(cfg, image_size=64, float_layout=LAYOUT)
    gain = torch.nn.init.calculate_gain("leaky_relu", cfg.leaky_relu_slope)
    weight = net.float_feature_extractor[2].weight  # (256, 256)
    torch.testing.assert_close(weight @ weight.T, gain**2 * torch.eye(256), atol=1e-4, rtol=0)
    conv = net.img_head[6].weight.flatten(1)  # (32, 64 · 3 · 3)
    torch.testing.assert_close(conv @ conv.T, gain**2 * torch.eye(32), atol=1e-4, rtol=0)
    out = net.A_head[2].weight  # (12, 512)
    torch.testing.assert_close(out @ out.T, OUTPUT_GAIN**2 * torch.eye(12), atol=1e-8, rtol=0)
    assert all(torch.count_nonzero(b) == 0 for name, b in net.named_parameters() if name.endswith("bias"))


def test_state_dict_round_trip_is_strict() -> None:
    torch.manual_seed(0)
    net = IQNNetwork(NNConfig(), image_size=64, float_layout=LAYOUT)
    torch.manual_seed(1)
    other = IQNNetwork(NNConfig(), image_size=64, float_layout=LAYOUT)
    inputs = (*make_inputs(2, 64), sample_taus(2, 4))
    assert not torch.equal(net(*inputs), other(*inputs))
    other.load_state_dict(net.state_dict(), strict=True)
    assert torch.equal(net(*inputs), other(*inputs))
    float_only = IQNNetwork(NNConfig(vis=VisConfig(enabled=False)), image_size=64, float_layout=LAYOUT)
    with pytest.raises(RuntimeError, match="img_head"):
        float_only.load_state_dict(net.state_dict(), strict=True)


def test_taus() -> None:
    torch.testing.assert_close(fixed_taus(4), torch.tensor([0.125, 0.375, 0.625, 0.875]))
    taus = sample_taus(64, 16, generator=torch.Generator().manual_seed(0))
    assert taus.shape == (64, 16) and taus.dtype == torch.float32
    assert taus.min() >= 0 and taus.max() < 1
    torch.testing.assert_close(cosine_embedding(torch.tensor([[0.5]]), 3), torch.tensor([[[0.0, -1.0, 0.0]]]))


def test_initial_quantiles_are_small() -> None:
    net = IQNNetwork(NNConfig(), image_size=64, float_layout=LAYOUT)
    assert net(*make_inputs(8, 64), sample_taus(8, 8)).abs().max() < 0.5
