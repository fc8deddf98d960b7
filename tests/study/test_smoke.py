"""The smoke of a study: every stage and variant once at a tiny size, in its own folder, the study otherwise intact."""

from __future__ import annotations

from pathlib import Path

from tests.study.conftest import CONFIGS
from typer.testing import CliRunner

from hairpin.cli import app
from hairpin.study.plan import build_plan
from hairpin.study.smoke import SMOKE_BATCHES, SMOKE_MIN_TRANSITIONS, smoke_spec
from hairpin.study.spec import INJECT_KEYS, load_study

GPU_STUDY = CONFIGS / "studies" / "bc-pretraining.yaml"


def _value(config: object, dotted: str) -> object:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def test_smoke_shrinks_every_stage_and_run_and_keeps_the_rest(tmp_path: Path) -> None:
    spec = load_study(GPU_STUDY)
    smoke, changes = smoke_spec(spec)
    full, small = build_plan(spec, tmp_path / spec.name), build_plan(smoke, tmp_path / smoke.name)
    assert small.study_dir.name == "bc-pretraining-smoke"
    runs = {name: node for name, node in small.nodes.items() if node.kind == "rl"}
    assert sorted(runs) == sorted(f"{variant}-s{spec.seeds[0]}" for variant in spec.variants)
    for name, node in runs.items():
        cfg, original = node.config, full.nodes[name].config
        assert cfg.training.max_batches == SMOKE_BATCHES and cfg.memory.memory_min_size == SMOKE_MIN_TRANSITIONS
        assert cfg.env == original.env and cfg.nn == original.nn and cfg.performance == original.performance
        for key in INJECT_KEYS.values():
            injected, was = (_value(c, key) for c in (cfg, original))
            assert (injected is None) == (was is None), (name, key)
            assert injected is None or injected.startswith(str(small.study_dir)), "smoke runs inject smoke stages"
    assert runs["bc_enc_frozen-s0"].config.nn.vis.freeze
    demos = small.nodes["expert64"]
    assert "--episodes" in demos.options and demos.options[demos.options.index("--episodes") + 1] == "1"
    assert demos.options[demos.options.index("--generated") + 1] == "1"
    assert demos.options[demos.options.index("--maps") + 1] == "sprint,grand-tour,technical"  # validation maps stay
    for stage in ("vis", "bc_v1", "bc_v2", "bc_v3"):
        assert small.nodes[stage].config.train.epochs == 1
        assert small.nodes[stage].config.data == full.nodes[stage].config.data.model_copy(
            update={"dataset": small.nodes[stage].config.data.dataset}
        )
    finetune = runs["finetune_best-s0"]
    assert finetune.init_from is not None and finetune.init_from.checkpoint == "latest"
    assert changes == [
        "finetune_best: starts from bc_enc_ahead's latest checkpoint, not its best race (a smoke run finishes no race)"
    ]


def test_smoke_dry_run_names_its_folder_and_changes(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["study", str(GPU_STUDY), "--smoke", "--dry-run", "--studies-dir", str(tmp_path)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "bc-pretraining-smoke" in result.output and "finetune_best: starts from" in result.output
    assert "racing_ref-s0" in result.output and "racing_ref-s1" not in result.output
    assert not (tmp_path / "bc-pretraining-smoke").exists(), "a dry run writes nothing"
