"""Exploration races that start anywhere on the map, so every part of it is practised from the first minutes.

Races that all start on the start line reach a corner only once the agent can drive every corner before it; the
later part of a map is then learned minutes after the first. A share of exploration races (``exploration.
random_start_share``) instead starts at a place drawn uniformly along the line, on the racing line's lateral
offset (with some spread) and at a fraction of the racing line's speed there, so the car arrives at the next corner
at a speed a good lap would have. Their race times mean nothing as laps: the learner trains on them and counts their
frames, but leaves them out of the race statistics. Greedy (eval) races always start on the start line.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hairpin.config.rl import RLConfig
from hairpin.sim.race import StartPlace
from hairpin.sim.refline import POINT_SPACING_M
from hairpin.sim.track import Track

__all__ = ["RandomStarts"]

FINISH_MARGIN_M = 60.0
"""No race starts closer to the finish than this (it would be over before it taught anything)."""
LATERAL_SPREAD_M = 1.5
"""Starts are spread this far either side of the racing line."""
MAX_START_SPEED = 75.0
"""Cap of the start speed (the racing line aims higher than the car reaches on long straights)."""


class RandomStarts:
    """Draws start places on the maps of a run (in the order of ``tracks``) from their racing lines."""

    def __init__(self, cfg: RLConfig, tracks: Sequence[Track]) -> None:
        from hairpin.sim.racing_line import racing_line

        explo = cfg.exploration
        self.share = explo.random_start_share
        self.speed_range = explo.random_start_speed
        self._lines = [racing_line(track, cfg.env) if self.share > 0 else None for track in tracks]
        self._tracks = list(tracks)

    def draw(self, track_index: int, rng: np.random.Generator) -> StartPlace | None:
        """A start place on track ``track_index`` with probability ``share``; None: the start line."""
        if self.share <= 0 or rng.random() >= self.share:
            return None
        track, line = self._tracks[track_index], self._lines[track_index]
        assert line is not None
        last = track.finish_s_m - FINISH_MARGIN_M
        if last <= 0:
            return None
        s = rng.uniform(0.0, last)
        i = min(round(s / POINT_SPACING_M), track.n_points - 1)
        lateral = float(line.offset[i]) + rng.uniform(-LATERAL_SPREAD_M, LATERAL_SPREAD_M)
        lateral = float(np.clip(lateral, 1.0 - track.width_left[i], track.width_right[i] - 1.0))
        speed = rng.uniform(*self.speed_range) * min(float(line.speed[i]), MAX_START_SPEED)
        return StartPlace(s, lateral, speed)
