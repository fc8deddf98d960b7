"""Comparisons: the common window, Linesight logs, eval and explo apart, seeds aggregated, errors that list."""

from __future__ import annotations

import pytest
from tests.analysis.conftest import T0, Logs, races

from hairpin.analysis.analyze import AnalysisOptions, analyze
from hairpin.analysis.errors import AnalysisError
from hairpin.analysis.races import RaceKey


def hairpin_run(logs: Logs, name: str, minutes: int, best: float, first: int = 0) -> None:
    """A value each minute: loss, the batch counter, and an eval race finished from minute ``first`` on."""
    values = []
    for m in range(minutes + 1):
        wall, frames = T0 + 60 * m, 1000 * m
        values += [("Training/loss", 1 / (m + 1), frames, wall), ("cumul_number_batches_done", 10.0 * m, frames, wall)]
        values += races("eval", "sprint", [(frames, best + (minutes - m) / 10, m >= first, wall)])
    logs.write(name, values)


def options(logs: Logs, *runs: str, **more: object) -> AnalysisOptions:
    return AnalysisOptions(runs=runs, logdir=logs.tensorboard, runs_dir=logs.runs, **more)  # type: ignore[arg-type]


def test_runs_are_compared_up_to_their_common_window(logs: Logs) -> None:
    hairpin_run(logs, "long", 100, best=20.0)
    hairpin_run(logs, "short", 60, best=25.0, first=30)
    analysis = analyze(options(logs, "long", "short"))
    assert (analysis.axis, analysis.window_end, analysis.limited_by) == ("wall_minutes", 60.0, "short")
    assert list(analysis.checkpoints) == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    durations = {(c.subject, c.statistic): c.value for c in analysis.cells if c.section == "duration"}
    assert durations[("long", "wall_minutes")] == 100.0 and durations[("short", "frames")] == 60_000
    assert durations[("long", "batches")] == 1000.0
    cells = {(c.subject, c.statistic, c.at): c for c in analysis.cells if c.section == "race"}
    assert max(c.at for c in cells.values() if c.at is not None) == 60.0
    assert cells[("short", "first_finish", 60.0)].value == 30.0
    assert cells[("short", "first_finish", 20.0)].value is None
    assert cells[("long", "best_s", 60.0)].value == pytest.approx(24.0)  # 20 + (100 - 60) / 10
    assert cells[("long", "best_s", 60.0)].n == 61
    scalars = {(c.subject, c.at): c for c in analysis.cells if c.section == "scalar" and c.metric == "Training/loss"}
    assert scalars[("short", 60.0)].value == pytest.approx(1 / 61) and scalars[("short", 60.0)].n == 61


def test_linesight_logs_with_unprefixed_tags_and_suffix_directories(logs: Logs) -> None:
    eval_races = [(1000 * m, 50.0 - m, m % 2 == 0, T0 + 60 * m) for m in range(1, 11)]
    explo_races = [(1000 * m + 500, 70.0 - m, True, T0 + 60 * m + 30) for m in range(1, 11)]
    early = [("loss", 0.5, 0, T0), *races("eval", "map5", eval_races[:5], prefix="", fill="trained")]
    logs.write("linesight", early + races("explo", "map5", explo_races[:5], prefix="", fill="trained"))
    late = [*races("eval", "map5", eval_races[5:], prefix="", fill="trained"), ("loss", 0.25, 10_000, T0 + 600)]
    logs.write("linesight_2", late + races("explo", "map5", explo_races[5:], prefix="", fill="trained"))
    hairpin_run(logs, "hairpin", 10, best=30.0)
    analysis = analyze(options(logs, "linesight", "hairpin", interval="10m"))
    keys = [RaceKey("eval", "map5", "trained"), RaceKey("eval", "sprint", "blind"), RaceKey("explo", "map5", "trained")]
    assert analysis.races == keys
    cells = {(c.subject, c.metric, c.statistic): c.value for c in analysis.cells if c.at == 10.0}
    assert cells[("linesight", "eval trained map5", "best_s")] == 40.0  # eval: minutes 2, 4, ..., 10 finished
    assert cells[("linesight", "eval trained map5", "finish_rate")] == 0.5
    assert cells[("linesight", "explo trained map5", "best_s")] == 61.0  # explo races are not eval races
    assert cells[("linesight", "explo trained map5", "finish_rate")] == 1.0
    assert cells[("hairpin", "eval trained map5", "finish_rate")] is None
    assert analysis.scalars[0] == "loss"
    assert cells[("linesight", "loss", "last")] == 0.25 and cells[("hairpin", "loss", "last")] == pytest.approx(1 / 11)
    assert any("loss is read from loss in linesight, Training/loss in hairpin" in note for note in analysis.notes)


