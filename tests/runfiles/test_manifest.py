"""run.json: sessions that survive a SIGKILL, config changes refused or recorded, events and log dirs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pydantic import Field
from torch import nn

from hairpin.config.base import ConfigModel
from hairpin.rl.checkpoint import load_checkpoint
from hairpin.runfiles.manifest import RunManifest, RunManifestError, config_diff

SRC = Path(__file__).resolve().parents[2] / "src"
CONFIG = {"rl": {"lr": 1e-3, "gamma": 0.99}, "paths": {"runs": "runs"}}


def open_run(run: Path, config: dict | None = None, **kwargs: object) -> RunManifest:
    return RunManifest.open_or_create(run, config=config or CONFIG, seed=7, code_version="0.1.0+gtest", **kwargs)


def test_create_saves_the_run_at_once(tmp_path: Path) -> None:
    class Small(ConfigModel):
        lr: float = Field(1e-3, gt=0)
        schedule: tuple[int, ...] = (1, 2)

    manifest = RunManifest.open_or_create(tmp_path / "r1", config=Small(), seed=1, group="lr-sweep")
    stored = json.loads((tmp_path / "r1" / "run.json").read_text())
    assert stored["run_name"] == "r1" and stored["group"] == "lr-sweep" and stored["seed"] == 1
    assert stored["config"] == {"lr": 1e-3, "schedule": [1, 2]} and stored["sessions"] == []
    assert stored["code_version"] == manifest.code_version and manifest.code_version
    assert RunManifest.open_or_create(tmp_path / "r1", config=Small(), seed=1).config_changes == []


def test_session_is_on_disk_while_it_runs_and_reopen_appends(tmp_path: Path) -> None:
    manifest = open_run(tmp_path)
    manifest.start_session(frames=0, batches=0)
    assert json.loads(manifest.path.read_text())["sessions"][0]["end"] is None
    manifest.end_session(frames=5000, batches=40)
    again = open_run(tmp_path)
    again.start_session(frames=5000, batches=40, init_from="runs/other/checkpoints/ckpt-000003")
    stored = RunManifest.load(tmp_path)
    first, second = stored.sessions
    assert first.end is not None and not first.killed and (first.frames_end, first.batches_end) == (5000, 40)
    assert second.end is None and second.frames_start == 5000 and second.init_from.endswith("ckpt-000003")


def test_session_left_open_is_marked_killed_on_reopen(tmp_path: Path) -> None:
    open_run(tmp_path).start_session(frames=0, batches=0)
    assert not RunManifest.load(tmp_path).sessions[0].killed  # reading for analysis changes nothing
    manifest = open_run(tmp_path)
    assert manifest.sessions[0].killed and manifest.sessions[0].end is None
    assert RunManifest.load(tmp_path).sessions[0].killed
    manifest.start_session(frames=100, batches=1)
    manifest.end_session(frames=200, batches=2)
    assert [s.killed for s in RunManifest.load(tmp_path).sessions] == [True, False]


def test_only_one_open_session(tmp_path: Path) -> None:
    manifest = open_run(tmp_path)
    with pytest.raises(RunManifestError, match="no open session"):
        manifest.end_session(frames=1, batches=1)
    manifest.start_session(frames=0, batches=0)
    with pytest.raises(RunManifestError, match="already open"):
        manifest.start_session(frames=0, batches=0)


def test_config_change_is_refused_then_recorded(tmp_path: Path) -> None:
    open_run(tmp_path)
    changed = {"rl": {"lr": 5e-4, "gamma": 0.99, "tau": 2}, "paths": {"runs": "elsewhere"}}
    with pytest.raises(RunManifestError) as caught:
        open_run(tmp_path, changed, free_keys=["paths"])
    assert "rl.lr: 0.001 -> 0.0005" in str(caught.value) and "rl.tau: None -> 2" in str(caught.value)
    assert "paths.runs" not in str(caught.value)
    manifest = open_run(tmp_path, changed, allow_config_change=True)
    assert manifest.config == changed
    (change,) = RunManifest.load(tmp_path).config_changes
    assert change.session == 0 and change.changes["rl.lr"] == [1e-3, 5e-4] and "paths.runs" in change.changes
    moved = {**changed, "paths": {"runs": "third"}}
    assert open_run(tmp_path, moved, free_keys=["paths"]).config_changes[-1].changes == {
        "paths.runs": ["elsewhere", "third"]
    }
    with pytest.raises(RunManifestError, match="seed: 7 -> 8"):
        RunManifest.open_or_create(tmp_path, config=moved, seed=8)


def test_a_key_added_by_a_newer_hairpin_at_its_default_does_not_block_a_resume(tmp_path: Path) -> None:
    class Before(ConfigModel):
        lr: float = 1e-3

    class After(ConfigModel):
        lr: float = 1e-3
        backend: str = "sim"

    RunManifest.open_or_create(tmp_path, config=Before(), seed=1)
    reopened = RunManifest.open_or_create(tmp_path, config=After(), seed=1)  # the new key at its default: allowed
    assert reopened.config_changes[-1].changes == {"backend": [None, "sim"]}  # ... and recorded
    with pytest.raises(RunManifestError, match="backend: 'sim' -> 'game'"):  # stored now: a change is a change
        RunManifest.open_or_create(tmp_path, config=After(backend="game"), seed=1)
    fresh = tmp_path / "fresh"
    RunManifest.open_or_create(fresh, config=Before(), seed=1)
    with pytest.raises(RunManifestError, match="backend: None -> 'game'"):  # new, but not at its default
        RunManifest.open_or_create(fresh, config=After(backend="game"), seed=1)


def test_config_diff_names_dotted_leaves() -> None:
    assert config_diff({"a": {"b": 1, "c": [1]}}, {"a": {"b": 1, "c": [2]}, "d": 3}) == {
        "a.c": [[1], [2]],
        "d": [None, 3],
    }


def test_events_and_tensorboard_dirs_persist(tmp_path: Path) -> None:
    manifest = open_run(tmp_path)
    manifest.log_event("collector restarted", "collector 2 exited with code 1", frames=12_000)
    manifest.add_tensorboard_dir(Path("tensorboard/run"))
    manifest.add_tensorboard_dir("tensorboard/run")
    manifest.add_tensorboard_dir(tmp_path / "tb" / "run_2")
    stored = RunManifest.load(tmp_path)
    assert [(e.kind, e.frames) for e in stored.events] == [("collector restarted", 12_000)]
    assert stored.tensorboard_dirs == ["tensorboard/run", str(tmp_path / "tb" / "run_2")]


def test_unreadable_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(RunManifestError, match="does not exist"):
        RunManifest.load(tmp_path)
    (tmp_path / "run.json").write_text('{"run_name": 3}')
    with pytest.raises(RunManifestError, match="is not a readable run manifest"):
        open_run(tmp_path)


KILLED_TRAINER = """
import os, signal, sys
from pathlib import Path
import torch
from hairpin.rl import checkpoint
from hairpin.runfiles.manifest import RunManifest

