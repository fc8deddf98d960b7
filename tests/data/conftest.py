"""A tiny expert dataset, recorded once per test session (2 short generated maps, 32 px, 2 episodes each), and
hand-made RL runs with best races on those maps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hairpin.config.sim import DriveConfig, EnvConfig, ExpertConfig
from hairpin.data.arrays import keys_to_actions
from hairpin.data.maps import DemoMap, resolve_maps
from hairpin.data.meta import SIDECAR, DatasetMeta
from hairpin.data.record import write_expert_dataset
from hairpin.rl.checkpoint import save_best_race
from hairpin.runfiles.manifest import RunManifest
from hairpin.sim.expert import Expert
from hairpin.sim.race import RaceSim

TINY_NAME = "tiny"


def tiny_maps() -> list[DemoMap]:
    """gen-3 (234 m) and gen-4 (323 m): 6 blocks each, about 10 s of expert driving."""
    return resolve_maps([], generated=2, generator_seed=3, generated_blocks=6)


def tiny_config() -> DriveConfig:
    return DriveConfig.model_validate({"env": {"image_size": 32}, "expert": {"noise": 0.5}})


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> DatasetMeta:
    """The recorded tiny dataset (read-only: copy it with ``tiny_copy`` before damaging it)."""
    root = tmp_path_factory.mktemp("datasets")
    return write_expert_dataset(
        tiny_config(), tiny_maps(), root=root, name=TINY_NAME, episodes_per_map=2, seed=1, n_cars=3
    )


@pytest.fixture
def tiny_copy(tiny_dataset: DatasetMeta, tmp_path: Path) -> Path:
    """A private copy of the tiny dataset's directory, under ``tmp_path/datasets``."""
    target = tmp_path / "datasets" / TINY_NAME
    shutil.copytree(tiny_dataset.directory, target)
    return target


def without_checksums(dataset: Path) -> None:
    """Make ``dataset``'s sidecar one written before checksums (format version 1, no ``files``)."""
    sidecar = json.loads((dataset / SIDECAR).read_text())
    del sidecar["files"]
    sidecar["format_version"] = 1
    (dataset / SIDECAR).write_text(json.dumps(sidecar))


ENV = EnvConfig(image_size=32)


def expert_step_actions(env: EnvConfig, demo_map: DemoMap) -> tuple[list[int], int]:
    """An expert race at 50 ms resolution (one action per step, as RL stores it): actions and race time."""
    sim = RaceSim(env, [demo_map.track])
    sim.reset_cars([0], np.random.default_rng(0))
    expert = Expert(demo_map.track, env.physics, ExpertConfig(decide_every_tick=False))
    actions = []
    while True:
        action = int(keys_to_actions(expert.plan(sim.state[0], 5)[0]))
        result = sim.step(np.array([action]))
        actions.append(action)
        if result.terminated[0] or result.truncated[0]:
            return actions, int(sim.info(0)["race_time_ms"])


def make_run(tmp_path: Path, name: str, env: EnvConfig = ENV, time_error_ms: int = 0) -> tuple[Path, dict[str, int]]:
    """A run directory with run.json (env + map cycle over two generated .npy maps) and a best race on each."""
    run = tmp_path / "runs" / name
    entries, times = [], {}
    for demo_map in resolve_maps([], generated=2, generator_seed=3, generated_blocks=6):
        line = tmp_path / f"{demo_map.name}.npy"
        np.save(line, demo_map.track.points)
        short = demo_map.name.replace("gen-", "g")
        entries.append({"short_name": short, "map": str(line)})
        actions, race_time = expert_step_actions(env, demo_map)
        times[short] = race_time
        weights = {"w": torch.zeros(1)}
        save_best_race(run, short, race_time_ms=race_time + time_error_ms, actions=actions, online=weights)
    config = {"env": env.model_dump(mode="json"), "map_cycle": {"entries": entries}}
    RunManifest.open_or_create(run, config=config, seed=0)
    return run, times