def test_seeds_of_a_variant_are_aggregated_with_intervals(logs: Logs) -> None:
    for seed, best in enumerate([20.0, 21.0, 22.0]):
        hairpin_run(logs, f"base_s{seed}", 30, best=best)
        logs.manifest(f"base_s{seed}", [(T0, T0 + 1800)], [f"base_s{seed}"], group="base", seed=seed)
    for seed, best in enumerate([20.5, 21.5]):
        hairpin_run(logs, f"bc_s{seed}", 30, best=best)
    analysis = analyze(options(logs, "base_s*", "bc_s*", groups=("bc=bc_s*",)))
    assert [(s.name, len(s.runs)) for s in analysis.subjects] == [("base", 3), ("bc", 2)]
    cell = next(c for c in analysis.cells if (c.subject, c.statistic, c.at) == ("base", "best_s", 30.0))
    assert (cell.value, cell.runs_with_value, cell.runs, cell.n) == (pytest.approx(21.0), 3, 3, 93)
    assert cell.low is not None and cell.high is not None and 20.0 <= cell.low < 21.0 < cell.high <= 22.0
    assert any("best_s: the 95% intervals of base and bc overlap at" in note for note in analysis.notes)
    assert not any("one run per variant" in note for note in analysis.notes)


def test_single_seeds_are_flagged(logs: Logs) -> None:
    hairpin_run(logs, "a", 10, best=20.0)
    hairpin_run(logs, "b", 10, best=21.0)
    assert any("one run per variant" in note for note in analyze(options(logs, "a", "b")).notes)


def test_a_tag_no_run_has_is_an_error_listing_the_tags(logs: Logs) -> None:
    hairpin_run(logs, "a", 10, best=20.0)
    with pytest.raises(AnalysisError) as error:
        analyze(options(logs, "a", metrics=("Training/los",)))
    assert "'Training/los'" in str(error.value) and "did you mean Training/loss" in str(error.value)
    assert "cumul_number_batches_done" in str(error.value)
    chosen = analyze(options(logs, "a", metrics=("eval_race_time_blind_sprint", "loss")))
    assert chosen.races == [RaceKey("eval", "sprint", "blind")] and chosen.scalars == ["loss"]


def test_a_truncated_event_file_is_a_warning_and_the_rest_is_read(logs: Logs) -> None:
    hairpin_run(logs, "a", 10, best=20.0)
    (path,) = (logs.tensorboard / "a").iterdir()
    path.write_bytes(path.read_bytes()[:-7])
    analysis = analyze(options(logs, "a"))
    (warning,) = analysis.warnings
    assert str(path) in warning and "truncated" in warning and "byte offset" in warning
    assert analysis.runs[0].series["Training/loss"].step.size == 11


def test_bad_options_are_named_errors(logs: Logs) -> None:
    hairpin_run(logs, "a", 10, best=20.0)
    with pytest.raises(AnalysisError, match="unknown time axis 'hours'"):
        analyze(options(logs, "a", time_axis="hours"))
    with pytest.raises(AnalysisError, match="--step-interval"):
        analyze(options(logs, "a", time_axis="frames", interval="10m"))
    with pytest.raises(AnalysisError, match="name at least one run"):
        analyze(options(logs))
    frames = analyze(options(logs, "a", time_axis="batches", step_interval="25"))
    assert list(frames.checkpoints) == [25.0, 50.0, 75.0, 100.0]


@pytest.mark.parametrize("group", ["bc=bc_s*", "=long", "empty="])
def test_a_group_that_matches_no_run_is_an_error(logs: Logs, group: str) -> None:
    hairpin_run(logs, "long", 10, best=20.0)
    hairpin_run(logs, "short", 10, best=25.0)
    with pytest.raises(AnalysisError, match="--group") as error:
        analyze(options(logs, "long", "short", groups=(group,)))
    if group == "bc=bc_s*":
        assert "no run matches 'bc_s*'" in str(error.value) and "long, short" in str(error.value)
