"""Where a best lap loses time to the map's limit: the lap driven again beside the racing line's, section by section.

Both laps are driven in the simulator (deterministic, no start noise) and sampled every 50 ms step: the race time,
the metres advanced along the reference line and the speed. The time each lap first reaches every ``every_m``
metres gives the gap to the limit there, and the gap *gained* over each section shows the corners where the time
goes (a late brake, a wall, a slow exit) as against time lost evenly (a lower top speed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hairpin.config.sim import EnvConfig, ExpertConfig
from hairpin.sim.race import RaceSim
from hairpin.sim.track import Track

__all__ = ["LapGap", "LapTrace", "SectionGap", "best_lap_gaps", "lap_gap", "trace_limit", "trace_ticks"]


@dataclass(frozen=True)
class LapTrace:
    """One lap sampled every step: race time (s), metres along the reference line and speed (m/s)."""

    time_s: np.ndarray
    metres: np.ndarray
    speed: np.ndarray
    finished: bool
    race_time_ms: int

    def _arrivals(self, metres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The furthest point reached by each step, and the first step that reached each of ``metres`` (the number
        of steps where none did)."""
        reached = np.maximum.accumulate(self.metres)
        return reached, np.searchsorted(reached, metres, side="left")

    def time_at(self, metres: np.ndarray) -> np.ndarray:
        """The race time at which the car first reached each of ``metres`` (NaN where it never did)."""
        reached, index = self._arrivals(metres)
        inside = index < reached.size
        index = np.minimum(index, reached.size - 1)
        before = np.maximum(index - 1, 0)
        span = reached[index] - reached[before]
        share = np.where(span > 0, (metres - reached[before]) / np.where(span > 0, span, 1.0), 1.0)
        times = self.time_s[before] + np.clip(share, 0.0, 1.0) * (self.time_s[index] - self.time_s[before])
        return np.where(inside, times, np.nan)

    def speed_at(self, metres: np.ndarray) -> np.ndarray:
        """The speed at the step that first reached each of ``metres`` (NaN where it never did)."""
        reached, index = self._arrivals(metres)
        return np.where(index < reached.size, self.speed[np.minimum(index, reached.size - 1)], np.nan)


class _Recorder:
    """Samples car 0 of a simulator after every step."""

    def __init__(self, sim: RaceSim) -> None:
        self.rows: list[tuple[float, float, float]] = []
        self(sim)

    def __call__(self, sim: RaceSim) -> None:
        info = sim.info(0)
        self.rows.append((float(info["race_time_ms"]) / 1000.0, float(info["meters_advanced"]), float(info["speed"])))

    def trace(self, sim: RaceSim) -> LapTrace:
        rows = np.array(self.rows, np.float64)
        info = sim.info(0)
        return LapTrace(rows[:, 0], rows[:, 1], rows[:, 2], bool(info["finished"]), int(info["race_time_ms"]))


def _simulator(env: EnvConfig, track: Track) -> RaceSim:
    return RaceSim(env.model_copy(update={"start_noise": 0.0}), [track])


def trace_ticks(env: EnvConfig, track: Track, tick_actions: np.ndarray) -> LapTrace:
    """Drive ``tick_actions`` (K,) from the start line until the race ends or the actions do."""
    from hairpin.actions import ACTION_KEYS

    sim = _simulator(env, track)
    sim.reset_cars([0], np.random.default_rng(0))
    recorder = _Recorder(sim)
    for step in np.asarray(tick_actions).reshape(-1, env.physics.ticks_per_step):
        keys = ACTION_KEYS[step]
        result = sim.step_ticks(keys[None], keys[-1][None])
        recorder(sim)
        if result.terminated[0] or result.truncated[0]:
            break
    return recorder.trace(sim)


