"""Faults of a training run through ``hairpin train``: each is one line and exit code 2, and the run is unchanged.

One trained run is made per module; each test copies it, breaks the copy, and byte-compares it before and after.
"""

from __future__ import annotations

import errno
import json
import pickle
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tests.rl.conftest import start_trainer, tiny_config
from typer.testing import CliRunner

from hairpin.cli import app
from hairpin.config.loader import dump_config
from hairpin.config.rl import RLConfig
from hairpin.rl.trainer import RunStartError, Trainer
from hairpin.run_lock import LOCK_FILE, RunLock, RunLockedError

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base directory holding the map and a run ``tiny`` trained to its first checkpoints."""
    base = tmp_path_factory.mktemp("trained")
    Trainer(tiny_config(base)).run()
    return base


def _copy(trained: Path, tmp_path: Path, **overrides: object) -> tuple[RLConfig, Path, Path]:
    """The trained run copied under ``tmp_path``: its config (same map file), its YAML and its run directory."""
    shutil.copytree(trained / "runs", tmp_path / "runs")
    paths = {"paths.runs": str(tmp_path / "runs"), "paths.tensorboard": str(tmp_path / "tb")}
    cfg = tiny_config(trained, **paths, **overrides)  # type: ignore[arg-type]
    yaml = tmp_path / "run.yaml"
    yaml.write_text(dump_config(cfg))
    return cfg, yaml, tmp_path / "runs" / "tiny"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(args: list[str], *names: str) -> str:
    """Run ``hairpin ARGS``; assert exit 2, one error line naming ``names``, no traceback; return the output."""
    result = runner.invoke(app, args)
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    for name in names:
        assert name in errors[0], errors[0]
    return errors[0]


def _latest(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / (run_dir / "checkpoints" / "latest").read_text().strip()


def test_truncated_checkpoint(trained: Path, tmp_path: Path) -> None:
    _, yaml, run_dir = _copy(trained, tmp_path)
    online = _latest(run_dir) / "online.pt"
    online.write_bytes(online.read_bytes()[:100])
    before = _snapshot(run_dir)
    line = _refused(["train", str(yaml)], str(online), "damaged")
    assert "latest" in line  # the way out: an older checkpoint, or a backup
    assert _snapshot(run_dir) == before


def test_corrupted_checkpoint(trained: Path, tmp_path: Path) -> None:
    _, yaml, run_dir = _copy(trained, tmp_path)
    target = _latest(run_dir) / "target.pt"
    data = bytearray(target.read_bytes())
    data[200:240] = b"\xff" * 40
    target.write_bytes(bytes(data))
    before = _snapshot(run_dir)
    _refused(["train", str(yaml)], str(target), "SHA-256")
    assert _snapshot(run_dir) == before


def test_latest_names_a_missing_folder(trained: Path, tmp_path: Path) -> None:
    _, yaml, run_dir = _copy(trained, tmp_path)
    (run_dir / "checkpoints" / "latest").write_text("ckpt-000999\n")
    before = _snapshot(run_dir)
    _refused(["train", str(yaml)], "ckpt-000999", "latest")
    assert _snapshot(run_dir) == before


@pytest.mark.parametrize("content", ["{not json", '{"run_name": 3}'])
def test_broken_run_json(trained: Path, tmp_path: Path, content: str) -> None:
    _, yaml, run_dir = _copy(trained, tmp_path)
    (run_dir / "run.json").write_text(content)
    before = _snapshot(run_dir)
    _refused(["train", str(yaml)], str(run_dir / "run.json"), "not a readable run manifest")
    assert _snapshot(run_dir) == before


def test_resume_with_another_network_names_the_key_and_an_option_that_exists(trained: Path, tmp_path: Path) -> None:
    _, yaml, run_dir = _copy(trained, tmp_path, **{"nn.floats.hidden": 48})
    before = _snapshot(run_dir)
    line = _refused(["train", str(yaml)], "nn.floats.hidden: 32 -> 48", "--allow-config-change")
    assert "allow_config_change " not in line
    _refused(["train", str(yaml), "--allow-config-change"], "mis-shaped float_feature_extractor.0.weight")
    assert _snapshot(run_dir) == before


def test_init_from_on_an_existing_run_is_refused(trained: Path, tmp_path: Path) -> None:
    _, yaml, run_dir = _copy(trained, tmp_path)
    before = _snapshot(run_dir)
    _refused(["train", str(yaml), "--init-from", str(trained / "runs" / "tiny")], "already exists", "run_name")
    assert _snapshot(run_dir) == before


def test_reset_schedules_without_init_from_is_refused(trained: Path, tmp_path: Path) -> None:
    _, yaml, run_dir = _copy(trained, tmp_path)
    before = _snapshot(run_dir)
    _refused(["train", str(yaml), "--reset-schedules"], "--reset-schedules", "--init-from")
    assert _snapshot(run_dir) == before


class _Payload:
    """Pickled into a .pt file: loading it unsafely would run this class's code."""


