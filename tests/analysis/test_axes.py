"""Axes: downtime removed on training hours only, one origin per run, batches through the counter, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
from tests.analysis.conftest import T0, Logs

from hairpin.analysis.analyze import AnalysisOptions, analyze
from hairpin.analysis.axes import checkpoints, nice_interval, parse_span
from hairpin.analysis.errors import AnalysisError
from hairpin.analysis.run import Run, load_run
from hairpin.analysis.runs import RunCatalog

HOUR = 3600.0


def two_sessions(logs: Logs, name: str = "gap") -> None:
    """Values every 10 min for an hour, 3 hours of downtime, then another hour."""
    logs.write(name, [("loss", 1.0, i * 100, T0 + i * 600) for i in range(7)])
    logs.write(name, [("loss", 2.0, 700 + i * 100, T0 + 4 * HOUR + i * 600) for i in range(7)])


def load(logs: Logs, name: str, gap_minutes: float = 30.0) -> Run:
    (source,) = RunCatalog(logs.tensorboard, logs.runs).resolve([name])
    return load_run(source, gap_minutes)


def test_a_three_hour_gap_is_removed_on_training_hours_and_kept_on_wall_minutes(logs: Logs) -> None:
    two_sessions(logs)
    logs.manifest("gap", [(T0, T0 + HOUR), (T0 + 4 * HOUR, T0 + 5 * HOUR)], ["gap"])
    run = load(logs, "gap")
    assert run.duration("wall_minutes") == pytest.approx(300.0)
    assert run.duration("training_hours") == pytest.approx(2.0)
    series = run.series["loss"]
    at = np.flatnonzero(series.wall == T0 + 4.5 * HOUR)
    assert run.positions(series, "wall_minutes")[at] == pytest.approx(270.0)
    assert run.positions(series, "training_hours")[at] == pytest.approx(1.5)
    assert run.positions(series, "frames")[at] == pytest.approx(1000.0)


def test_a_killed_session_ends_at_its_last_value(logs: Logs) -> None:
    two_sessions(logs)
    logs.manifest("gap", [(T0, None), (T0 + 4 * HOUR, T0 + 5 * HOUR)], ["gap"])
    assert load(logs, "gap").duration("training_hours") == pytest.approx(2.0)


def test_plain_directory_gaps_follow_the_threshold(logs: Logs) -> None:
    two_sessions(logs)
    assert load(logs, "gap", gap_minutes=30).duration("training_hours") == pytest.approx(2.0)
    assert load(logs, "gap", gap_minutes=240).duration("training_hours") == pytest.approx(5.0)


def test_one_origin_for_every_tag(logs: Logs) -> None:
    logs.write("run", [("early", 0.0, 0, T0), ("late", 1.0, 10, T0 + 600)])
    run = load(logs, "run")
    assert run.positions(run.series["late"], "wall_minutes")[0] == pytest.approx(10.0)


def test_batches_axis_interpolates_the_counter(logs: Logs) -> None:
    counter = [("cumul_number_batches_done", b, f, T0 + f) for f, b in [(0, 0.0), (1000, 100.0), (2000, 300.0)]]
    logs.write("run", [*counter, ("loss", 0.5, 1500, T0 + 1500)])
    run = load(logs, "run")
    assert run.positions(run.series["loss"], "batches")[0] == pytest.approx(200.0)


def test_auto_axis_uses_training_hours_for_a_stopped_run_and_says_why(logs: Logs) -> None:
    two_sessions(logs)
    logs.write("steady", [("loss", 1.0, i * 100, T0 + i * 600) for i in range(13)])
    options = AnalysisOptions(runs=("gap", "steady"), logdir=logs.tensorboard, runs_dir=logs.runs)
    analysis = analyze(options)
    assert analysis.axis == "training_hours" and "gap ran in 2 stretches" in analysis.axis_reason
    assert analysis.window_end == pytest.approx(2.0) and analysis.limited_by == "gap"
    steady_only = analyze(AnalysisOptions(runs=("steady",), logdir=logs.tensorboard, runs_dir=logs.runs))
    assert steady_only.axis == "wall_minutes" and "one stretch" in steady_only.axis_reason


def test_spans_checkpoints_and_round_intervals() -> None:
    assert parse_span("30m", "training_hours", "--interval") == pytest.approx(0.5)
    assert parse_span("2h", "wall_minutes", "--interval") == 120.0
    assert parse_span("90", "wall_minutes", "--interval") == 90.0
    assert parse_span("1.5M", "frames", "--step-interval") == 1_500_000
    assert parse_span("500k", "batches", "--step-interval") == 500_000
    with pytest.raises(AnalysisError, match="--step-interval '30m'"):
        parse_span("30m", "frames", "--step-interval")
    with pytest.raises(AnalysisError, match="unknown unit"):
        parse_span("3 weeks", "wall_minutes", "--interval")
    assert list(checkpoints(240.0, 60.0)) == [60.0, 120.0, 180.0, 240.0]
    assert list(checkpoints(0.3 * 3, 0.3)) == [0.3, 0.6, 0.9]
    with pytest.raises(AnalysisError, match="longer than the common window"):
        checkpoints(50.0, 60.0)
    assert nice_interval(240.0, "wall_minutes") == 60.0
    assert nice_interval(10.0, "training_hours") == 2.0
    assert nice_interval(10_000_000, "frames") == 2_000_000


def test_training_second_stamps_of_older_linesight(logs: Logs) -> None:
    # Older Linesight stamps values with cumul_training_hours × 3600; a restart from a checkpoint rewinds both the
    # step and that clock. Session 1 reaches 1,000 s and frame 1,000, session 2 restarts from 600.
    logs.write("old", [("loss", 1.0, s, float(s)) for s in range(0, 1001, 100)])
    logs.write("old", [("loss", 2.0, s, float(s)) for s in range(600, 1801, 100)])
    run = load(logs, "old")
    assert "training seconds" in run.timeline.source
    loss = run.series["loss"]
    assert list(loss.step) == list(range(0, 1801, 100)) and list(loss.value) == [1.0] * 6 + [2.0] * 13
    assert run.duration("wall_minutes") == pytest.approx(30.0)
    assert run.duration("training_hours") == pytest.approx(0.5)