def trace_limit(env: EnvConfig, track: Track) -> LapTrace:
    """The racing line's lap, as ``hairpin.rl.limits`` computes the limit (default line and expert settings)."""
    from hairpin.config.sim import RacingLineConfig
    from hairpin.sim.expert import drive_lap
    from hairpin.sim.racing_line import line_driver, racing_line

    line = racing_line(track, env)
    driver = line_driver(track, env.physics, line, ExpertConfig(noise=0.0), RacingLineConfig())
    sim = _simulator(env, track)
    sim.reset_cars([0], np.random.default_rng(0))  # drive_lap starts from this same place: there is no start noise
    recorder = _Recorder(sim)
    drive_lap(sim, driver, on_step=recorder)
    return recorder.trace(sim)


@dataclass(frozen=True)
class SectionGap:
    """One section of the map, ending at ``metres``: the limit's time there, the gap and the gap gained over it."""

    metres: float
    limit_s: float
    gap_s: float
    gained_s: float
    limit_speed: float
    lap_speed: float


@dataclass(frozen=True)
class LapGap:
    """A lap against the limit, section by section."""

    map: str
    lap_ms: int
    limit_ms: int
    finished: bool
    sections: list[SectionGap]

    @property
    def ratio(self) -> float:
        return self.lap_ms / self.limit_ms

    def worst(self, count: int) -> list[SectionGap]:
        """The ``count`` sections where the lap lost most time, worst first."""
        return sorted(self.sections, key=lambda s: -s.gained_s if np.isfinite(s.gained_s) else 0.0)[:count]

    def to_json(self) -> dict[str, Any]:
        return {
            "map": self.map,
            "lap_ms": self.lap_ms,
            "limit_ms": self.limit_ms,
            "ratio": round(self.ratio, 4),
            "finished": self.finished,
            "sections": [
                {k: (None if not np.isfinite(v) else round(float(v), 3)) for k, v in s.__dict__.items()}
                for s in self.sections
            ],
        }


def lap_gap(name: str, lap: LapTrace, limit: LapTrace, every_m: float) -> LapGap:
    """``lap`` against ``limit`` every ``every_m`` metres, up to the end of the limit's lap."""
    if every_m <= 0:
        raise ValueError(f"every_m must be positive, got {every_m}")
    end = float(np.max(limit.metres))
    if lap.finished:  # both cross the finish line, each overshooting it by its own last step
        end = min(end, float(np.max(lap.metres)))
    marks = np.append(np.arange(every_m, end, every_m), end)
    limit_t, lap_t = limit.time_at(marks), lap.time_at(marks)
    gaps = lap_t - limit_t
    gained = np.diff(np.concatenate([[0.0], gaps]))
    limit_v, lap_v = limit.speed_at(marks), lap.speed_at(marks)
    sections = [
        SectionGap(float(m), float(t), float(g), float(d), float(lv), float(v))
        for m, t, g, d, lv, v in zip(marks, limit_t, gaps, gained, limit_v, lap_v, strict=True)
    ]
    return LapGap(name, lap.race_time_ms, limit.race_time_ms, lap.finished, sections)


def best_lap_gaps(runs: list[Path], every_m: float, map_name: str | None = None) -> list[tuple[Path, LapGap]]:
    """Each run's best race per map (or on ``map_name`` only) against the map's limit."""
    from hairpin.analysis.errors import AnalysisError
    from hairpin.data.replay import read_best_races

    gaps = []
    limits: dict[str, LapTrace] = {}
    for run in runs:
        env, races = read_best_races([run])
        if env.backend != "sim":
            raise AnalysisError(f"{run}: a {env.backend} run; its laps cannot be driven again in the simulator")
        for race in races:
            if map_name is not None and race.map.name != map_name:
                continue
            key = f"{race.map.source.load}:{race.map.name}:{env.model_dump_json()}"  # runs may differ in physics
            if key not in limits:
                limits[key] = trace_limit(env, race.map.track)
            lap = trace_ticks(env, race.map.track, race.tick_actions)
            gaps.append((run, lap_gap(race.map.name, lap, limits[key], every_m)))
    return gaps
