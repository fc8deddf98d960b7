"""A crash that rewinds the step counter: the later session's values win, for every tag of the run."""

from __future__ import annotations

from tests.analysis.conftest import T0, Logs, races

from hairpin.analysis.run import load_run
from hairpin.analysis.runs import RunCatalog


def test_rewound_step_counter_later_session_wins(logs: Logs) -> None:
    # Session 1 reaches frame 1,000 (an eval race at 800), dies; session 2 resumes from the checkpoint at frame 600.
    first = [("Training/loss", 1.0, f, T0 + f) for f in range(0, 1001, 100)]
    logs.write("run", first + races("eval", "a", [(800, 30.0, True, T0 + 800)]))
    logs.write("run", [("Training/loss", 2.0, f, T0 + 5000 + f) for f in range(600, 1201, 100)])
    (source,) = RunCatalog(logs.tensorboard, logs.runs).resolve(["run"])
    run = load_run(source, 30.0)
    loss = run.series["Training/loss"]
    assert list(loss.step) == list(range(0, 1201, 100))
    assert list(loss.value) == [1.0] * 6 + [2.0] * 7
    assert not any(tag.startswith("Race/") for tag in run.series)  # its only race was on the lost timeline
    assert any("8 values dropped" in note for note in run.notes)  # loss 600..1000 and the race's 3 tags


def test_equal_steps_are_not_a_rewind(logs: Logs) -> None:
    logs.write("run", races("eval", "a", [(100, 30.0, True, T0), (100, 31.0, True, T0 + 1), (200, 29.0, True, T0 + 2)]))
    (source,) = RunCatalog(logs.tensorboard, logs.runs).resolve(["run"])
    run = load_run(source, 30.0)
    assert list(run.series["Race/eval_race_time_blind_a"].value) == [30.0, 31.0, 29.0]


def test_a_tag_going_back_within_one_file_keeps_the_later_values(logs: Logs) -> None:
    logs.write("run", [("x", float(i), step, T0 + i) for i, step in enumerate([0, 100, 200, 300, 150, 250])])
    (source,) = RunCatalog(logs.tensorboard, logs.runs).resolve(["run"])
    series = load_run(source, 30.0).series["x"]
    assert list(series.step) == [0, 100, 150, 250] and list(series.value) == [0.0, 1.0, 4.0, 5.0]


def test_two_writers_at_once_are_not_a_rewind(logs: Logs) -> None:
    logs.write("run", [("learner", 1.0, f, T0 + f) for f in range(0, 1001, 100)])
    logs.write("run", [("worker", 2.0, f, T0 + 10 + f) for f in range(0, 501, 100)])  # opened later, overlapping
    (source,) = RunCatalog(logs.tensorboard, logs.runs).resolve(["run"])
    run = load_run(source, 30.0)
    assert len(run.series["learner"]) == 11 and len(run.series["worker"]) == 6
