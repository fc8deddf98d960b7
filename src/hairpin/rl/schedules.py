"""Every schedule of a run, indexed by ``cumul_number_frames_played``, with ``global_schedule_speed`` applied once."""

from __future__ import annotations

from typing import NamedTuple

from hairpin.config.rl import RLConfig
from hairpin.config.schedules import Schedule

__all__ = ["RunSchedules", "ScheduleValues"]


class ScheduleValues(NamedTuple):
    """The scheduled values at one point of a run."""

    learning_rate: float
    gamma: float
    epsilon: float
    epsilon_boltzmann: float
    memory_size: int
    batch_size: int


class RunSchedules:
    """Evaluates the run's schedules; every step value is multiplied by ``global_schedule_speed``."""

    def __init__(self, cfg: RLConfig) -> None:
        speed = cfg.schedules.global_schedule_speed
        self.lr = cfg.schedules.lr_schedule.scaled(speed)
        self.gamma = cfg.schedules.gamma_schedule.scaled(speed)
        self.epsilon = cfg.exploration.epsilon_schedule.scaled(speed)
        self.epsilon_boltzmann = cfg.exploration.epsilon_boltzmann_schedule.scaled(speed)
        self.memory_size = cfg.memory.memory_size_schedule.scaled(speed)
        batch_size = cfg.iqn.batch_size_schedule or Schedule(points=((0.0, float(cfg.iqn.batch_size)),))
        self.batch_size = batch_size.scaled(speed)
        self.capacity_max = cfg.memory.capacity_max
        self.tensorboard_suffix = [
            (round(step * speed), suffix) for step, suffix in cfg.schedules.tensorboard_suffix_schedule
        ]

    def at(self, frames: float) -> ScheduleValues:
        """All scheduled values after ``frames`` frames."""
        return ScheduleValues(
            learning_rate=self.lr.value(frames),
            gamma=self.gamma.value(frames),
            epsilon=self.epsilon.value(frames),
            epsilon_boltzmann=self.epsilon_boltzmann.value(frames),
            memory_size=min(self.capacity_max, max(2, round(self.memory_size.value(frames)))),
            batch_size=max(1, round(self.batch_size.value(frames))),
        )
