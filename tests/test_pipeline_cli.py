"""The pretraining pipeline end to end through the CLI, at toy size: record demonstrations, pretrain the encoder,
clone the expert on top of it, then start an RL run that injects the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from hairpin.cli import app
from hairpin.config.loader import load_config
from hairpin.config.rl import RLConfig
from hairpin.pretrain.artifacts import read_artifact
from hairpin.rl.trainer import Trainer

runner = CliRunner()
TINY_NN = [
    "nn.vis.channels=[4,8]",
    "nn.vis.kernels=[4,3]",
    "nn.vis.strides=[2,2]",
    "nn.vis.paddings=[1,1]",
    "nn.floats.hidden=16",
    "nn.iqn.embedding_dim=8",
    "nn.decoder.advantage.hidden=16",
    "nn.decoder.value.hidden=16",
]
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _sets(*values: str) -> list[str]:
    return [arg for value in values for arg in ("--set", value)]


def _invoke(args: list[str]) -> str:
    result = runner.invoke(app, args)
    output = " ".join(result.output.split())
    assert result.exit_code == 0, output
    return output


def _record(n_maps: int) -> None:
    """A toy dataset ``toy``: one expert episode on each of ``n_maps`` short generated maps gen-3, gen-4, ..."""
    generated = ["--generated", str(n_maps), "--generator-seed", "3", "--generated-blocks", "6"]
    _invoke(["demos", "record", *generated, "--image-size", "32", "--episodes", "1", "--noise", "0.3", "--out", "toy"])


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_record_pretrain_clone_and_inject(in_tmp: Path) -> None:
    _record(3)
    common = ["data.dataset=toy", "data.validation_maps=[gen-5]", "train.epochs=2", "train.batch_size=64", *TINY_NN]
    out = _invoke(["pretrain", "vis", str(CONFIGS / "pretrain/vis/v1_cpu.yaml"), *_sets(*common, "run_name=vis")])
    assert "encoder.pt + manifest.json" in out
    out = _invoke(
        [
            "pretrain",
            "bc",
            str(CONFIGS / "pretrain/bc/v2_cpu.yaml"),
            *_sets(*common, "run_name=bc", "encoder_init_path=runs/pretrain/vis"),
        ]
    )
    assert "actions_head.pt" in out and "iqn_fc.pt" in out
    metrics = (in_tmp / "runs/pretrain/bc/metrics.csv").read_text()
    assert "baseline_majority_acc" in metrics and "val_acc_50ms" in metrics

    rl = load_config(
        RLConfig,
        CONFIGS / "rl/cpu_pretrained/bc_encoder_ahead.yaml",
        [
            *TINY_NN,
            "env.map=sprint",
            "training.pretrain_encoder_path=runs/pretrain/bc",
            "training.pretrain_float_head_path=runs/pretrain/bc",
            "training.pretrain_actions_head_path=runs/pretrain/bc",
        ],
    )
    trainer = Trainer(rl)
    head, _ = read_artifact("runs/pretrain/bc", "actions_head")
    assert torch.equal(trainer.online.A_head[2].weight, head["2.weight"])
    trainer.close()
    injected = json.loads((in_tmp / "runs" / rl.run_name / "run.json").read_text())["pretrained"]
    assert [p["artifact"] for p in injected] == ["encoder", "float_head", "actions_head", "iqn_embedding"]


def test_pretrain_refuses_a_dataset_of_another_image_size(in_tmp: Path) -> None:
    _record(2)
    result = runner.invoke(
        app,
        [
            "pretrain",
            "vis",
            str(CONFIGS / "pretrain/vis/v1.yaml"),
            *_sets("data.dataset=toy", "data.validation_maps=[gen-4]"),
        ],
    )
    assert result.exit_code == 2
    assert "64" in result.output and "32" in result.output
    assert not (in_tmp / "runs/pretrain/vis_v1/manifest.json").exists()


def test_train_refuses_an_artifact_that_does_not_fit(in_tmp: Path) -> None:
    _record(2)
    _invoke(
        [
            "pretrain",
            "vis",
            str(CONFIGS / "pretrain/vis/v1_cpu.yaml"),
            *_sets("data.dataset=toy", "data.validation_maps=[gen-4]", "train.epochs=1", *TINY_NN, "run_name=v"),
        ]
    )
    result = runner.invoke(
        app,
        [
            "train",
            str(CONFIGS / "rl/cpu_vis.yaml"),
            *_sets("training.pretrain_encoder_path=runs/pretrain/v", "env.map=sprint"),
        ],
    )
    assert result.exit_code == 2
    assert "does not fit the RL network" in result.output and "pretrain_encoder_path" in result.output
    assert "Traceback" not in result.output