@pytest.mark.parametrize(
    ("kind", "names"),
    [
        ("missing", ["no such file"]),
        ("pickle", ["pickled code", "weights only"]),
        ("list", ["not a state dict"]),
        ("text", ["not a readable torch weights file"]),
    ],
)
def test_bad_init_from_is_refused_and_no_run_is_made(tmp_path: Path, kind: str, names: list[str]) -> None:
    cfg = tiny_config(tmp_path, run_name="fresh")
    yaml = tmp_path / "run.yaml"
    yaml.write_text(dump_config(cfg))
    weights = tmp_path / "weights.pt"
    if kind == "pickle":
        weights.write_bytes(pickle.dumps({"a": _Payload()}))
    elif kind == "list":
        torch.save([torch.zeros(3)], weights)
    elif kind == "text":
        weights.write_text("these are not weights")
    line = _refused(["train", str(yaml), "--init-from", str(weights)], str(weights), *names)
    assert "weights_only=False" not in line and "unsafe" not in line.lower()
    assert not (tmp_path / "runs" / "fresh" / "run.json").exists()


def test_read_only_runs_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first write of a run is its lock file; a read-only folder refuses it (injected: root ignores chmod)."""
    cfg = tiny_config(tmp_path, run_name="ro")
    yaml = tmp_path / "run.yaml"
    yaml.write_text(dump_config(cfg))
    real_open = __import__("os").open

    def read_only(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).endswith(LOCK_FILE):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("hairpin.run_lock.os.open", read_only)
    _refused(["train", str(yaml)], "run.lock", "read-only")
    assert not (tmp_path / "runs" / "ro" / "run.json").exists()


def test_full_disk_during_a_checkpoint_keeps_the_last_one(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, yaml, run_dir = _copy(trained, tmp_path)
    latest = _latest(run_dir)
    kept = _snapshot(latest)
    frames = json.loads((latest / "counters.json").read_text())["counters"]["cumul_number_frames_played"]

    def disk_full(path, data):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("hairpin.rl.checkpoint.atomic_write_bytes", disk_full)
    _refused(["train", str(yaml), "--set", f"training.max_frames={frames + 500}"], "No space left", "disk is full")
    assert _latest(run_dir) == latest and _snapshot(latest) == kept
    assert not (run_dir / LOCK_FILE).read_bytes()  # released: the next start takes the run without a note


HOLDER = """
import sys
from hairpin.run_lock import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_live_holder_is_named_and_a_dead_ones_lock_is_taken_over(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "held"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with pytest.raises(RunLockedError, match=rf"pid {holder.pid} on .+ since "):
        RunLock(run_dir).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lock = RunLock(run_dir).acquire()
    assert lock.took_over is not None and f"pid {holder.pid}" in lock.took_over
    lock.release()
    again = RunLock(run_dir).acquire()
    assert again.took_over is None  # a clean release leaves nothing to take over
    again.release()


def test_two_trainers_on_one_run(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, **{"training.max_frames": 10_000_000, "training.checkpoint_every_minutes": 60})
    yaml = tmp_path / "run.yaml"
    first = start_trainer(cfg, yaml)
    assert first.stdout is not None
    assert first.stdout.readline().startswith("status")  # the run is open and locked
    run_dir = tmp_path / "runs" / "tiny"
    run_json = (run_dir / "run.json").read_bytes()
    try:
        _refused(["train", str(yaml)], f"pid {first.pid}", str(run_dir))
        with pytest.raises(RunLockedError):
            Trainer(cfg)
        assert (run_dir / "run.json").read_bytes() == run_json
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 0
    sessions = json.loads((run_dir / "run.json").read_text())["sessions"]
    assert len(sessions) == 1 and sessions[0]["end"] is not None


def test_trainer_notes_a_lock_taken_over_from_a_dead_process(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    run_dir = Path(cfg.paths.runs) / "tiny"
    run_dir.mkdir(parents=True)
    (run_dir / LOCK_FILE).write_text(json.dumps({"pid": 4_000_000, "host": "gone", "since": "earlier"}))
    trainer = Trainer(cfg)
    trainer.close()
    assert any("pid 4000000 on gone" in event for event in trainer.status.events)
    events = json.loads((run_dir / "run.json").read_text())["events"]
    assert [e["kind"] for e in events] == ["lock_taken_over"]


def test_start_options_are_checked_before_the_run_is_touched(tmp_path: Path) -> None:
    with pytest.raises(RunStartError, match="--reset-schedules"):
        Trainer(tiny_config(tmp_path), reset_schedules=True)
    assert not (tmp_path / "runs" / "tiny").exists()


def test_a_killed_learners_collectors_exit_quietly_and_its_spool_is_removed_at_the_next_start(tmp_path: Path) -> None:
    from hairpin.rl.race_channel import SPOOL_PREFIX, remove_dead_spools, spool_root

    cfg = tiny_config(tmp_path, **{"training.max_frames": 10_000_000, "performance.gpu_collectors_count": 2})
    learner = start_trainer(cfg, tmp_path / "run.yaml", stderr=subprocess.PIPE)
    assert learner.stdout is not None
    for line in learner.stdout:
        if line.startswith("status") and int(line.split()[1]) > 0:  # collectors are sending races
            break
    learner.send_signal(signal.SIGKILL)
    # the collectors hold the learner's stdout and stderr: both end only when every collector has exited
    _, stderr = learner.communicate(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    spools = list(spool_root().glob(f"{SPOOL_PREFIX}{learner.pid}-*"))
    assert spools, "the killed learner left its spool"
    removed = remove_dead_spools()
    assert set(spools) <= set(removed) and not any(s.exists() for s in spools)
