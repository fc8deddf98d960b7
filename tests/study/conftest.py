"""Tiny study files for the study tests: configs small enough that a whole study runs in about a minute."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hairpin.sim.generator import blocks_to_line

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TINY_NN: dict[str, Any] = {
    "vis": {"channels": [4, 8], "kernels": [4, 3], "strides": [2, 2], "paddings": [1, 1]},
    "floats": {"hidden": 16},
    "iqn": {"embedding_dim": 8},
    "decoder": {"advantage": {"hidden": 16}, "value": {"hidden": 16}},
}
PRETRAIN_SET = {"nn": TINY_NN, "data.validation_maps": ["gen-4"], "train.epochs": 1, "train.batch_size": 64}


def tiny_rl_config(directory: Path) -> Path:
    """A 32 px RL config on a 180 m map (tiny network, one collector of 4 cars, a checkpoint every 0.6 s)."""
    line = directory / "short.npy"
    np.save(line, blocks_to_line("S S R48 S S"))
    entries = [
        {"short_name": "short", "map": str(line), "repeat": 3},
        {"short_name": "short", "map": str(line), "is_exploration": False, "fill_buffer": False},
    ]
    tree = {
        "_base_": str(CONFIGS / "rl" / "cpu_vis.yaml"),
        "env": {"map": str(line), "image_size": 32},
        "nn": TINY_NN,
        "iqn": {"batch_size": 32},
        "memory": {
            "memory_size_schedule": [[0, 5000]],
            "memory_min_size": 200,
            "buffer_test_ratio": 0.3,
            "number_times_single_memory_is_used_before_discard": 2,
        },
        "exploration": {"random_start_share": 0.0},
        "performance": {"gpu_collectors_count": 1, "cars_per_collector": 4, "learner_threads": 1},
        "map_cycle": {"entries": entries},
        "training": {"checkpoint_every_minutes": 0.01, "log_every_seconds": 0.5},
    }
    path = directory / "rl.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def demos_stage(generated: int = 2) -> dict[str, Any]:
    """Expert episodes on ``generated`` short generated maps (gen-3, gen-4, ...) at 32 px, one each."""
    args = {"maps": [], "generated": generated, "generator_seed": 3, "generated_blocks": 6, "episodes": 1}
    return {"kind": "demos", "args": {**args, "noise": 0.3, "image_size": 32, "cars": 2}}


def base_study(directory: Path) -> dict[str, Any]:
    """demos → bc (encoder and A_head) → two variants × one seed, 2,000 frames each; a question about them."""
    rl = tiny_rl_config(directory)
    return {
        "name": "tiny",
        "stages": {
            "demo": demos_stage(),
            "bc": {
                "kind": "bc",
                "config": str(CONFIGS / "pretrain" / "bc" / "v2_cpu.yaml"),
                "dataset": "demo",
                "set": copy.deepcopy(PRETRAIN_SET),
            },
        },
        "variants": {
            "base": {"config": str(rl)},
            "bcv": {"config": str(rl), "inject": {"encoder": "bc", "actions_head": "bc"}},
        },
        "seeds": [0],
        "budget": {"frames": 2000},
        "eval": {"maps": ["short"]},
        "questions": [{"text": "Does BC help?", "compare": ["bcv", "base"], "metric": "best_s", "map": "short"}],
    }


def write_study(directory: Path, study: dict[str, Any], name: str = "study.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def run_study_command(path: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``hairpin study PATH ARGS`` in a process of its own, from the study file's folder."""
    command = [sys.executable, "-m", "hairpin.cli", "study", str(path), *args]
    return subprocess.run(command, cwd=path.parent, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path
