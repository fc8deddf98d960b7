"""The gap of a best lap to the map's limit, section by section (``hairpin.analysis.lap_gap``, ``hairpin gap``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.data.conftest import ENV, make_run
from typer.testing import CliRunner

from hairpin.analysis.lap_gap import LapTrace, best_lap_gaps, lap_gap
from hairpin.cli import app
from hairpin.sim.maps import load_map
from hairpin.sim.racing_line import racing_line


def _trace(time_s: np.ndarray, metres: np.ndarray) -> LapTrace:
    return LapTrace(time_s, metres, np.full_like(time_s, 10.0), True, round(time_s[-1] * 1000))


def test_time_at_is_the_first_arrival_and_nan_where_never_reached() -> None:
    trace = _trace(np.array([0.0, 1.0, 2.0, 3.0, 4.0]), np.array([0.0, 10.0, 5.0, 20.0, 30.0]))
    times = trace.time_at(np.array([10.0, 15.0, 25.0, 40.0]))
    # 15 m: reached only after the car came back from 5 m at 2 s to 20 m at 3 s
    np.testing.assert_allclose(times[:3], [1.0, 2.5, 3.5])
    assert np.isnan(times[3])


def test_a_pause_shows_as_the_time_lost_in_its_section() -> None:
    t = np.arange(0.0, 10.0 + 1e-9, 0.05)
    limit = _trace(t, 10.0 * t)
    lap_t = np.arange(0.0, 10.5 + 1e-9, 0.05)
    lap = _trace(lap_t, np.where(lap_t < 5.0, 10.0 * lap_t, np.where(lap_t < 5.5, 50.0, 10.0 * (lap_t - 0.5))))
    gap = lap_gap("m", lap, limit, every_m=25.0)
    assert [s.metres for s in gap.sections] == [25.0, 50.0, 75.0, 100.0]
    np.testing.assert_allclose([s.gap_s for s in gap.sections], [0.0, 0.0, 0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose([s.gained_s for s in gap.sections], [0.0, 0.0, 0.5, 0.0], atol=1e-9)
    assert gap.worst(1)[0].metres == 75.0
    assert gap.ratio == pytest.approx(10.5 / 10.0)
    same = lap_gap("m", limit, limit, every_m=30.0)
    assert all(s.gap_s == pytest.approx(0.0) for s in same.sections)
    with pytest.raises(ValueError, match="every_m"):
        lap_gap("m", lap, limit, every_m=0.0)


def test_a_best_race_is_read_against_the_racing_line(tmp_path: Path) -> None:
    run, times = make_run(tmp_path, "r")
    [(found, gap)] = best_lap_gaps([run], every_m=20.0, map_name="g3")
    assert found == run and gap.map == "g3" and gap.finished
    assert gap.lap_ms == times["g3"]  # the stored actions, driven again, give the stored time
    limit = racing_line(load_map(tmp_path / "gen-3.npy", half_width=ENV.road_half_width_m), ENV).lap_ms
    assert gap.limit_ms == limit and gap.lap_ms > limit  # the centre-line expert is slower than the line
    gained = sum(s.gained_s for s in gap.sections)
    assert gained == pytest.approx(gap.sections[-1].gap_s)
    assert 0.0 < gap.sections[-1].gap_s <= (gap.lap_ms - gap.limit_ms) / 1000.0 + 0.05


def test_the_gap_command(tmp_path: Path) -> None:
    run, _ = make_run(tmp_path, "r")
    runner = CliRunner()
    result = runner.invoke(app, ["gap", "r", "--runs", str(tmp_path / "runs"), "--map", "g3", "--format", "json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["run"] == str(run) and row["map"] == "g3" and row["ratio"] > 1.0
    text = runner.invoke(app, ["gap", str(run), "--map", "g3", "--top", "2"])
    assert text.exit_code == 0 and "the 2 sections that lose most" in text.output
    missing = runner.invoke(app, ["gap", str(tmp_path / "nope")])
    assert missing.exit_code != 0 and "no run.json" in missing.output
    no_race = runner.invoke(app, ["gap", str(run), "--map", "zz"])
    assert no_race.exit_code != 0 and "no best race on 'zz'" in no_race.output
