from __future__ import annotations

import pytest

from hairpin.config.rl import MapCycleEntry
from hairpin.rl.race_log import RaceLog, race_scalars

EVAL = MapCycleEntry(short_name="a", map="sprint", is_exploration=False, fill_buffer=False)
EXPLO = MapCycleEntry(short_name="a", map="sprint")


def test_only_strictly_better_finishes_are_news() -> None:
    log = RaceLog()
    assert log.add(EXPLO, 30_000, finished=True) == (True, True)
    assert log.add(EVAL, 31_000, finished=True) == (False, True)  # first eval finish, not the map's best
    assert log.add(EVAL, 31_000, finished=True) == (False, False)  # an equal time is no improvement
    assert log.add(EVAL, 29_000, finished=True) == (True, True)
    assert log.add(EVAL, 20_000, finished=False) == (False, False)
    assert log.best_ms == {"a": 29_000}
    assert log.tallies[("a", "eval")].races == 4 and log.tallies[("a", "eval")].finished == 3


def test_race_scalars_use_the_usual_tag_names() -> None:
    dnf = race_scalars(EVAL, 45_000, finished=False, mean_q=-3.0)
    assert dnf == {
        "Race/eval_race_time_blind_a": 45.0,
        "Race/eval_race_finished_blind_a": 0.0,
        "RL/avg_Q_blind_a": -3.0,
    }
    assert race_scalars(EXPLO, 30_000, finished=True, mean_q=0.0)["Race/explo_race_time_finished_trained_a"] == 30.0


def test_a_finished_race_is_also_logged_against_the_limit() -> None:
    finished = race_scalars(EVAL, 30_000, finished=True, mean_q=0.0, limit_ms=25_000)
    assert finished["Race/eval_limit_ratio_blind_a"] == pytest.approx(1.2)
    assert "Race/eval_limit_ratio_blind_a" not in race_scalars(
        EVAL, 30_000, finished=False, mean_q=0.0, limit_ms=25_000
    )
    assert not any("limit" in tag for tag in race_scalars(EVAL, 30_000, finished=True, mean_q=0.0))
    from hairpin.analysis.races import race_key

    assert race_key("Race/eval_limit_ratio_blind_a") is None  # not mistaken for a race of a map "limit_ratio_…"


def test_trained_or_blind_is_named_by_the_map_not_the_entry() -> None:
    from hairpin.rl.map_cycle import race_kind, trained_maps

    other = MapCycleEntry(short_name="b", map="technical", is_exploration=False, fill_buffer=False)
    trained = trained_maps([EXPLO, EVAL, other])
    assert trained == frozenset({"a"})
    assert race_kind(EVAL, trained) == ("eval", "trained")  # greedy races on a map the agent learns from
    assert race_kind(other, trained) == ("eval", "blind")
    assert "Race/eval_race_time_trained_a" in race_scalars(EVAL, 30_000, True, 0.0, trained=trained)


def test_a_race_logs_the_share_of_the_lap_it_covered() -> None:
    dnf = race_scalars(EVAL, 45_000, finished=False, mean_q=0.0, progress=0.375)
    assert dnf["Race/eval_race_progress_blind_a"] == 0.375
    assert race_scalars(EVAL, 30_000, finished=True, mean_q=0.0, progress=0.99)["Race/eval_race_progress_blind_a"] == 1
    assert not any("progress" in tag for tag in race_scalars(EVAL, 30_000, finished=False, mean_q=0.0))


def test_race_progress_is_where_the_car_stopped_along_the_line_from_its_start() -> None:
    import numpy as np

    from hairpin.config.sim import EnvConfig
    from hairpin.rl.collector import race_progress
    from hairpin.sim.maps import load_map
    from hairpin.sim.race import RaceSim, StartPlace

    track = load_map("sprint")
    sim = RaceSim(EnvConfig(image_size=32), [track], n_cars=2)
    rng = np.random.default_rng(0)
    sim.reset_cars([0, 1], rng, [None, StartPlace(track.finish_s_m / 2, 0.0, 0.0)])
    assert race_progress(sim, 0, 0.0, finished=False) == pytest.approx(0.0, abs=0.01)
    for _ in range(40):
        sim.step(np.zeros(2, np.int64))  # accelerate straight on
    covered = [float(sim.info(car)["meters_advanced"]) for car in (0, 1)]
    assert covered[0] > 20.0
    assert race_progress(sim, 0, 0.0, finished=False) == pytest.approx(covered[0] / track.finish_s_m)
    half = track.finish_s_m / 2
    assert race_progress(sim, 1, half, finished=False) == pytest.approx((covered[1] - half) / half)
    assert race_progress(sim, 0, 0.0, finished=True) == 1.0
