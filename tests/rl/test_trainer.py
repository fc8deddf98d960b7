from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tests.rl.conftest import start_trainer, tiny_config

from hairpin.config.rl import RLConfig
from hairpin.rl.checkpoint import load_checkpoint
from hairpin.rl.collector import make_network
from hairpin.rl.learner import Learner, UpdateStats
from hairpin.rl.trainer import Trainer
from hairpin.runfiles.checkpoints import CheckpointError
from hairpin.runfiles.manifest import RunManifestError


def read_tags(tb_dir: Path) -> dict[str, list[float]]:
    acc = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_a_run_trains_logs_and_checkpoints(tiny: RLConfig) -> None:
    status = Trainer(tiny).run()
    assert status.stop_reason == "max_frames 3000 reached"
    assert status.batches > 0 and status.frames >= 3000
    run_dir = Path(tiny.paths.runs) / "tiny"
    manifest = json.loads((run_dir / "run.json").read_text())
    assert len(manifest["sessions"]) == 1 and manifest["sessions"][0]["frames_end"] == status.frames
    assert manifest["config"]["run_name"] == "tiny" and manifest["seed"] == 0
    assert manifest["limits_ms"]["short"] == status.limits_ms["short"] > 0  # the racing line's lap of the map
    tags = read_tags(Path(manifest["tensorboard_dirs"][0]))
    assert "limit_ms_short" in tags
    for tag in (
        "Race/explo_race_time_trained_short",
        "Race/eval_race_finished_trained_short",  # the explo entry of the map fills the buffer: trained
        "Training/grad_norm",
        "RL/mean_Q",
        "RL/random_step_share",
        "RL/avg_Q_trained_short",
        "Training/loss",
        "Training/loss_test",
        "cumul_number_frames_played",
        "RL/epsilon",
        "Performance/learner_percentage_training",
    ):
        assert tag in tags, tag
    assert tags["cumul_number_frames_played"] == sorted(tags["cumul_number_frames_played"])
    online, target = make_network(tiny), make_network(tiny)
    counters = load_checkpoint(run_dir, online=online, target=target, optimizer=None)
    assert counters is not None and counters["cumul_number_frames_played"] == status.frames

    from typer.testing import CliRunner

    from hairpin.cli import app

    result = CliRunner().invoke(app, ["eval", str(run_dir), "--map", "short", "--races", "2"])
    assert result.exit_code == 0, result.output
    limit = status.limits_ms["short"] / 1000
    assert f"limit of short: {limit:.2f} s" in result.output
    if "finished 0/2" not in result.output:
        assert "× the limit" in result.output


def test_mismatched_checkpoint_is_refused_and_kept(tiny: RLConfig, tmp_path: Path) -> None:
    Trainer(tiny).run()
    latest = (Path(tiny.paths.runs) / "tiny" / "checkpoints" / "latest").read_text()
    run_json = (Path(tiny.paths.runs) / "tiny" / "run.json").read_bytes()
    wider = tiny_config(tmp_path, **{"nn.floats.hidden": 48})
    with pytest.raises(RunManifestError, match=r"nn\.floats\.hidden: 32 -> 48"):
        Trainer(wider)
    with pytest.raises(CheckpointError, match=r"mis-shaped float_feature_extractor\.0\.weight"):
        Trainer(wider, allow_config_change=True)
    assert (Path(tiny.paths.runs) / "tiny" / "checkpoints" / "latest").read_text() == latest
    assert (Path(tiny.paths.runs) / "tiny" / "run.json").read_bytes() == run_json


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny: RLConfig, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    real_update = Learner.update

    def poisoned(self: Learner, batch) -> UpdateStats:  # type: ignore[no-untyped-def]
        stats = real_update(self, batch)
        return stats._replace(loss=float("nan")) if self.batches_done > 5 else stats

    monkeypatch.setattr(Learner, "update", poisoned)
    status = Trainer(tiny).run()
    assert status.stop_reason is not None and status.stop_reason.startswith("non-finite loss")
    run_dir = Path(tiny.paths.runs) / "tiny"
    counters = load_checkpoint(run_dir, online=make_network(tiny), target=make_network(tiny), optimizer=None)
    assert counters is None or counters["cumul_number_batches_done"] <= 6


