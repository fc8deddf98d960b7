"""The TensorBoard writer switches directory at the schedule's frames and reopens the right one on resume."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from hairpin.rl.tb_writer import SuffixedSummaryWriter, suffix_index

SCHEDULE = [(0, ""), (1_000, "_2"), (5_000, "_3")]


def steps(log_dir: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


def test_values_cross_the_suffix_boundary(tmp_path: Path) -> None:
    opened: list[Path] = []
    writer = SuffixedSummaryWriter(tmp_path / "tensorboard", "run", SCHEDULE, opened.append)
    assert writer.log_dir is None
    for frames in (0, 400, 999, 1_000, 1_700):
        writer.add_scalar("Training/loss", frames / 100, frames)
    writer.add_scalars({"RL/epsilon": 0.1, "Training/learning_rate": 1e-3}, 1_800)
    writer.close()
    first, second = tmp_path / "tensorboard" / "run", tmp_path / "tensorboard" / "run_2"
    assert opened == [first, second]
    assert steps(first, "Training/loss") == [(0, 0.0), (400, 4.0), (999, pytest.approx(9.99))]
    assert [step for step, _ in steps(second, "Training/loss")] == [1_000, 1_700]
    assert steps(second, "RL/epsilon") == [(1_800, pytest.approx(0.1))]


def test_resume_reopens_the_directory_for_the_current_frames(tmp_path: Path) -> None:
    opened: list[Path] = []
    with SuffixedSummaryWriter(tmp_path, "run", SCHEDULE, opened.append) as writer:
        writer.add_scalar("x", 1.0, 1_200)
    with SuffixedSummaryWriter(tmp_path, "run", SCHEDULE, opened.append) as writer:
        writer.add_scalar("x", 2.0, 1_500)
        writer.add_scalar("x", 3.0, 900)  # a late value stays in the current directory
        writer.flush()
        assert writer.log_dir == tmp_path / "run_2"
    assert opened == [tmp_path / "run_2", tmp_path / "run_2"]
    assert len(list((tmp_path / "run_2").glob("events.out.tfevents.*"))) == 2
    assert sorted(steps(tmp_path / "run_2", "x")) == [(900, 3.0), (1_200, 1.0), (1_500, 2.0)]
    assert not (tmp_path / "run").exists()


def test_jump_past_several_steps_and_no_schedule(tmp_path: Path) -> None:
    opened: list[Path] = []
    writer = SuffixedSummaryWriter(tmp_path, "run", SCHEDULE, opened.append)
    writer.add_scalar("x", 1.0, 10)
    writer.add_scalar("x", 1.0, 9_000)
    writer.close()
    assert opened == [tmp_path / "run", tmp_path / "run_3"]
    plain = SuffixedSummaryWriter(tmp_path, "solo", None, opened.append)
    plain.add_scalar("x", 1.0, 10**9)
    plain.close()
    assert opened[-1] == tmp_path / "solo"


def test_suffix_index_and_bad_schedules() -> None:
    assert [suffix_index(SCHEDULE, f) for f in (0, 999, 1_000, 4_999, 5_000, 10**9)] == [0, 0, 1, 1, 2, 2]
    assert suffix_index([(100, "_a")], 5) == 0
    for bad, message in [
        ([(0, ""), (0, "_2")], "must increase"),
        ([(0, ""), (-1, "x")], "frames >= 0"),
        ([(0, "a/b")], "path separator"),
        ([], "empty"),
        ([(0.5, "")], "frames >= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            SuffixedSummaryWriter(Path("unused"), "run", bad, print)