run = Path(sys.argv[1])
manifest = RunManifest.open_or_create(run, config={"rl": {"lr": 0.001}}, seed=3, code_version="test")
manifest.start_session(frames=0, batches=0)
torch.manual_seed(0)
online, target = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
optimizer = torch.optim.Adam(online.parameters())
checkpoint.save_checkpoint(run, online=online, target=target, optimizer=optimizer, counters={"frames": 100})
real_write = checkpoint.atomic_write_bytes

def write_then_die(path, data):
    real_write(path, data)
    if Path(path).name == "online.pt":
        os.kill(os.getpid(), signal.SIGKILL)

checkpoint.atomic_write_bytes = write_then_die
with torch.no_grad():
    online.weight.add_(1.0)
checkpoint.save_checkpoint(run, online=online, target=target, optimizer=optimizer, counters={"frames": 200})
print("still alive")
"""


def test_sigkill_mid_save_leaves_last_complete_checkpoint_and_killed_session(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", KILLED_TRAINER, str(run)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert "still alive" not in result.stdout
    root = run / "checkpoints"
    assert sorted(p.name for p in (root / "ckpt-000002").iterdir()) == ["online.pt"]  # killed right after it
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]
    for weights in root.rglob("*.pt"):
        torch.load(weights, weights_only=True)  # every file on disk is whole
    online, target = nn.Linear(4, 3), nn.Linear(4, 3)
    optimizer = torch.optim.Adam(online.parameters())
    assert load_checkpoint(run, online=online, target=target, optimizer=optimizer) == {"frames": 100}
    torch.manual_seed(0)
    assert torch.equal(online.weight, nn.Linear(4, 3).weight)  # the first save's weights, not the +1 ones
    manifest = RunManifest.open_or_create(run, config={"rl": {"lr": 0.001}}, seed=3, code_version="test")
    manifest.start_session(frames=100, batches=0)
    first, second = RunManifest.load(run).sessions
    assert first.killed and first.end is None and not second.killed and second.frames_start == 100
