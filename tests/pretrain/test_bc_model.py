"""BCModel: shapes, heads that are the RL A_head, zeroed float features, dropout that keeps the keys, exports per
mode, and the encoder start from an artifact (stacked channels summed, strict checks)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from hairpin.config.nn import NNConfig
from hairpin.config.pretrain import BCConfig
from hairpin.nets import IQNNetwork, fixed_taus, sample_taus
from hairpin.nets.parts import cosine_embedding
from hairpin.nets.stacking import sum_first_conv_channels
from hairpin.obs import FloatLayout
from hairpin.pretrain.artifacts import ArtifactError, export_artifacts
from hairpin.pretrain.bc_model import BCModel, check_bc_config, load_encoder_init

LAYOUT = FloatLayout()
VIS_ON = {"nn": {"vis": {"enabled": True}}}
A_HEAD_KEYS = ["0.weight", "0.bias", "2.weight", "2.bias"]


def inputs(batch: int = 3, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 256, (batch, 1, size, size), dtype=torch.uint8, generator=gen)
    z = torch.randn(batch, LAYOUT.size, generator=gen)  # (B, F)
    floats = torch.from_numpy(LAYOUT.mean) + torch.from_numpy(LAYOUT.std) * z
    return img, floats


@pytest.mark.parametrize(
    ("overrides", "quantiles"),
    [({}, False), ({"use_actions_head": False}, False), ({"use_full_iqn": True}, True)],
)
def test_output_shapes(bc_make_config: Callable[..., BCConfig], overrides: dict, quantiles: bool) -> None:
    cfg = bc_make_config(bc_time_offsets_ms=[0, 50, -100], **VIS_ON, **overrides)
    model = BCModel(cfg, image_size=32, float_layout=LAYOUT)
    img, floats = inputs()
    out = model(img, floats, sample_taus(3, 5))
    assert out.logits.shape == (3, 3, 12)  # (B, O, A)
    assert (out.quantiles is not None) == quantiles
    if out.quantiles is not None:
        assert out.quantiles.shape == (3, 5, 12)  # (B, N, A)


def test_the_zero_ms_head_is_the_networks_a_head_and_others_share_its_keys(
    bc_make_config: Callable[..., BCConfig],
) -> None:
    cfg = bc_make_config(bc_time_offsets_ms=[50, 0], action_head_dropout=0.3)
    model = BCModel(cfg, image_size=32, float_layout=LAYOUT)
    heads = model.heads()
    assert heads[1] is model.net.A_head
    for head in heads:
        assert list(head.state_dict()) == A_HEAD_KEYS
        assert {k: v.shape for k, v in head.state_dict().items()} == {
            k: v.shape for k, v in model.net.A_head.state_dict().items()
        }
    plain = BCModel(bc_make_config(use_actions_head=False), image_size=32, float_layout=LAYOUT)
    assert isinstance(plain.heads()[0], torch.nn.Linear) and plain.heads()[0] is not plain.net.A_head


def test_full_iqn_quantiles_are_the_networks_own(bc_make_config: Callable[..., BCConfig]) -> None:
    cfg = bc_make_config(use_full_iqn=True, bc_time_offsets_ms=[0, 20], dropout=0.5, action_head_dropout=0.5, **VIS_ON)
    model = BCModel(cfg, image_size=32, float_layout=LAYOUT).eval()
    img, floats = inputs()
    taus = fixed_taus(6).expand(3, 6)
    out = model(img, floats, taus)
    assert out.quantiles is not None
    assert torch.allclose(out.quantiles, model.net(img, floats, taus), atol=1e-6)
    assert torch.allclose(out.logits[:, 0], model.net.A_head(x_of(model.net, img, floats, taus)).mean(1), atol=1e-6)


def x_of(net: IQNNetwork, img: torch.Tensor, floats: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
    """The RL feature path: features ⊙ LeakyReLU(iqn_fc(cos)) (B, N, D)."""
    embedding = torch.nn.functional.leaky_relu(net.iqn_fc(cosine_embedding(taus, net.embedding_dim)), net.slope)
    return net.features(img, floats)[:, None, :] * embedding


def test_dropout_acts_in_training_only(bc_make_config: Callable[..., BCConfig]) -> None:
    model = BCModel(bc_make_config(action_head_dropout=0.5), image_size=32, float_layout=LAYOUT)
    _, floats = inputs()
    taus = fixed_taus(4).expand(3, 4)
    torch.manual_seed(0)
    trained = model.train()(None, floats, taus).logits
    evaluated = model.eval()(None, floats, taus).logits
    assert not torch.allclose(trained, evaluated)
    assert torch.equal(evaluated, model(None, floats, taus).logits)


def test_without_floats_the_float_features_are_zero(bc_make_config: Callable[..., BCConfig]) -> None:
    cfg = bc_make_config(use_floats=False, **VIS_ON)
    model = BCModel(cfg, image_size=32, float_layout=LAYOUT).eval()
    img, floats = inputs()
    features = model.features(img, floats)  # (B, D)
    assert features.shape == (3, model.net.feature_width)  # D unchanged, so the heads fit RL's
    assert torch.all(features[:, -cfg.nn.floats.hidden :] == 0)
    taus = fixed_taus(4).expand(3, 4)
    assert torch.equal(model(img, floats, taus).logits, model(img, floats * 3 + 1, taus).logits)
    assert "float_head" not in model.artifact_states()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"use_floats": False}, "no input to learn from"),
        ({"bc_mode": "backbone"}, "exports only img_head"),
        ({"encoder_init_path": "somewhere"}, "nn.vis.enabled is false"),
        ({"use_full_iqn": True, "use_floats": False, **VIS_ON}, "Set use_floats: true"),
    ],
)
def test_useless_settings_are_refused(bc_make_config: Callable[..., BCConfig], overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_bc_config(bc_make_config(**overrides))


@pytest.mark.parametrize(
    ("overrides", "artifacts"),
    [
        ({"bc_mode": "backbone", **VIS_ON}, {"encoder"}),
        (VIS_ON, {"encoder", "actions_head", "iqn_embedding", "float_head"}),
        ({"use_actions_head": False, **VIS_ON}, {"encoder", "float_head"}),
        ({}, {"actions_head", "iqn_embedding", "float_head"}),
        ({"bc_time_offsets_ms": [50], "use_actions_head": False}, {"float_head"}),
        ({"use_full_iqn": True}, {"actions_head", "iqn_embedding", "float_head", "iqn_bc"}),
    ],
)
def test_artifacts_per_mode(bc_make_config: Callable[..., BCConfig], overrides: dict, artifacts: set[str]) -> None:
    model = BCModel(bc_make_config(**overrides), image_size=32, float_layout=LAYOUT)
    states = model.artifact_states()
    assert set(states) == artifacts
    net = IQNNetwork(model.cfg.nn, image_size=32, float_layout=LAYOUT)
    parts = {
        "encoder": net.img_head,
        "actions_head": net.A_head,
        "iqn_embedding": net.iqn_fc,
        "float_head": net.float_feature_extractor,
    }
    for name, state in states.items():
        target = net if name == "iqn_bc" else parts[name]
        assert target is not None
        target.load_state_dict(state, strict=True)


def encoder_artifact(tmp_path: Path, nn_cfg: NNConfig, *, in_channels: int, image_size: int = 32) -> IQNNetwork:
    """Export the img_head of a fresh network with ``in_channels`` stacked frames as a vis-style run."""
    net = IQNNetwork(nn_cfg, image_size=image_size, float_layout=LAYOUT, in_channels=in_channels)
    assert net.img_head is not None
    export_artifacts(
        tmp_path,
        {"encoder": net.img_head.state_dict()},
        task="ae",
        config={},
        metrics={},
        best_epoch=1,
        image_size=image_size,
        n_stack=in_channels,
        float_layout=None,
    )
    return net


def test_stacked_encoder_answers_a_single_frame_as_the_stack_of_copies(
    bc_make_config: Callable[..., BCConfig], tmp_path: Path
) -> None:
    cfg = bc_make_config(**VIS_ON)
    stacked = encoder_artifact(tmp_path, cfg.nn, in_channels=3)
    model = BCModel(cfg, image_size=32, float_layout=LAYOUT)
    manifest = load_encoder_init(model.net, tmp_path, image_size=32)
    assert manifest["n_stack"] == 3
    img, _ = inputs(4)
    assert stacked.img_head is not None and model.net.img_head is not None
    normalised = (img.float() - 128.0) / 128.0
    single = model.net.img_head(normalised)
    from_stack = stacked.img_head(normalised.repeat(1, 3, 1, 1))
    assert torch.allclose(single, from_stack, atol=1e-5)
    state = {k: v for k, v in stacked.img_head.state_dict().items()}
    summed = sum_first_conv_channels(state)
    assert summed["0.weight"].shape[1] == 1 and torch.equal(summed["2.weight"], state["2.weight"])


def test_encoder_init_checks_size_normalisation_and_shapes(
    bc_make_config: Callable[..., BCConfig], tmp_path: Path
) -> None:
    cfg = bc_make_config(**VIS_ON)
    model = BCModel(cfg, image_size=32, float_layout=LAYOUT)
    encoder_artifact(tmp_path / "ok", cfg.nn, in_channels=1)
    with pytest.raises(ArtifactError, match="trained on 32 px images, the dataset has 48 px"):
        load_encoder_init(model.net, tmp_path / "ok", image_size=48)
    load_encoder_init(model.net, tmp_path / "ok" / "encoder.pt", image_size=32)
    wider = cfg.nn.model_copy(update={"vis": cfg.nn.vis.model_copy(update={"channels": (16, 32, 64, 8)})})
    encoder_artifact(tmp_path / "wider", wider, in_channels=1)
    with pytest.raises(ArtifactError, match=r"6\.weight: \(8, 64, 3, 3\)"):
        load_encoder_init(model.net, tmp_path / "wider", image_size=32)
    manifest_path = tmp_path / "ok" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["image_normalisation"] = {"mean": 0.0, "scale": 255.0}
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="normalises images"):
        load_encoder_init(model.net, tmp_path / "ok", image_size=32)
