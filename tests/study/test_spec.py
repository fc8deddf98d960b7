"""The study file: the shipped studies load and plan; bad files are refused before anything runs, naming the key and
the file."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from tests.study.conftest import CONFIGS, base_study, demos_stage, write_study

from hairpin.config.loader import ConfigError
from hairpin.study.plan import build_plan
from hairpin.study.spec import load_study


@pytest.mark.parametrize("name", ["bc-pretraining.yaml", "bc-pretraining-cpu.yaml"])
def test_shipped_studies_load_and_plan(name: str, tmp_path: Path) -> None:
    spec = load_study(CONFIGS / "studies" / name)
    plan = build_plan(spec, tmp_path / spec.name)
    runs = [node for node in plan.nodes.values() if node.kind == "rl"]
    assert len(runs) == len(spec.variants) * len(spec.seeds) == len(spec.variants) * 3
    assert {node.kind for node in plan.nodes.values()} == {"demos", "vis", "bc", "rl"}
    for question in spec.questions:
        assert set(question.variant_names) <= set(spec.variants)
    every_run = {run.config.model_dump()["training"]["max_" + spec.budget.axis] for run in runs}  # type: ignore[union-attr]
    assert every_run == {int(spec.budget.amount)}, "every run gets the same budget"


def _refusal(tmp_path: Path, study: dict[str, Any], *, plan: bool = False) -> str:
    path = write_study(tmp_path, study)
    with pytest.raises(ConfigError) as caught:
        spec = load_study(path)
        if plan:
            build_plan(spec, tmp_path / "studies" / spec.name)
    message = str(caught.value)
    assert str(path) in message, "the error names the study file"
    assert not (tmp_path / "studies").exists(), "nothing was written"
    return message


def test_a_missing_config_is_refused(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    study["variants"]["base"]["config"] = "nowhere/rl.yaml"
    message = _refusal(tmp_path, study)
    assert "variants.base.config" in message and "nowhere/rl.yaml" in message


def test_an_unknown_stage_is_refused(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    study["variants"]["bcv"]["inject"]["encoder"] = "bc_v9"
    message = _refusal(tmp_path, study)
    assert "variants.bcv.inject.encoder" in message and "unknown stage 'bc_v9'" in message


def test_an_unknown_variant_is_refused(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    study["variants"]["bcv"]["init_from"] = {"variant": "basline"}
    message = _refusal(tmp_path, study)
    assert "variants.bcv.init_from.variant" in message and "unknown variant 'basline'" in message


def test_a_question_on_an_unknown_variant_is_refused(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    study["questions"][0]["compare"] = ["bcv", "nope"]
    assert "questions[0].compare" in _refusal(tmp_path, study)


def test_a_stage_of_the_wrong_kind_is_refused(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    study["variants"]["bcv"]["inject"]["actions_head"] = "demo"
    message = _refusal(tmp_path, study)
    assert "variants.bcv.inject.actions_head" in message and "demos stage" in message


def test_a_cycle_through_init_from_is_refused(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    study["variants"]["base"]["init_from"] = {"variant": "bcv"}
    study["variants"]["bcv"]["init_from"] = {"variant": "base"}
    message = _refusal(tmp_path, study)
    assert "cycle" in message and "init_from.variant" in message


def test_a_cycle_through_stage_inputs_is_refused(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    second = copy.deepcopy(study["stages"]["bc"])
    study["stages"]["bc"]["encoder_init"] = "bc2"
    study["stages"]["bc2"] = {**second, "encoder_init": "bc"}
    message = _refusal(tmp_path, study)
    assert "cycle" in message and "encoder_init" in message and "bc2" in message


def test_an_unknown_key_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    study["variants"]["bcv"]["inject"] = {"encodr": "bc"}
    message = _refusal(tmp_path, study)
    assert "unknown key 'variants.bcv.inject.encodr'" in message and "encoder" in message


def test_a_budget_needs_exactly_one_axis(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    study["budget"] = {"frames": 1000, "batches": 10}
    assert "exactly one of frames, batches" in _refusal(tmp_path, study)


def test_a_demos_stage_needs_args_or_a_dataset(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    study["stages"]["demo"] = {**demos_stage(), "dataset": "somewhere"}
    assert "stages.demo" in _refusal(tmp_path, study)


def test_a_bad_override_is_refused_at_planning(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    study["variants"]["base"]["set"] = {"training.max_framez": 5}
    message = _refusal(tmp_path, study, plan=True)
    assert "variants.base" in message and "training.max_framez" in message


def test_a_key_the_study_sets_itself_is_refused(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    study["variants"]["base"]["set"] = {"training": {"max_frames": 5}}
    message = _refusal(tmp_path, study, plan=True)
    assert "variants.base.set" in message and "training.max_frames" in message


def test_question_direction_defaults_from_the_metric(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    study["questions"].append({"text": "Who finishes?", "variants": ["base", "bcv"], "metric": "finish_rate"})
    spec = load_study(write_study(tmp_path, study))
    assert [q.lower_is_better for q in spec.questions] == [True, False]
    study["questions"][0]["metric"] = "bestlap"
    assert "unknown metric 'bestlap'" in _refusal(tmp_path, study)


def test_stage_and_variant_names_must_differ(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    study["variants"]["bc"] = study["variants"].pop("bcv")
    study["questions"] = []
    assert "'bc' names both a stage and a variant" in _refusal(tmp_path, study)
