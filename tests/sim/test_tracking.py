from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import u_turn_line

from hairpin.sim.track import Track
from hairpin.sim.tracking import ZoneTracker


@pytest.fixture
def hairpin_track() -> Track:
    return Track("hairpin", u_turn_line(radius=16.0, leg_m=60.0), half_width=6.0)


def drive(tracker: ZoneTracker, path: np.ndarray) -> float:
    total = 0.0
    for p in path:
        total += tracker.update(p)
    return total


def test_driving_the_line_counts_its_length(hairpin_track: Track) -> None:
    tracker = ZoneTracker(hairpin_track)
    total = drive(tracker, hairpin_track.centre[::2])
    assert total == pytest.approx(hairpin_track.length_m, abs=0.5)
    assert tracker.distance_to_finish == pytest.approx(0.0, abs=0.5)


def test_driving_backwards_is_negative_progress(hairpin_track: Track) -> None:
    tracker = ZoneTracker(hairpin_track)
    drive(tracker, hairpin_track.centre[:200:2])
    back = drive(tracker, hairpin_track.centre[200:100:-2])
    assert back == pytest.approx(-48.0, abs=0.5)  # from point 198 back to point 102


def test_cutting_the_hairpin_does_not_advance(hairpin_track: Track) -> None:
    tracker = ZoneTracker(hairpin_track)
    drive(tracker, hairpin_track.centre[:100:2])  # 50 m up the first leg, at x = 0
    before = tracker.meters_advanced
    # straight across the inside of the turn to the other leg (x = 32), then down that leg
    across = np.stack([np.linspace(0, 32, 110), np.zeros(110), np.full(110, 50.0)], 1)
    down = np.stack([np.full(80, 32.0), np.zeros(80), np.linspace(50, 10, 80)], 1)
    drive(tracker, np.concatenate([across, down]))
    assert tracker.meters_advanced <= before + 8.0  # at most the corridor it left from
    assert tracker.meters_advanced < 60.0  # nowhere near the second leg (> 110 m)


def test_bridge_crossing_stays_on_the_local_pass() -> None:
    # a figure-eight-like line that passes over its own start 8 m higher
    t = np.arange(0, 2 * np.pi, 0.5 / 60)
    line = np.stack([60 * np.sin(t), 4 - 4 * np.cos(t), 60 * np.sin(t) * np.cos(t)], 1)
    track = Track("eight", line, half_width=6.0)
    tracker = ZoneTracker(track)
    drive(tracker, track.centre[::2])
    assert tracker.meters_advanced == pytest.approx(track.finish_s_m, abs=0.5)
