"""Race tags of hairpin, Linesight and rulka; first finish, best/mean/median, cumulative and windowed finish rate,
the furthest share of the lap."""

from __future__ import annotations

import pytest
from tests.analysis.conftest import T0, Logs, races

from hairpin.analysis.races import RaceKey, map_limit_s, race_key, race_series, race_stats
from hairpin.analysis.run import load_run
from hairpin.analysis.runs import RunCatalog

# Ten eval races, one a minute from minute 1: four DNFs, four finishes, a DNF, a finish.
FINISHED = [False, False, False, False, True, True, True, True, False, True]
TIMES = [60.0, 60.0, 60.0, 60.0, 30.0, 29.0, 31.0, 28.0, 60.0, 27.0]


def test_race_tags_of_every_writer() -> None:
    assert race_key("Race/eval_race_time_finished_blind_sprint") == (
        RaceKey("eval", "sprint", "blind"),
        "time_finished",
    )
    assert race_key("eval_race_finished_trained_map5") == (RaceKey("eval", "map5", "trained"), "finished")
    assert race_key("explo_race_time_map5") == (RaceKey("explo", "map5", ""), "time")  # older Linesight
    assert race_key("Race/eval_race_progress_trained_sprint") == (RaceKey("eval", "sprint", "trained"), "progress")
    assert race_key("eval_race_time_robust_trained_map5") is None  # rulka's robust time is not a race
    assert race_key("Training/loss") is None and race_key("race_time_ratio_map5") is None


def test_first_finish_and_cumulative_versus_windowed_finish_rate(logs: Logs) -> None:
    results = [(1000 * m, t, f, T0 + 60 * m) for m, t, f in zip(range(1, 11), TIMES, FINISHED, strict=True)]
    logs.write("run", [("Training/loss", 1.0, 0, T0), *races("eval", "m", results)])  # the run starts at T0
    (source,) = RunCatalog(logs.tensorboard, logs.runs).resolve(["run"])
    run = load_run(source, 30.0)
    series = race_series(run, RaceKey("eval", "m", "blind"), "wall_minutes")
    assert series is not None
    at_10 = race_stats(series, 10.0, window=5.0)
    assert (at_10.races, at_10.finished, at_10.finish_rate) == (10, 5, 0.5)
    assert (at_10.window_races, at_10.window_finish_rate) == (5, 0.8)  # minutes 6-10: four of five
    assert (at_10.best, at_10.mean, at_10.median) == (27.0, pytest.approx(29.0), 29.0)
    assert at_10.first_finish == pytest.approx(5.0)
    at_4 = race_stats(series, 4.0, window=5.0)
    assert (at_4.races, at_4.finish_rate, at_4.best, at_4.first_finish) == (4, 0.0, None, None)
    on_frames = race_series(run, RaceKey("eval", "m", "blind"), "frames")
    assert on_frames is not None and race_stats(on_frames, 10_000, 5_000).first_finish == 5_000
    assert race_series(run, RaceKey("explo", "m", "blind"), "frames") is None


def test_best_lap_against_the_limit_the_run_logged(logs: Logs) -> None:
    results = [(1000 * m, t, f, T0 + 60 * m) for m, t, f in zip(range(1, 11), TIMES, FINISHED, strict=True)]
    logs.write("run", [("limit_ms_m", 25_000.0, 0, T0), *races("eval", "m", results)])
    (source,) = RunCatalog(logs.tensorboard, logs.runs).resolve(["run"])
    run = load_run(source, 30.0)
    series = race_series(run, RaceKey("eval", "m", "blind"), "wall_minutes")
    assert series is not None
    assert map_limit_s(run, "m") == 25.0 and map_limit_s(run, "other") is None
    assert race_stats(series, 10.0, 5.0, limit_s=25.0).best_to_limit == pytest.approx(27.0 / 25.0)
    assert race_stats(series, 10.0, 5.0).best_to_limit is None


def test_the_furthest_share_of_the_lap_up_to_the_checkpoint(logs: Logs) -> None:
    results = [(1000 * m, t, f, T0 + 60 * m) for m, t, f in zip(range(1, 11), TIMES, FINISHED, strict=True)]
    shares = [0.1, 0.4, 0.25, 0.6, 1.0, 1.0, 1.0, 1.0, 0.3, 1.0]
    logs.write("run", [*races("eval", "m", results, progress=shares)])
    logs.write("old", [*races("eval", "m", results)])  # a run from before progress was logged
    catalog = RunCatalog(logs.tensorboard, logs.runs)
    run, old = (load_run(source, 30.0) for source in catalog.resolve(["run", "old"]))
    series = race_series(run, RaceKey("eval", "m", "blind"), "frames")
    assert series is not None
    assert race_stats(series, 3_000, 1_000).best_progress == pytest.approx(0.4)
    assert race_stats(series, 4_500, 1_000).best_progress == pytest.approx(0.6)
    assert race_stats(series, 10_000, 1_000).best_progress == 1.0
    assert race_stats(series, 500, 1_000).best_progress is None  # no race yet
    old_series = race_series(old, RaceKey("eval", "m", "blind"), "frames")
    assert old_series is not None and race_stats(old_series, 10_000, 1_000).best_progress is None
