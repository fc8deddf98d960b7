"""The plan: topological order, resolved configs, content keys (a change re-keys only what depends on it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.study.conftest import base_study, write_study

from hairpin.config.rl import RLConfig
from hairpin.study.plan import Plan, build_plan, dataset_key
from hairpin.study.spec import StudyError, load_study


def _plan(tmp_path: Path, study: dict[str, Any], **options: Any) -> Plan:
    spec = load_study(write_study(tmp_path, study))
    return build_plan(spec, tmp_path / "studies" / spec.name, version="test-1", **options)


def _keys(plan: Plan) -> dict[str, str]:
    return {name: node.key for name, node in plan.nodes.items()}


@pytest.fixture
def study(tmp_path: Path) -> dict[str, Any]:
    tree = base_study(tmp_path)
    tree["seeds"] = [0, 1]
    tree["variants"]["resumed"] = {
        "config": tree["variants"]["base"]["config"],
        "init_from": {"variant": "bcv", "checkpoint": "best"},
        "reset_schedules": True,
    }
    return tree


def test_order_puts_inputs_first(tmp_path: Path, study: dict[str, Any]) -> None:
    plan = _plan(tmp_path, study)
    order = list(plan.nodes)
    assert order == ["demo", "bc", "base-s0", "base-s1", "bcv-s0", "bcv-s1", "resumed-s0", "resumed-s1"]
    assert plan.nodes["bc"].deps == ("demo",)
    assert plan.nodes["bcv-s1"].deps == ("bc",)
    assert plan.nodes["resumed-s1"].deps == ("bcv-s1",), "a variant starts from the same seed's run"
    for name, node in plan.nodes.items():
        assert all(order.index(dep) < order.index(name) for dep in node.deps)


def test_resolved_run_config(tmp_path: Path, study: dict[str, Any]) -> None:
    study["variants"]["bcv"]["parts"] = {"vis": {"lr_mult": 0.1}, "advantage": {"frozen_until_frames": 500}}
    plan = _plan(tmp_path, study)
    node = plan.nodes["bcv-s1"]
    cfg = node.config
    assert isinstance(cfg, RLConfig)
    assert (cfg.run_name, cfg.group, cfg.seed) == ("bcv-s1", "bcv", 1)
    assert (
        Path(cfg.paths.runs) == plan.study_dir / "runs"
        and Path(cfg.paths.tensorboard) == plan.study_dir / "tensorboard"
    )
    assert (cfg.training.max_frames, cfg.training.max_batches, cfg.training.max_minutes) == (2000, None, None)
    bc_dir = plan.study_dir / "stages" / "bc" / "runs" / "bc"
    assert cfg.training.pretrain_encoder_path == cfg.training.pretrain_actions_head_path == str(bc_dir)
    assert cfg.training.pretrain_float_head_path is None and cfg.training.pretrain_bc_heads_path is None
    assert cfg.nn.vis.lr_mult == 0.1 and cfg.nn.decoder.advantage.frozen_until_frames == 500
    assert node.cpus == cfg.performance.gpu_collectors_count + 1
    bc = plan.nodes["bc"].config
    assert bc is not None and bc.model_dump()["data"]["dataset"] == str(plan.nodes["demo"].output)


def test_init_from_commands(tmp_path: Path, study: dict[str, Any]) -> None:
    plan = _plan(tmp_path, study)
    best = plan.nodes["resumed-s0"].command(Path("c.yaml"))
    weights = plan.study_dir / "runs" / "bcv-s0" / "best" / "short" / "weights.pt"
    assert best == ["train", "c.yaml", "--init-from", str(weights), "--reset-schedules"]
    assert plan.nodes["resumed-s0"].command(Path("c.yaml"), resuming=True) == ["train", "c.yaml"]
    study["variants"]["resumed"]["init_from"]["checkpoint"] = "latest"
    study["variants"]["resumed"]["reset_schedules"] = False
    latest = _plan(tmp_path, study).nodes["resumed-s0"]
    assert latest.command(Path("c.yaml")) == ["train", "c.yaml", "--init-from", str(plan.study_dir / "runs" / "bcv-s0")]
    assert latest.init_from is not None and latest.init_from.keeps_counters


def test_keys_are_stable(tmp_path: Path, study: dict[str, Any]) -> None:
    first = _keys(_plan(tmp_path, study))
    assert first == _keys(_plan(tmp_path, study))
    assert len(set(first.values())) == len(first), "every node has its own key"


def test_a_changed_stage_rekeys_only_what_depends_on_it(tmp_path: Path, study: dict[str, Any]) -> None:
    before = _keys(_plan(tmp_path, study))
    study["stages"]["bc"]["set"]["train.lr"] = 1e-4
    after = _keys(_plan(tmp_path, study))
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"bc", "bcv-s0", "bcv-s1", "resumed-s0", "resumed-s1"}


def test_a_changed_variant_rekeys_its_runs_and_what_starts_from_them(tmp_path: Path, study: dict[str, Any]) -> None:
    before = _keys(_plan(tmp_path, study))
    study["variants"]["base"]["set"] = {"iqn.batch_size": 16}
    study["variants"]["bcv"]["parts"] = {"iqn": {"lr_mult": 0.5}}
    after = _keys(_plan(tmp_path, study))
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"base-s0", "base-s1", "bcv-s0", "bcv-s1", "resumed-s0", "resumed-s1"}


def test_the_budget_and_the_code_version_rekey_the_runs(tmp_path: Path, study: dict[str, Any]) -> None:
    before = _keys(_plan(tmp_path, study))
    study["budget"] = {"frames": 3000}
    after = _keys(_plan(tmp_path, study))
    assert {n for n in before if before[n] != after[n]} == {n for n in before if "-s" in n}
    spec = load_study(write_study(tmp_path, study))
    other = _keys(build_plan(spec, tmp_path / "studies" / "tiny", version="test-2"))
    assert all(other[name] != after[name] for name in after)


def test_keys_do_not_depend_on_where_the_study_lives(tmp_path: Path, study: dict[str, Any]) -> None:
    spec = load_study(write_study(tmp_path, study))
    here = _keys(build_plan(spec, tmp_path / "a", version="v"))
    there = _keys(build_plan(spec, tmp_path / "b" / "c", version="v"))
    assert here == there


def test_only_and_seeds_narrow_the_plan_with_its_inputs(tmp_path: Path, study: dict[str, Any]) -> None:
    assert list(_plan(tmp_path, study, only=["resumed"], seeds=[1]).nodes) == ["demo", "bc", "bcv-s1", "resumed-s1"]
    assert list(_plan(tmp_path, study, only=["base-s0"]).nodes) == ["base-s0"]
    assert list(_plan(tmp_path, study, only=["bc"]).nodes) == ["demo", "bc"]
    assert list(_plan(tmp_path, study, seeds=[0]).nodes) == ["demo", "bc", "base-s0", "bcv-s0", "resumed-s0"]
    with pytest.raises(StudyError, match="--only 'bas'"):
        _plan(tmp_path, study, only=["bas"])
    with pytest.raises(StudyError, match=r"--seeds \[7\]"):
        _plan(tmp_path, study, seeds=[7])


def test_an_existing_dataset_is_keyed_by_its_content(tmp_path: Path, study: dict[str, Any]) -> None:
    dataset = tmp_path / "data" / "expert"
    (dataset / "data").mkdir(parents=True)
    (dataset / "hairpin.json").write_text(json.dumps({"name": "expert", "episodes": 3}))
    (dataset / "data" / "main_data.hdf5").write_bytes(b"x" * 100)
    key = dataset_key(dataset)
    copy = tmp_path / "elsewhere" / "expert"
    shutil.copytree(dataset, copy)
    assert dataset_key(copy) == key, "a copied dataset keeps its key"
    (copy / "data" / "main_data.hdf5").write_bytes(b"x" * 99)
    assert dataset_key(copy) != key, "a truncated file re-keys"
    study["stages"]["demo"] = {"kind": "demos", "dataset": str(dataset)}
    plan = _plan(tmp_path, study)
    assert plan.nodes["demo"].kind == "dataset" and plan.nodes["demo"].key == key
    assert plan.nodes["demo"].output == dataset
    (dataset / "hairpin.json").write_text(json.dumps({"name": "expert", "episodes": 4}))
    assert _plan(tmp_path, study).nodes["bc"].key != plan.nodes["bc"].key
