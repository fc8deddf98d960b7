"""The configs in configs/ load, and the generated, documented ones still match the models' defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from hairpin.config.describe import documented_yaml
from hairpin.config.loader import load_config
from hairpin.config.rl import RLConfig
from hairpin.config.sim import DriveConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", ["rl/default.yaml", "rl/cpu.yaml"])
def test_rl_configs_load(name: str) -> None:
    cfg = load_config(RLConfig, CONFIGS / name)
    assert cfg.run_name in ("default", "cpu")


def test_cpu_config_is_float_only_on_the_default_map() -> None:
    cfg = load_config(RLConfig, CONFIGS / "rl/cpu.yaml")
    assert not cfg.nn.vis.enabled and cfg.env.map == "sprint"


@pytest.mark.parametrize("name", ["sim/drive.yaml", "sim/fast32.yaml"])
def test_drive_configs_load(name: str) -> None:
    load_config(DriveConfig, CONFIGS / name)


def test_documented_drive_config_is_up_to_date() -> None:
    body = "\n".join(line for line in (CONFIGS / "sim/drive.yaml").read_text().splitlines() if not line.startswith("#"))
    assert body.strip() == documented_yaml(DriveConfig()).strip()
