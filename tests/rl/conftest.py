"""A tiny, fast RL config for trainer tests: float-only network, a short map, small batches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import ctrl_c_restored

from hairpin.config.loader import dump_config
from hairpin.config.rl import RLConfig
from hairpin.nets import IQNNetwork
from hairpin.pretrain.artifacts import ARTIFACT_PART, export_artifacts
from hairpin.rl.race_channel import RaceRecord
from hairpin.sim.generator import blocks_to_line
from hairpin.sim.race import float_layout

_TRAINER_SCRIPT = """
import sys
from hairpin.config.loader import load_config
from hairpin.config.rl import RLConfig
from hairpin.rl.race_channel import RaceRecord
from hairpin.rl.trainer import Trainer
cfg = load_config(RLConfig, sys.argv[1])
Trainer(cfg).run(on_status=lambda s: print("status", s.frames, flush=True))
"""


def start_trainer(cfg: RLConfig, path: Path, *, stderr: int | None = None) -> subprocess.Popen[str]:
    """Write ``cfg`` to ``path`` and train it in a process of its own, which prints a status line a second."""
    path.write_text(dump_config(cfg))
    command = [sys.executable, "-c", _TRAINER_SCRIPT, str(path)]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=stderr, text=True, preexec_fn=ctrl_c_restored
    )  # the tests stop it with Ctrl-C


def race_record(
    collector: int = 0, steps: int = 3, *, incarnation: int = 0, sequence: int = 0, size: int = 4, floats: int = 3
) -> RaceRecord:
    """A finished race of ``steps`` steps, as a collector hands it over (blank frames, actions 0, 1, 2, ...)."""
    return RaceRecord(
        collector=collector,
        entry=0,
        frames=np.zeros((steps + 1, 1, size, size), np.uint8),
        floats=np.zeros((steps + 1, floats), np.float32),
        actions=np.arange(steps, dtype=np.int64),
        rewards=np.ones(steps, np.float32),
        greedy=np.ones(steps, np.bool_),
        terminated=True,
        race_time_ms=100 * steps,
        mean_q=0.0,
        weights_version=1,
        incarnation=incarnation,
        sequence=sequence,
    )


def tiny_config(tmp_path: Path, **overrides: object) -> RLConfig:
    """A run under ``tmp_path`` on a 180 m map, stopping after a few thousand frames."""
    line = tmp_path / "short.npy"
    if not line.exists():
        np.save(line, blocks_to_line("S S R48 S S"))
    tree: dict[str, object] = {
        "run_name": "tiny",
        "paths": {"runs": str(tmp_path / "runs"), "tensorboard": str(tmp_path / "tb")},
        "env": {"map": str(line), "image_size": 32},
        "nn": {
            "vis": {"enabled": False},
            "floats": {"hidden": 32},
            "iqn": {"embedding_dim": 16},
            "decoder": {"advantage": {"hidden": 32}, "value": {"hidden": 32}},
        },
        "iqn": {"batch_size": 32},
        "memory": {
            "memory_size_schedule": [[0, 5000]],
            "memory_min_size": 200,
            "buffer_test_ratio": 0.3,
            "number_times_single_memory_is_used_before_discard": 2,
        },
        "performance": {"gpu_collectors_count": 1, "cars_per_collector": 4},
        "map_cycle": {
            "entries": [
                {"short_name": "short", "map": str(line), "repeat": 3},
                {"short_name": "short", "map": str(line), "is_exploration": False, "fill_buffer": False},
            ]
        },
        "training": {"max_frames": 3000, "checkpoint_every_minutes": 0.01, "log_every_seconds": 0.5},
    }
    for key, value in overrides.items():
        node = tree
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})  # type: ignore[assignment]
        node[leaf] = value  # type: ignore[index]
    return RLConfig.model_validate(tree)


@pytest.fixture
def tiny(tmp_path: Path) -> RLConfig:
    return tiny_config(tmp_path)


def export_bc_run(out: Path, net: IQNNetwork, cfg: RLConfig, artifacts: tuple[str, ...]) -> Path:
    """``net``'s parts named by ``artifacts`` (``iqn_bc``: the whole network) as a BC run directory that fits
    ``cfg``'s network."""
    parts = net.parts()
    states = {name: (net if name == "iqn_bc" else parts[ARTIFACT_PART[name]]).state_dict() for name in artifacts}
    export_artifacts(
        out,
        states,
        task="bc",
        config={},
        metrics={},
        best_epoch=0,
        image_size=cfg.env.image_size,
        n_stack=1,
        float_layout=float_layout(cfg.env),
    )
    return out
