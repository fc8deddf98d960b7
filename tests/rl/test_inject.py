"""Injection of pretrained artifacts: exact copies, every strict error, all-or-nothing, and fresh runs only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hairpin.config.nn import NNConfig
from hairpin.config.rl import RLConfig, TrainingConfig
from hairpin.nets import IQNNetwork
from hairpin.obs import FloatLayout
from hairpin.pretrain.artifacts import export_artifacts
from hairpin.rl.collector import make_network
from hairpin.rl.inject import InjectionError, inject_pretrained
from hairpin.rl.trainer import Trainer

from .conftest import export_bc_run, tiny_config

NN = NNConfig.model_validate(
    {
        "vis": {"channels": [4, 8], "kernels": [4, 3], "strides": [2, 2], "paddings": [1, 1]},
        "floats": {"hidden": 16},
        "iqn": {"embedding_dim": 8},
        "decoder": {"advantage": {"hidden": 16}, "value": {"hidden": 16}},
    }
)
SIZE = 32
LAYOUT = FloatLayout()


def _net(seed: int, nn_cfg: NNConfig = NN, layout: FloatLayout = LAYOUT, in_channels: int = 1) -> IQNNetwork:
    torch.manual_seed(seed)
    return IQNNetwork(nn_cfg, image_size=SIZE, float_layout=layout, in_channels=in_channels)


def _export(
    out: Path,
    net: IQNNetwork,
    *,
    image_size: int = SIZE,
    layout: FloatLayout | None = LAYOUT,
    n_stack: int = 1,
    **overrides: object,
) -> Path:
    states = {
        "encoder": net.img_head.state_dict(),  # type: ignore[union-attr]
        "float_head": net.float_feature_extractor.state_dict(),
        "actions_head": net.A_head.state_dict(),
        "iqn_embedding": net.iqn_fc.state_dict(),
        "iqn_bc": net.state_dict(),
    }
    manifest = export_artifacts(
        out,
        states,
        task="bc",
        config={},
        metrics={},
        best_epoch=3,
        image_size=image_size,
        n_stack=n_stack,
        float_layout=layout,
    )
    if overrides:
        manifest.update(overrides)
        (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def _inputs(batch: int = 5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    img = torch.randint(0, 256, (batch, 1, SIZE, SIZE), generator=g, dtype=torch.uint8)
    floats = torch.as_tensor(LAYOUT.mean) + torch.randn(batch, LAYOUT.size, generator=g) * torch.as_tensor(LAYOUT.std)
    taus = torch.rand(batch, 4, generator=g)
    return img, floats, taus


def _training(**paths: str) -> TrainingConfig:
    return TrainingConfig.model_validate(paths)


def test_each_part_injected_gives_identical_outputs(tmp_path: Path) -> None:
    source = _net(1)
    run = _export(tmp_path / "bc", source)
    target = _net(2)
    img, floats, taus = _inputs()
    done = inject_pretrained(
        target,
        _training(
            pretrain_encoder_path=str(run),
            pretrain_float_head_path=str(run / "float_head.pt"),
            pretrain_actions_head_path=str(run),
        ),
        image_size=SIZE,
        float_layout=LAYOUT,
    )
    assert [d.artifact for d in done] == ["encoder", "float_head", "actions_head", "iqn_embedding"]
    with torch.no_grad():
        assert torch.equal(target.features(img, floats), source.features(img, floats))
        assert torch.equal(target.iqn_fc.weight, source.iqn_fc.weight)
        x = torch.randn(5, 4, target.feature_width)
        assert torch.equal(target.A_head(x), source.A_head(x))
        assert not torch.equal(target.V_head(x), source.V_head(x))  # not named, not injected
        assert not torch.equal(target(img, floats, taus), source(img, floats, taus))
        advantage = target(img, floats, taus) - target(img, floats, taus).mean(2, keepdim=True)
        source_advantage = source(img, floats, taus) - source(img, floats, taus).mean(2, keepdim=True)
        torch.testing.assert_close(advantage, source_advantage)  # the head sees exactly its trained inputs


def test_full_iqn_injected_gives_identical_quantiles(tmp_path: Path) -> None:
    source = _net(1)
    run = _export(tmp_path / "bc", source)
    target = _net(2)
    inject_pretrained(target, _training(pretrain_bc_heads_path=str(run)), image_size=SIZE, float_layout=LAYOUT)
    img, floats, taus = _inputs()
    with torch.no_grad():
        assert torch.equal(target(img, floats, taus), source(img, floats, taus))


def test_part_keys_override_the_full_network(tmp_path: Path) -> None:
    full, head = _net(1), _net(3)
    run_full, run_head = _export(tmp_path / "full", full), _export(tmp_path / "head", head)
    target = _net(2)
    cfg = _training(pretrain_bc_heads_path=str(run_full), pretrain_actions_head_path=str(run_head))
    inject_pretrained(target, cfg, image_size=SIZE, float_layout=LAYOUT)
    assert torch.equal(target.A_head[0].weight, head.A_head[0].weight)
    assert torch.equal(target.V_head[0].weight, full.V_head[0].weight)


def test_advantage_scale_keeps_the_greedy_action_and_scales_the_advantages(tmp_path: Path) -> None:
    source = _net(1)
    run = _export(tmp_path / "bc", source)
    plain, scaled = _net(2), _net(2)
    inject_pretrained(plain, _training(pretrain_bc_heads_path=str(run)), image_size=SIZE, float_layout=LAYOUT)
    cfg = _training(pretrain_bc_heads_path=str(run), pretrain_advantage_scale=0.01)
    [done] = inject_pretrained(scaled, cfg, image_size=SIZE, float_layout=LAYOUT)
    assert done.advantage_scale == 0.01
    img, floats, _ = _inputs()
    with torch.no_grad():
        features = plain.features(img, floats)[:, None, :]  # (B, 1, D)
        torch.testing.assert_close(scaled.A_head(features), 0.01 * plain.A_head(features))
        assert torch.equal(scaled.V_head(features), plain.V_head(features))
        q_plain, q_scaled = plain.q_values(img, floats), scaled.q_values(img, floats)
    v = q_plain.mean(1, keepdim=True)  # the dueling mean removes A's mean: Q − mean Q is the scaled advantage
    torch.testing.assert_close(q_scaled - q_scaled.mean(1, keepdim=True), 0.01 * (q_plain - v))


def test_advantage_scale_without_an_injected_head_changes_nothing(tmp_path: Path) -> None:
    run = _export(tmp_path / "vis", _net(1))
    net = _net(2)
    before = net.A_head[2].weight.clone()
    cfg = _training(pretrain_encoder_path=str(run), pretrain_advantage_scale=0.01)
    [done] = inject_pretrained(net, cfg, image_size=SIZE, float_layout=LAYOUT)
    assert torch.equal(net.A_head[2].weight, before) and done.advantage_scale is None


def test_stacked_encoder_is_summed_to_one_channel(tmp_path: Path) -> None:
    stacked = _net(1, in_channels=3)
    run = _export(tmp_path / "vis", stacked, n_stack=3)
    target = _net(2)
    [done] = inject_pretrained(target, _training(pretrain_encoder_path=str(run)), image_size=SIZE, float_layout=LAYOUT)
    assert done.stacked_channels_summed == 3
    img, _, _ = _inputs()
    x = (img.float() - 128.0) / 128.0
    assert stacked.img_head is not None and target.img_head is not None
    with torch.no_grad():
        torch.testing.assert_close(target.img_head(x), stacked.img_head(x.repeat(1, 3, 1, 1)))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"image_normalisation": {"mean": 0.0, "scale": 255.0}}, "normalises images"),
        ({"image_size": 64}, "64 px"),
    ],
)
def test_manifest_mismatch_is_refused(tmp_path: Path, overrides: dict[str, object], message: str) -> None:
    run = _export(tmp_path / "vis", _net(1), **overrides)
    with pytest.raises(InjectionError, match=message) as err:
        inject_pretrained(_net(2), _training(pretrain_encoder_path=str(run)), image_size=SIZE, float_layout=LAYOUT)
    assert "training.pretrain_encoder_path" in str(err.value)


def test_other_float_layout_is_refused(tmp_path: Path) -> None:
    other = FloatLayout(n_ref_points=20)
    run = _export(tmp_path / "bc", _net(1, layout=other), layout=other)
    with pytest.raises(InjectionError, match="float layout"):
        inject_pretrained(_net(2), _training(pretrain_float_head_path=str(run)), image_size=SIZE, float_layout=LAYOUT)


def test_mis_shaped_tensor_is_named(tmp_path: Path) -> None:
    wide = NN.model_copy(
        update={
            "decoder": NN.decoder.model_copy(update={"advantage": NN.decoder.value.model_copy(update={"hidden": 24})})
        }
    )
    run = _export(tmp_path / "bc", _net(1, nn_cfg=wide))
    with pytest.raises(InjectionError, match=r"0\.weight: artifact \(24, 528\), network \(16, 528\)"):
        inject_pretrained(_net(2), _training(pretrain_actions_head_path=str(run)), image_size=SIZE, float_layout=LAYOUT)


def test_missing_tensor_is_named_and_nothing_is_loaded(tmp_path: Path) -> None:
    good = _export(tmp_path / "good", _net(1))
    bad = _export(tmp_path / "bad", _net(1))
    state = torch.load(bad / "actions_head.pt", weights_only=True)
    del state["2.bias"]
    torch.save(state, bad / "actions_head.pt")
    manifest = json.loads((bad / "manifest.json").read_text())
    del manifest["files"]["actions_head"]["tensors"]["2.bias"]
    (bad / "manifest.json").write_text(json.dumps(manifest))
    target = _net(2)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    cfg = _training(pretrain_encoder_path=str(good), pretrain_actions_head_path=str(bad))
    with pytest.raises(InjectionError, match=r"missing tensors \['2.bias'\]"):
        inject_pretrained(target, cfg, image_size=SIZE, float_layout=LAYOUT)
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())  # the good encoder too


def test_file_that_disagrees_with_its_manifest_is_refused(tmp_path: Path) -> None:
    run = _export(tmp_path / "bc", _net(1))
    torch.save({"0.weight": torch.zeros(3)}, run / "encoder.pt")
    with pytest.raises(InjectionError, match="does not match its manifest"):
        inject_pretrained(_net(2), _training(pretrain_encoder_path=str(run)), image_size=SIZE, float_layout=LAYOUT)


def test_missing_path_and_unfinished_export_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InjectionError, match="does not exist"):
        inject_pretrained(
            _net(2), _training(pretrain_encoder_path=str(tmp_path / "nope")), image_size=SIZE, float_layout=LAYOUT
        )
    run = _export(tmp_path / "bc", _net(1))
    (run / "manifest.json").unlink()
    with pytest.raises(InjectionError, match="not a finished pretraining export"):
        inject_pretrained(_net(2), _training(pretrain_encoder_path=str(run)), image_size=SIZE, float_layout=LAYOUT)


def test_encoder_into_a_float_only_network_is_refused(tmp_path: Path) -> None:
    run = _export(tmp_path / "vis", _net(1))
    float_only = _net(2, nn_cfg=NN.model_copy(update={"vis": NN.vis.model_copy(update={"enabled": False})}))
    with pytest.raises(InjectionError, match="no img_head"):
        inject_pretrained(float_only, _training(pretrain_encoder_path=str(run)), image_size=SIZE, float_layout=LAYOUT)


def _tiny_with_actions_head(tmp_path: Path, run_name: str) -> tuple[RLConfig, IQNNetwork]:
    base = tiny_config(tmp_path)
    source = make_network(base)
    export_bc_run(tmp_path / "bc", source, base, ("actions_head", "iqn_embedding"))
    cfg = tiny_config(tmp_path, run_name=run_name, **{"training.pretrain_actions_head_path": str(tmp_path / "bc")})
    return cfg, source


def test_trainer_injects_when_fresh_records_it_and_does_not_reinject_on_resume(tmp_path: Path) -> None:
    cfg, source = _tiny_with_actions_head(tmp_path, "injected")
    trainer = Trainer(cfg)
    assert torch.equal(trainer.online.A_head[2].weight, source.A_head[2].weight)
    assert torch.equal(trainer.target.A_head[2].weight, source.A_head[2].weight)
    trainer.run()
    run_json = json.loads((Path(cfg.paths.runs) / "injected" / "run.json").read_text())
    assert [p["artifact"] for p in run_json["pretrained"]] == ["actions_head", "iqn_embedding"]
    assert "inject" in [e["kind"] for e in run_json["events"]]
    trained = trainer.online.A_head[2].weight.detach().clone()
    assert not torch.equal(trained, source.A_head[2].weight)

    resumed = Trainer(cfg)
    assert torch.equal(resumed.online.A_head[2].weight, trained)
    assert resumed.injected == []


def test_trainer_writes_the_injection_to_tensorboard(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg, _ = _tiny_with_actions_head(tmp_path, "logged")
    trainer = Trainer(cfg)
    trainer.close()
    logs = EventAccumulator(str(Path(cfg.paths.tensorboard) / "logged"))
    logs.Reload()
    assert "Pretrain/injected/text_summary" in logs.Tags()["tensors"]
