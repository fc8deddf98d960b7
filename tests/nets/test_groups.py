"""Per-part parameter groups and freezing: frozen parts stay bit-identical through optimizer steps."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from hairpin.config.nn import DecoderConfig, FloatsConfig, HeadConfig, IQNEmbeddingConfig, NNConfig, VisConfig
from hairpin.nets import PART_NAMES, IQNNetwork, apply_freezing, param_groups, part_configs, sample_taus
from hairpin.obs import FloatLayout

LAYOUT = FloatLayout()
SIZE = 64


def make_net(cfg: NNConfig) -> IQNNetwork:
    torch.manual_seed(0)
    return IQNNetwork(cfg, image_size=SIZE, float_layout=LAYOUT)


def train_steps(net: nn.Module, optimizer: torch.optim.Optimizer, steps: int) -> None:
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        img = torch.randint(0, 256, (4, 1, SIZE, SIZE), dtype=torch.uint8, generator=gen)
        floats = torch.from_numpy(LAYOUT.mean) + torch.randn(4, LAYOUT.size, generator=gen)
        loss = net(img, floats, sample_taus(4, 8, generator=gen)).pow(2).mean() - 1.0
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def snapshot(net: IQNNetwork) -> dict[str, dict[str, torch.Tensor]]:
    return {name: {k: v.detach().clone() for k, v in part.state_dict().items()} for name, part in net.parts().items()}


def unchanged(before: dict[str, torch.Tensor], part: nn.Module) -> bool:
    return all(torch.equal(before[k], v) for k, v in part.state_dict().items())


def test_part_configs_map_sections_to_parts() -> None:
    cfg = NNConfig(decoder=DecoderConfig(advantage=HeadConfig(lr_mult=0.5)))
    configs = part_configs(cfg)
    assert tuple(configs) == PART_NAMES
    assert configs["img_head"] is cfg.vis and configs["float_feature_extractor"] is cfg.floats
    assert configs["iqn_fc"] is cfg.iqn and configs["V_head"] is cfg.decoder.value
    assert configs["A_head"].lr_mult == 0.5


def test_param_groups_carry_lr_mult_and_skip_frozen_parts() -> None:
    cfg = NNConfig(vis=VisConfig(freeze=True), iqn=IQNEmbeddingConfig(lr_mult=0.1), floats=FloatsConfig(lr_mult=0.0))
    net = make_net(cfg)
    groups = param_groups(net, cfg, base_lr=1e-3)
    assert [g["part"] for g in groups] == ["float_feature_extractor", "iqn_fc", "A_head", "V_head"]
    lrs = {g["part"]: g["lr"] for g in groups}
    assert lrs == pytest.approx({"float_feature_extractor": 0.0, "iqn_fc": 1e-4, "A_head": 1e-3, "V_head": 1e-3})
    for group in groups:
        assert {id(p) for p in group["params"]} == {id(p) for p in net.parts()[group["part"]].parameters()}
    optimizer = torch.optim.Adam(groups)  # the extra keys survive in the optimizer's groups
    assert [g["part"] for g in optimizer.param_groups] == [g["part"] for g in groups]


def test_param_groups_of_a_float_only_network() -> None:
    cfg = NNConfig(vis=VisConfig(enabled=False))
    assert [g["part"] for g in param_groups(make_net(cfg), cfg, 1e-3)] == list(PART_NAMES[1:])


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda groups: torch.optim.AdamW(groups, weight_decay=0.1),
        lambda groups: torch.optim.Adam(groups, weight_decay=0.1),
        lambda groups: torch.optim.RAdam(groups, weight_decay=0.1, decoupled_weight_decay=True),
        lambda groups: torch.optim.SGD(groups, momentum=0.9, weight_decay=0.1),
    ],
)
def test_frozen_parts_are_bit_identical_after_steps(make_optimizer: Callable) -> None:
    cfg = NNConfig(vis=VisConfig(freeze=True), decoder=DecoderConfig(advantage=HeadConfig(frozen_until_frames=1000)))
    net = make_net(cfg)
    optimizer = make_optimizer(param_groups(net, cfg, base_lr=1e-3))
    assert apply_freezing(net, cfg, frames_played=0) == ["img_head", "A_head"]
    before = snapshot(net)
    train_steps(net, optimizer, steps=3)
    assert unchanged(before["img_head"], net.img_head)
    assert unchanged(before["A_head"], net.A_head)
    for name in ("float_feature_extractor", "iqn_fc", "V_head"):
        assert not unchanged(before[name], net.parts()[name]), name


def test_frozen_until_frames_then_trained() -> None:
    cfg = NNConfig(vis=VisConfig(frozen_until_frames=500), floats=FloatsConfig(freeze=True))
    net = make_net(cfg)
    optimizer = torch.optim.AdamW(param_groups(net, cfg, base_lr=1e-3), weight_decay=0.1)
    assert apply_freezing(net, cfg, frames_played=499) == ["img_head", "float_feature_extractor"]
    assert not any(p.requires_grad for p in net.img_head.parameters())
    before = snapshot(net)
    train_steps(net, optimizer, steps=2)
    assert unchanged(before["img_head"], net.img_head)
    assert all(p.grad is None for p in net.img_head.parameters())

    assert apply_freezing(net, cfg, frames_played=500) == ["float_feature_extractor"]
    assert all(p.requires_grad for p in net.img_head.parameters())
    train_steps(net, optimizer, steps=2)
    assert not unchanged(before["img_head"], net.img_head)
    assert unchanged(before["float_feature_extractor"], net.float_feature_extractor)


def test_freezing_holds_under_torch_compile() -> None:
    cfg = NNConfig(vis=VisConfig(frozen_until_frames=10))
    net = make_net(cfg)
    compiled = torch.compile(net, backend="aot_eager")
    optimizer = torch.optim.AdamW(param_groups(net, cfg, base_lr=1e-3), weight_decay=0.1)
    apply_freezing(net, cfg, frames_played=0)
    before = snapshot(net)
    train_steps(compiled, optimizer, steps=2)
    assert unchanged(before["img_head"], net.img_head)
    assert not unchanged(before["iqn_fc"], net.iqn_fc)
    apply_freezing(net, cfg, frames_played=10)
    train_steps(compiled, optimizer, steps=2)
    assert not unchanged(before["img_head"], net.img_head)