def test_a_dead_collector_is_replaced(tmp_path: Path) -> None:
    tiny = tiny_config(tmp_path, **{"training.max_frames": 20_000})
    trainer = Trainer(tiny)
    killed: list[int] = []

    def kill_once(status) -> None:  # type: ignore[no-untyped-def]
        if not killed and status.frames > 0:
            pid = trainer_pool_pids()[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    def trainer_pool_pids() -> list[int]:
        import multiprocessing

        return [p.pid for p in multiprocessing.active_children() if p.name.startswith("hairpin-collector")]

    status = trainer.run(on_status=kill_once)
    assert killed
    assert status.stop_reason == "max_frames 20000 reached"
    events = json.loads((Path(tiny.paths.runs) / "tiny" / "run.json").read_text())["events"]
    assert any(e["kind"] == "collector_restarted" for e in events)


def checkpoint_frames(run_dir: Path) -> int:
    """Frames of the committed checkpoint of ``run_dir``, 0 when there is none yet."""
    latest = run_dir / "checkpoints" / "latest"
    if not latest.exists():
        return 0
    record = json.loads((run_dir / "checkpoints" / latest.read_text().strip() / "counters.json").read_text())
    return int(record["counters"]["cumul_number_frames_played"])


def test_resume_after_sigkill(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, **{"training.max_frames": 1_000_000})
    child = start_trainer(cfg, tmp_path / "run.yaml")
    assert child.stdout is not None
    for line in child.stdout:  # one line a second; stop at the first status after a checkpoint with frames
        if line.startswith("status") and checkpoint_frames(Path(cfg.paths.runs) / "tiny") > 0:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    online, target = make_network(cfg), make_network(cfg)
    saved = load_checkpoint(Path(cfg.paths.runs) / "tiny", online=online, target=target, optimizer=None)
    assert saved is not None and saved["cumul_number_frames_played"] > 0

    resumed = tiny_config(tmp_path, **{"training.max_frames": saved["cumul_number_frames_played"] + 1500})
    trainer = Trainer(resumed)
    assert trainer.frames == saved["cumul_number_frames_played"]
    assert torch.equal(trainer.online.state_dict()["A_head.2.weight"], online.state_dict()["A_head.2.weight"])
    status = trainer.run()
    assert status.frames >= saved["cumul_number_frames_played"] + 1500
    sessions = json.loads((Path(cfg.paths.runs) / "tiny" / "run.json").read_text())["sessions"]
    assert len(sessions) == 2
    assert sessions[0]["killed"] and sessions[0]["end"] is None
    assert sessions[1]["frames_start"] == saved["cumul_number_frames_played"] and sessions[1]["end"] is not None


def test_ctrl_c_saves_a_checkpoint_and_closes_the_session(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, **{"training.max_frames": 1_000_000, "training.checkpoint_every_minutes": 60})
    child = start_trainer(cfg, tmp_path / "run.yaml")
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("status") and int(line.split()[1]) > 0:
            break
    child.send_signal(signal.SIGINT)
    try:
        child.communicate(timeout=120)
    finally:
        child.kill()  # a no-op once it has exited; never left running
    assert child.returncode == 0
    run_dir = Path(cfg.paths.runs) / "tiny"
    counters = load_checkpoint(run_dir, online=make_network(cfg), target=make_network(cfg), optimizer=None)
    assert counters is not None and counters["cumul_number_frames_played"] > 0
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["sessions"][0]["end"] is not None
    assert manifest["events"][-1]["message"] == "interrupted (Ctrl-C)"


def test_init_from_another_run(tiny: RLConfig, tmp_path: Path) -> None:
    Trainer(tiny).run()
    source = Path(tiny.paths.runs) / "tiny"
    weights = make_network(tiny)
    counters = load_checkpoint(source, online=weights, target=make_network(tiny), optimizer=None)
    assert counters is not None
    fine_tune = tiny_config(tmp_path, run_name="tuned")
    continued = Trainer(fine_tune, init_from=source)
    assert continued.frames == counters["cumul_number_frames_played"]
    assert torch.equal(continued.online.state_dict()["V_head.2.weight"], weights.state_dict()["V_head.2.weight"])
    assert torch.equal(continued.target.state_dict()["V_head.2.weight"], weights.state_dict()["V_head.2.weight"])
    fresh = Trainer(tiny_config(tmp_path, run_name="tuned2"), init_from=source, reset_schedules=True)
    assert fresh.frames == 0
    run_json = json.loads((Path(tiny.paths.runs) / "tuned2" / "run.json").read_text())
    assert run_json["sessions"][0]["init_from"] == str(source)


def test_plateau_breaker_then_early_stop(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cfg = tiny_config(
        tmp_path,
        **{"training.early_stop_minutes": 2.0, "training.plateau": {"minutes": 1.0, "lr_factor": 4.0, "frames": 100}},
    )
    trainer = Trainer(cfg)
    clock = [1000.0]
    monkeypatch.setattr("hairpin.rl.trainer.time.monotonic", lambda: clock[0])
    trainer._best_eval_time = 1000.0
    clock[0] = 1000.0 + 61
    assert trainer._stop_reason(61) is None  # a minute without a better eval time: the plateau breaker
    assert trainer._plateau_until == trainer.frames + 100
    trainer._set_scheduled(trainer.schedules.at(trainer.frames))
    assert trainer.status.learning_rate == pytest.approx(4.0 * trainer.schedules.at(trainer.frames).learning_rate)
    clock[0] += 119
    assert trainer._stop_reason(180) is None  # the breaker restarted the clock
    clock[0] += 2
    assert trainer._stop_reason(182) is not None
    kinds = [e["kind"] for e in json.loads((Path(cfg.paths.runs) / "tiny" / "run.json").read_text())["events"]]
    assert kinds == ["plateau_breaker", "early_stop"]


def test_eval_races_fill_the_buffer_and_the_random_share_is_what_was_driven(tiny: RLConfig) -> None:
    """Races handed to the learner: a greedy race with fill_buffer goes into the buffer; the logged random share
    is the share of non-greedy steps of the exploration races, counted from their greedy flags."""
    import numpy as np

    from hairpin.rl.race_channel import RaceRecord
    from hairpin.sim.race import float_layout

    entries = [e.model_copy(update={"fill_buffer": True}) for e in tiny.map_cycle.entries]
    cfg = tiny.model_copy(update={"map_cycle": tiny.map_cycle.model_copy(update={"entries": entries})})
    trainer = Trainer(cfg)
    try:
        n_floats, size = float_layout(cfg.env).size, cfg.env.image_size

        def record(entry: int, greedy: list[bool], start_m: float = 0.0, terminated: bool = False) -> RaceRecord:
            steps = len(greedy)
            return RaceRecord(
                collector=0,
                entry=entry,
                frames=np.zeros((steps + 1, 1, size, size), np.uint8),
                floats=np.zeros((steps + 1, n_floats), np.float32),
                actions=np.zeros(steps, np.int64),
                rewards=np.zeros(steps, np.float32),
                greedy=np.array(greedy),
                terminated=terminated,
                race_time_ms=50 * steps,
                mean_q=0.0,
                weights_version=0,
                start_m=start_m,
            )

        trainer._add_race(record(1, [True] * 40))  # a greedy eval race
        test = trainer.memory.test
        assert trainer.memory.train.n_transitions + (test.n_transitions if test is not None else 0) == 40
        trainer._add_race(record(0, [True] * 30 + [False] * 10))
        trainer._add_race(record(0, [False] * 5 + [True] * 15))
        assert trainer._interval.scalars()["RL/random_step_share"] == pytest.approx(15 / 60)  # eval race not counted
        frames, explo = trainer.frames, trainer.status.race_log.tallies[("short", "explo")]
        races = explo.races
        trainer._add_race(record(0, [True] * 8, start_m=300.0, terminated=True))  # a random start reaching the finish
        assert trainer.frames == frames + 8  # its frames count and it trains ...
        assert trainer.status.race_log.best_ms == {} and explo.races == races
        trainer._add_race(record(0, [True] * 9, terminated=True))  # ... but only a race from the start line is a lap
        assert trainer.status.race_log.best_ms == {"short": 450} and explo.races == races + 1
    finally:
        trainer.close()


def test_a_run_trains_with_linesights_options_on(tmp_path: Path) -> None:
    """Mini-race oversampling, target self-loss rescaling, line and clock shaping and terminal stalls together,
    through the trainer."""
    cfg = tiny_config(
        tmp_path,
        **{
            "memory.mini_race_oversample_start_steps": 40,
            "memory.mini_race_oversample_zero_steps": 5,
            "memory.shaping_per_m_from_line": -0.1,
            "memory.shaping_mini_race_time": True,
            "iqn.target_self_loss_clamp_ratio": 4.0,
            "memory.stall_is_terminal": True,
        },
    )
    trainer = Trainer(cfg)
    assert len(trainer.potentials) == 2 and trainer.learner.target_spread is not None
    assert trainer.sampler.mini_race_oversample == (40, 5)
    assert trainer.memory.train.stall_step_reward == pytest.approx(cfg.env.reward.per_ms * cfg.memory.step_ms)
    status = trainer.run()
    assert status.stop_reason == "max_frames 3000 reached" and status.batches > 0
    assert trainer.learner.target_spread.typical is not None and trainer.learner.target_spread.typical > 0
    assert trainer.memory.train._stalled.any()  # the collectors' stalls reached the buffer


def test_a_batch_size_schedule_changes_the_batches_and_counts_what_was_trained(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, **{"iqn.batch_size_schedule": {"points": [[0, 16], [1500, 48]], "mode": "staircase"}})
    trainer = Trainer(cfg)
    assert trainer.sampler.batch_size == 16
    status = trainer.run()
    assert status.stop_reason == "max_frames 3000 reached"
    assert trainer.sampler.batch_size == trainer.test_sampler.batch_size == 48
    assert 16 * status.batches < trainer.ratio.trained < 48 * status.batches  # both sizes were trained on
    manifest = json.loads((Path(cfg.paths.runs) / "tiny" / "run.json").read_text())
    acc = EventAccumulator(manifest["tensorboard_dirs"][0], size_guidance={"scalars": 0})
    acc.Reload()
    logged = [(e.step, e.value) for e in acc.Scalars("Training/batch_size")]
    assert {value for _, value in logged} == {16, 48}
    assert all(value == 16 for step, value in logged if step < 1500) and logged[-1][1] == 48


def test_a_frame_budget_is_trained_in_full_before_the_run_stops(tmp_path: Path) -> None:
    # replay ratio 32: the learner owes far more batches than it can keep up with, so it is behind when the
    # collectors reach the budget; the run stops only once those frames are trained on
    cfg = tiny_config(
        tmp_path, **{"memory.number_times_single_memory_is_used_before_discard": 32, "training.max_frames": 1500}
    )
    trainer = Trainer(cfg)
    status = trainer.run()
    assert status.stop_reason == "max_frames 1500 reached"
    ratio = trainer.ratio
    assert ratio.added > cfg.memory.memory_min_size and not ratio.learner_may_train()
    assert ratio.budget <= ratio.trained < ratio.budget + cfg.iqn.batch_size  # nothing owed, nothing more
    assert status.batches * cfg.iqn.batch_size == ratio.trained


def test_ray_collectors_without_a_cluster_fail_in_one_line_and_release_the_run(tmp_path: Path) -> None:
    """With the ray package absent or no cluster at the address, the run stops before training with one error
    naming the setting, and the run is free for the next start."""
    from hairpin.ray_cluster import RayClusterError

    cfg = tiny_config(tmp_path, **{"performance.collectors": "ray", "performance.ray_address": "127.0.0.1:1"})
    with pytest.raises(RayClusterError, match=r"performance\.ray_address"):
        Trainer(cfg).run()
    sessions = json.loads((Path(cfg.paths.runs) / "tiny" / "run.json").read_text())["sessions"]
    assert sessions[-1]["end"] is not None
    Trainer(cfg).close()  # not locked
