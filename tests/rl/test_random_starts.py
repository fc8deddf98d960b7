from __future__ import annotations

import numpy as np
import pytest
from tests.rl.conftest import tiny_config

from hairpin.rl.random_starts import FINISH_MARGIN_M, RandomStarts
from hairpin.sim import state as st
from hairpin.sim.maps import load_map
from hairpin.sim.race import RaceSim, StartPlace


def test_a_car_placed_along_the_line_starts_there_with_its_clock_at_zero(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tiny_config(tmp_path)
    sim = RaceSim(cfg.env, [cfg.map_cycle.entries[0].map], n_cars=2)
    track = sim.track_of(0)
    sim.reset_cars([0, 1], np.random.default_rng(0), [None, StartPlace(100.0, 1.0, 30.0)])
    start, placed = sim.state
    assert start[st.S] == 0 and start[st.IDX] == 0 and np.hypot(start[st.VX], start[st.VZ]) == 0
    assert placed[st.S] == pytest.approx(100.0) and placed[st.IDX] == 200 and placed[st.RACE_TICKS] == 0
    assert np.hypot(placed[st.VX], placed[st.VZ]) == pytest.approx(30.0)
    assert placed[st.NEXT_CP] == np.count_nonzero(track.checkpoints <= 100.0)
    right = np.array([track.tangent[200, 1], -track.tangent[200, 0]])
    assert (placed[[st.X, st.Z]] - track.centre[200, [0, 2]]) @ right == pytest.approx(1.0)
    assert placed[st.GEAR] > 1  # the gear of 30 m/s, not of a standing start
    info = sim.info(1)
    assert info["meters_advanced"] == pytest.approx(100.0) and info["race_time_ms"] == 0


def test_random_starts_follow_the_share_and_stay_on_the_road(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tiny_config(tmp_path, **{"exploration.random_start_share": 0.5})
    track = load_map(cfg.map_cycle.entries[0].map)
    starts = RandomStarts(cfg, [track])
    rng = np.random.default_rng(1)
    places = [starts.draw(0, rng) for _ in range(400)]
    drawn = [p for p in places if p is not None]
    assert 160 < len(drawn) < 240
    for place in drawn:
        assert 0 <= place.s_m <= track.finish_s_m - FINISH_MARGIN_M
        i = round(place.s_m / 0.5)
        assert -track.width_left[i] < place.lateral_m < track.width_right[i]
        assert 0 < place.speed <= 75.0


def test_no_random_starts_by_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tiny_config(tmp_path)
    starts = RandomStarts(cfg, [load_map(cfg.map_cycle.entries[0].map)])
    rng = np.random.default_rng(0)
    assert all(starts.draw(0, rng) is None for _ in range(50))
