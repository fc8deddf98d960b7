"""``run_bc`` and ``BCTrainer`` end to end on small synthetic demonstrations: masked labels drive the loss, the
exported parts load strictly into the RL network and answer as the trained heads did, the best epoch is exported,
and BC beats the majority baseline on a held-out map."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from hairpin.config.pretrain import BCConfig
from hairpin.data.arrays import DemoArrays
from hairpin.nets import IQNNetwork, fixed_taus
from hairpin.obs import FloatLayout
from hairpin.pretrain.artifacts import read_artifact
from hairpin.pretrain.bc import BCTrainer, run_bc
from hairpin.pretrain.run import PretrainRun

LAYOUT = FloatLayout()
VIS_ON = {"nn": {"vis": {"enabled": True}}}

ConfigFactory = Callable[..., BCConfig]
DemoFactory = Callable[..., DemoArrays]


def trainer_for(cfg: BCConfig, demos: DemoArrays) -> BCTrainer:
    torch.manual_seed(cfg.seed)
    train, val = demos.split_by_map(cfg.data.validation_maps)
    return BCTrainer(cfg, train, val, float_layout=LAYOUT)


def eval_loss(trainer: BCTrainer, index: np.ndarray) -> float:
    trainer.model.eval()
    taus = fixed_taus(trainer.cfg.n_taus).expand(len(index), -1)
    with torch.no_grad():
        return float(trainer.losses(trainer.batch(index), taus, taus)[0].total)


def test_masked_offset_labels_do_not_drive_the_loss(bc_make_config: ConfigFactory, bc_make_demos: DemoFactory) -> None:
    trainer = trainer_for(bc_make_config(bc_time_offsets_ms=[0, 50]), bc_make_demos())
    split = trainer.train_split
    last = int(split.demos.episode_starts[1]) - 1  # last frame of episode 0: its +50 ms label is past the end
    assert not split.valid[last, 1] and split.valid[last - 1, 1]
    index = np.array([last - 1, last])
    before = eval_loss(trainer, index)
    split.labels[last, 1] = (split.labels[last, 1] + 5) % 12  # a masked label
    assert eval_loss(trainer, index) == before
    split.labels[last - 1, 1] = (split.labels[last - 1, 1] + 5) % 12  # a valid label
    assert eval_loss(trainer, index) != pytest.approx(before)


def test_heads_export_loads_strictly_and_the_injected_head_answers_as_the_trained_one(
    bc_make_config: ConfigFactory, bc_make_demos: DemoFactory, tmp_path: Path
) -> None:
    cfg = bc_make_config(bc_time_offsets_ms=[0, -50], dropout=0.2, action_head_dropout=0.2, **VIS_ON)
    trainer = trainer_for(cfg, bc_make_demos(size=32))
    run = PretrainRun(cfg)
    metrics = trainer.train_epoch() | trainer.evaluate()
    run.epoch_done(1, metrics, trainer.artifact_states())
    manifest = run.export(task="bc", image_size=32, n_stack=1, float_layout=LAYOUT)
    assert set(manifest["files"]) == {"encoder", "actions_head", "iqn_embedding", "float_head"}

    rl_net = IQNNetwork(cfg.nn, image_size=32, float_layout=LAYOUT)
    assert rl_net.img_head is not None
    parts = {"encoder": rl_net.img_head, "actions_head": rl_net.A_head, "float_head": rl_net.float_feature_extractor}
    for artifact, part in parts.items():
        state, _ = read_artifact(run.dir, artifact)
        part.load_state_dict(state, strict=True)
    rl_net.iqn_fc.load_state_dict(trainer.model.net.iqn_fc.state_dict())  # the part no artifact carries

    trainer.model.eval()
    img, floats = trainer.batch(np.arange(16)).img, trainer.batch(np.arange(16)).floats
    taus = fixed_taus(8).expand(16, 8)
    with torch.no_grad():
        bc_logits = trainer.model(img, floats, taus).logits[:, 0]  # (B, A), the 0 ms head
        cosines = torch.cos(torch.pi * torch.arange(1, rl_net.embedding_dim + 1) * taus[:, :, None])  # (B, N, E)
        embedding = torch.nn.functional.leaky_relu(rl_net.iqn_fc(cosines), rl_net.slope)  # (B, N, D)
        x = rl_net.features(img, floats)[:, None, :] * embedding  # (B, N, D)
        rl_logits = rl_net.A_head(x).mean(dim=1)  # (B, A)
    assert torch.equal(rl_logits, bc_logits)


def test_full_iqn_exports_the_network_with_the_zero_ms_head_as_a_head(
    bc_make_config: ConfigFactory, bc_make_demos: DemoFactory
) -> None:
    cfg = bc_make_config(use_full_iqn=True, td_weight=0.5, bc_time_offsets_ms=[20, 0], **VIS_ON)
    manifest = run_bc(cfg, demos=bc_make_demos(size=32), float_layout=LAYOUT)
    run_dir = Path(cfg.paths.runs) / cfg.run_name
    assert set(manifest["files"]) == {"encoder", "actions_head", "iqn_embedding", "float_head", "iqn_bc"}
    net = IQNNetwork(cfg.nn, image_size=32, float_layout=LAYOUT)
    state, _ = read_artifact(run_dir, "iqn_bc")
    net.load_state_dict(state, strict=True)
    head, _ = read_artifact(run_dir, "actions_head")
    assert head.keys() == net.A_head.state_dict().keys()
    for key, value in head.items():
        assert torch.equal(value, state[f"A_head.{key}"])
    encoder, _ = read_artifact(run_dir, "encoder")
    for key, value in encoder.items():
        assert torch.equal(value, state[f"img_head.{key}"])
    best = manifest["metrics"]["best"]
    for name in ("val_ce", "val_margin", "val_td", "val_mean_q", "val_mean_q_demo", "train_td"):
        assert math.isfinite(best[name]), name


def test_bc_beats_the_majority_baseline_on_a_held_out_map(
    bc_make_config: ConfigFactory, bc_make_demos: DemoFactory
) -> None:
    cfg = bc_make_config(train={"epochs": 8, "batch_size": 32, "early_stop_patience": 8}, bc_time_offsets_ms=[0, 50])
    demos = bc_make_demos(episodes_per_map=4, frames_per_episode=40)
    manifest = run_bc(cfg, demos=demos, float_layout=LAYOUT)
    best = manifest["metrics"]["best"]
    assert set(demos.select_episodes(np.flatnonzero(np.array(demos.maps) == "map4")).maps) == {"map4"}
    assert best["val_acc_0ms"] > best["baseline_majority_acc"] + 0.3
    assert best["val_acc_0ms"] > best["baseline_repeat_prev_acc"] + 0.3
    assert best["val_acc_50ms"] > best["baseline_majority_acc"]  # the next frame's action, partly predictable
    for name in ("accel", "accel_left", "accel_right"):
        assert best[f"val_acc_action_{name}"] > 0.5
    assert math.isnan(best["val_acc_action_brake"])  # never demonstrated


def test_the_best_epoch_is_exported(bc_make_config: ConfigFactory, bc_make_demos: DemoFactory) -> None:
    cfg = bc_make_config(use_full_iqn=True, train={"epochs": 5, "lr": 0.03, "early_stop_patience": 5})
    demos = bc_make_demos()
    manifest = run_bc(cfg, demos=demos, float_layout=LAYOUT)
    run_dir = Path(cfg.paths.runs) / cfg.run_name
    with (run_dir / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5
    losses = [float(r["val_loss"]) for r in rows]
    best_row = rows[int(np.argmin(losses))]
    assert manifest["best_epoch"] == int(float(best_row["epoch"]))
    assert manifest["metrics"]["best"]["val_loss"] == pytest.approx(min(losses))
    expected = {"train_loss", "train_acc", "val_loss", "val_acc", "val_acc_0ms", "baseline_majority_acc"}
    assert expected | {"baseline_repeat_prev_acc", "val_acc_action_accel_brake_right"} <= set(rows[0])
    # with offsets [0] the exported network is the whole model: it measures the best epoch's val_loss again
    trainer = trainer_for(cfg, demos)
    state, _ = read_artifact(run_dir, "iqn_bc")
    trainer.model.net.load_state_dict(state, strict=True)
    assert trainer.evaluate()["val_loss"] == pytest.approx(min(losses), rel=1e-5)


def test_backbone_exports_the_encoder_and_a_later_run_starts_from_it(
    bc_make_config: ConfigFactory, bc_make_demos: DemoFactory
) -> None:
    demos = bc_make_demos(size=32)
    first = bc_make_config(bc_mode="backbone", train={"epochs": 1}, **VIS_ON)
    manifest = run_bc(first, demos=demos, float_layout=LAYOUT)
    assert set(manifest["files"]) == {"encoder"} and manifest["image_size"] == 32 and manifest["n_stack"] == 1
    run_dir = Path(first.paths.runs) / first.run_name
    second = bc_make_config(run_name="second", encoder_init_path=str(run_dir), **VIS_ON)
    trainer = trainer_for(second, demos)
    encoder, _ = read_artifact(run_dir, "encoder")
    assert trainer.model.net.img_head is not None
    for key, value in trainer.model.net.img_head.state_dict().items():
        assert torch.equal(value, encoder[key])


def test_floats_that_do_not_follow_the_layout_are_refused(
    bc_make_config: ConfigFactory, bc_make_demos: DemoFactory
) -> None:
    with pytest.raises(ValueError, match="demonstrations have 184 floats, the layout 94"):
        run_bc(bc_make_config(), demos=bc_make_demos(), float_layout=FloatLayout(n_ref_points=10))
