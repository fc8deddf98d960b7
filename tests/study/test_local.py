"""The local executor through ``hairpin study``: runs, skips what is done, records failures, resumes after SIGKILL."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from tests.study.conftest import CONFIGS, PRETRAIN_SET, base_study, demos_stage, run_study_command, write_study
from typer.testing import CliRunner

from hairpin.cli import app
from hairpin.config.rl import RLConfig
from hairpin.runfiles.manifest import RunManifest
from hairpin.study.executor import StudyExecutor
from hairpin.study.local import LocalBackend
from hairpin.study.plan import Plan, build_plan
from hairpin.study.progress import checkpoint_counters
from hairpin.study.spec import load_study
from hairpin.study.state import NodeState, read_state, read_states, write_state

runner = CliRunner()


def _states(study_dir: Path) -> dict[str, tuple[str, int, str | None]]:
    """(state, attempts, ended) of every node."""
    return {name: (s.state, s.attempts, s.ended) for name, s in read_states(study_dir).items()}


def _code_version(study_dir: Path) -> str:
    return str(json.loads((study_dir / "plan.json").read_text())["code_version"])


def _skip_if_the_code_changed(study_dir: Path, before: str) -> None:
    """Content keys hold the code version: a commit that lands between two runs re-keys every node, as it must."""
    if _code_version(study_dir) != before:
        pytest.skip(f"the code version changed during the test ({before} → {_code_version(study_dir)})")


def _failing_study(tmp_path: Path) -> dict[str, Any]:
    """Two demos stages; a vis stage that fails at run time (its validation map is not in the dataset) and a bc stage
    that needs it."""
    bad_vis = {**PRETRAIN_SET, "data.validation_maps": ["no-such-map"]}
    return {
        "name": "faults",
        "stages": {
            "demo": demos_stage(),
            "demo2": demos_stage(generated=3),
            "vis": {
                "kind": "vis",
                "config": str(CONFIGS / "pretrain/vis/v1_cpu.yaml"),
                "dataset": "demo",
                "set": bad_vis,
            },
            "bc": {
                "kind": "bc",
                "config": str(CONFIGS / "pretrain/bc/v2_cpu.yaml"),
                "dataset": "demo2",
                "encoder_init": "vis",
                "set": PRETRAIN_SET,
            },
        },
        "variants": {"base": {"config": str(CONFIGS / "rl/cpu.yaml")}},
        "seeds": [0],
        "budget": {"frames": 1000},
    }


def test_a_failed_node_is_recorded_and_the_others_go_on(in_tmp: Path) -> None:
    path = write_study(in_tmp, _failing_study(in_tmp))
    result = run_study_command(path, "--only", "bc", "--only", "demo2", timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "failed: vis" in " ".join(result.stdout.split())
    study_dir = in_tmp / "studies" / "faults"
    states = _states(study_dir)
    assert states["demo"][0] == states["demo2"][0] == "done"
    assert states["vis"][:2] == ("failed", 1)
    assert "bc" not in states, "a node whose input failed does not start"
    vis = read_state(study_dir, "vis")
    assert vis is not None and vis.error is not None
    assert "exit code 2" in vis.error and "no-such-map" in vis.error, "the error holds the end of the log"
    assert (study_dir / "logs" / "vis.log").is_file()

    status = runner.invoke(app, ["study", str(path), "--status", "--only", "bc", "--only", "demo2"])
    assert status.exit_code == 0, status.output
    text = " ".join(status.output.split())
    assert "2 done" in text and "1 failed" in text and "1 pending" in text and "no-such-map" in text

    dry = runner.invoke(app, ["study", str(path), "--dry-run", "--only", "bc", "--only", "demo2"])
    assert dry.exit_code == 0, dry.output
    assert "4 nodes: 2 cached, 2 to run" in " ".join(dry.output.split())
    assert _states(study_dir) == states, "--status and --dry-run change nothing"

    version = _code_version(study_dir)
    again = run_study_command(path, "--only", "bc", "--only", "demo2", timeout=300)
    assert again.returncode == 1
    _skip_if_the_code_changed(study_dir, version)
    retried = _states(study_dir)
    assert retried["vis"][:2] == ("failed", 2), "a failed node is retried"
    assert retried["demo"] == states["demo"] and retried["demo2"] == states["demo2"], "done nodes are not rerun"


def test_a_changed_stage_runs_again_and_keeps_the_old_output(in_tmp: Path) -> None:
    study = _failing_study(in_tmp)
    path = write_study(in_tmp, study)
    assert run_study_command(path, "--only", "demo", timeout=300).returncode == 0
    study_dir = in_tmp / "studies" / "faults"
    first = read_state(study_dir, "demo")
    version = _code_version(study_dir)
    study["stages"]["demo"]["args"]["episodes"] = 2
    write_study(in_tmp, study)
    result = run_study_command(path, "--only", "demo", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    _skip_if_the_code_changed(study_dir, version)
    second = read_state(study_dir, "demo")
    assert first is not None and second is not None and second.key != first.key and second.state == "done"
    moved = list((study_dir / "superseded").glob(f"demo-{first.key[:12]}-*/demo/hairpin.json"))
    assert len(moved) == 1, "the output of the old key is moved aside, not deleted"
    episodes = json.loads((study_dir / "stages/demo/datasets/demo/hairpin.json").read_text())["episodes"]
    assert len(episodes) == 4


def test_ray_without_the_package_is_a_clear_error(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    path = write_study(in_tmp, _failing_study(in_tmp))
    result = runner.invoke(app, ["study", str(path), "--ray", "auto"])
    assert result.exit_code == 2
    assert "ray package is not installed" in result.output and "Traceback" not in result.output
    assert not (in_tmp / "studies").exists()


@pytest.mark.slow
def test_a_tiny_study_end_to_end(in_tmp: Path) -> None:
    """demos → bc → three variants (one injecting bc, one starting from another's checkpoint); then nothing reruns."""
    study = base_study(in_tmp)
    study["variants"]["cont"] = {"config": study["variants"]["base"]["config"], "init_from": {"variant": "base"}}
    path = write_study(in_tmp, study)
    result = run_study_command(path, "--jobs", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    study_dir = in_tmp / "studies" / "tiny"
    states = _states(study_dir)
    assert {name: s[:2] for name, s in states.items()} == {
        name: ("done", 1) for name in ("demo", "bc", "base-s0", "bcv-s0", "cont-s0")
    }
    bcv = RunManifest.load(study_dir / "runs" / "bcv-s0")
    assert {p["artifact"] for p in bcv.pretrained} >= {"encoder", "actions_head"}
    assert bcv.group == "bcv" and bcv.seed == 0
    base_frames = (checkpoint_counters(study_dir / "runs" / "base-s0") or {})["cumul_number_frames_played"]
    cont = RunManifest.load(study_dir / "runs" / "cont-s0")
    assert cont.sessions[0].init_from == str(study_dir / "runs" / "base-s0")
    assert cont.sessions[0].frames_start == base_frames, "init_from latest keeps the other run's counters"
    assert (cont.sessions[-1].frames_end or 0) >= base_frames + 2000, "and its budget counts from there"
    plan = json.loads((study_dir / "plan.json").read_text())
    assert [n["name"] for n in plan["nodes"]] == ["demo", "bc", "base-s0", "bcv-s0", "cont-s0"]
    assert (study_dir / "study.yaml").read_bytes() == path.read_bytes()

    version = _code_version(study_dir)
    again = run_study_command(path)
    assert again.returncode == 0, again.stdout + again.stderr
    _skip_if_the_code_changed(study_dir, version)
    assert _states(study_dir) == states, "a second run runs nothing"
    assert "5 cached" in again.stdout


def _frames(run_dir: Path) -> int:
    return int((checkpoint_counters(run_dir) or {}).get("cumul_number_frames_played", 0))


@pytest.mark.slow
def test_sigkill_of_the_study_then_the_same_command_finishes_it(in_tmp: Path) -> None:
    study = base_study(in_tmp)
    study["stages"] = {"demo": study["stages"]["demo"]}
    study["variants"] = {"base": study["variants"]["base"]}
    study["budget"] = {"frames": 12000}
    study["questions"] = []
    path = write_study(in_tmp, study)
    command = [sys.executable, "-m", "hairpin.cli", "study", str(path)]
    study_dir = in_tmp / "studies" / "tiny"
    run_dir = study_dir / "runs" / "base-s0"
    process = subprocess.Popen(command, cwd=in_tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240  # an upper bound: the run checkpoints every 0.6 s once it trains
    try:
        while _frames(run_dir) < 1500:
            assert process.poll() is None, "the study ended before it could be killed"
            assert time.monotonic() < deadline, "the RL run never reached a checkpoint"
            time.sleep(0.2)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    killed_at = _frames(run_dir)
    demo_before = read_state(study_dir, "demo")
    assert demo_before is not None and demo_before.state == "done"

    version = _code_version(study_dir)
    result = run_study_command(path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    _skip_if_the_code_changed(study_dir, version)
    demo_after, run_state = read_state(study_dir, "demo"), read_state(study_dir, "base-s0")
    assert demo_after == demo_before, "the finished stage is not run again"
    assert run_state is not None and (run_state.state, run_state.attempts) == ("done", 2)
    sessions = RunManifest.load(run_dir).sessions
    assert len(sessions) == 2
    assert sessions[1].frames_start >= killed_at > 0, "the run resumed from its checkpoint"
    assert (sessions[1].frames_end or 0) >= 12000
    log = (study_dir / "logs" / "demo.log").read_text()
    assert log.count("=== attempt") == 1


def _plan_in(tmp_path: Path, study: dict[str, Any]) -> Plan:
    spec = load_study(write_study(tmp_path, study))
    return build_plan(spec, tmp_path / "studies" / spec.name, version="test")


def test_outputs_finished_before_their_marker_are_adopted_not_rerun(tmp_path: Path) -> None:
    """A SIGKILL between a node's end and its done marker: the next run finds the outputs complete, runs nothing."""
    study = base_study(tmp_path)
    study["variants"] = {"base": study["variants"]["base"]}
    study["questions"] = []
    plan = _plan_in(tmp_path, study)
    demo, bc = plan.nodes["demo"], plan.nodes["bc"]
    demo.output.mkdir(parents=True)
    (demo.output / "hairpin.json").write_text("{}")
    bc.output.mkdir(parents=True)
    (bc.output / "manifest.json").write_text("{}")
    for node, state in ((demo, "running"), (bc, "failed")):
        write_state(plan.study_dir, NodeState(node=node.name, state=state, key=node.key, kind=node.kind, output="x"))
    only_stages = Plan(plan.spec, plan.study_dir, {"demo": demo, "bc": bc}, plan.code_version)
    backend = LocalBackend(1, python="/bin/false")
    executor = StudyExecutor(only_stages, backend, jobs=1, console=Console(file=io.StringIO()))
    assert executor.run() == {"demo": "done", "bc": "done"}
    assert [read_state(plan.study_dir, n).state for n in ("demo", "bc")] == ["done", "done"]  # type: ignore[union-attr]
    assert not (plan.study_dir / "logs").exists(), "no command ran"


def test_a_resumed_run_gets_what_is_left_of_a_minutes_budget(tmp_path: Path) -> None:
    study = base_study(tmp_path)
    study["budget"] = {"training_hours": 0.5}
    plan = _plan_in(tmp_path, study)
    node = plan.nodes["base-s0"]
    executor = StudyExecutor(plan, LocalBackend(1), jobs=1, console=Console(file=io.StringIO()))
    assert isinstance(node.config, RLConfig) and node.config.training.max_minutes == 30
    folder = node.output / "checkpoints" / "ckpt-000003"
    folder.mkdir(parents=True)
    (node.output / "checkpoints" / "latest").write_text("ckpt-000003\n")
    counters = {"cumul_number_frames_played": 900, "cumul_training_hours": 0.2}
    (folder / "counters.json").write_text(json.dumps({"checkpoint_id": 3, "files": {}, "counters": counters}))
    cfg, _, minutes = executor._session_config(node, node.config, resuming=True)
    assert minutes == pytest.approx(18.0) and cfg.training.max_minutes == pytest.approx(18.0)
    assert cfg.training.max_frames is None and cfg.training.max_batches is None
