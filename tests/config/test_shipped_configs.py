"""The configs in configs/ load, and the generated, documented ones still match the models' defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from hairpin.config.describe import documented_yaml
from hairpin.config.loader import load_config
from hairpin.config.pretrain import BCConfig, VisConfigPretrain
from hairpin.config.rl import RLConfig
from hairpin.config.sim import DriveConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


RL_CONFIGS = sorted(str(p.relative_to(CONFIGS)) for p in (CONFIGS / "rl").rglob("*.yaml"))
VIS_CONFIGS = sorted(str(p.relative_to(CONFIGS)) for p in (CONFIGS / "pretrain/vis").glob("*.yaml"))
BC_CONFIGS = sorted(str(p.relative_to(CONFIGS)) for p in (CONFIGS / "pretrain/bc").glob("*.yaml"))


@pytest.mark.parametrize("name", RL_CONFIGS)
def test_rl_configs_load(name: str) -> None:
    cfg = load_config(RLConfig, CONFIGS / name)
    assert cfg.run_name


def test_every_rl_config_file_is_checked() -> None:
    assert {"rl/default.yaml", "rl/cpu.yaml", "rl/cpu_vis.yaml", "rl/pretrained/vis_v1.yaml"} <= set(RL_CONFIGS)


@pytest.mark.parametrize("name", VIS_CONFIGS)
def test_vis_pretrain_configs_load(name: str) -> None:
    load_config(VisConfigPretrain, CONFIGS / name)


@pytest.mark.parametrize("name", BC_CONFIGS)
def test_bc_pretrain_configs_load(name: str) -> None:
    load_config(BCConfig, CONFIGS / name)


@pytest.mark.parametrize(
    ("pretrain", "rl"),
    [
        ("pretrain/vis/v1.yaml", "rl/default.yaml"),
        ("pretrain/bc/v2_multi_offset_ahead_dropout_inner.yaml", "rl/default.yaml"),
        ("pretrain/bc/v3_multi_offset.yaml", "rl/default.yaml"),
        ("pretrain/vis/v1_cpu.yaml", "rl/cpu_vis.yaml"),
        ("pretrain/bc/v1.1_cpu.yaml", "rl/cpu_vis.yaml"),
        ("pretrain/bc/v2_cpu.yaml", "rl/cpu_vis.yaml"),
        ("pretrain/bc/v3_cpu.yaml", "rl/cpu_vis.yaml"),
    ],
)
def test_pretrain_networks_are_the_rl_networks_they_feed(pretrain: str, rl: str) -> None:
    model = VisConfigPretrain if "/vis/" in pretrain else BCConfig
    assert load_config(model, CONFIGS / pretrain).nn == load_config(RLConfig, CONFIGS / rl).nn


def test_injecting_configs_point_at_the_runs_their_pretraining_writes() -> None:
    names = {
        load_config(m, CONFIGS / n).run_name
        for m, ns in ((VisConfigPretrain, VIS_CONFIGS), (BCConfig, BC_CONFIGS))
        for n in ns
    }
    for name in RL_CONFIGS:
        t = load_config(RLConfig, CONFIGS / name).training
        for path in (
            t.pretrain_encoder_path,
            t.pretrain_float_head_path,
            t.pretrain_actions_head_path,
            t.pretrain_bc_heads_path,
        ):
            if path is not None:
                assert path.removeprefix("runs/pretrain/") in names, f"{name}: {path}"


def test_cpu_config_is_float_only_on_the_default_map() -> None:
    cfg = load_config(RLConfig, CONFIGS / "rl/cpu.yaml")
    assert not cfg.nn.vis.enabled and cfg.env.map == "sprint"


@pytest.mark.parametrize("name", ["sim/drive.yaml", "sim/fast32.yaml"])
def test_drive_configs_load(name: str) -> None:
    load_config(DriveConfig, CONFIGS / name)


@pytest.mark.parametrize(("name", "model"), [("sim/drive.yaml", DriveConfig), ("rl/default.yaml", RLConfig)])
def test_documented_config_is_up_to_date(name: str, model: type[BaseModel]) -> None:
    """The files that list every key with its documentation list today's keys (regenerate with --print-config)."""
    body = "\n".join(line for line in (CONFIGS / name).read_text().splitlines() if not line.startswith("#"))
    assert body.strip() == documented_yaml(load_config(model, CONFIGS / name)).strip()
