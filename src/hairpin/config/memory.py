"""Config of the replay memory: capacity schedule, replay ratio, n-step returns, prioritised replay, mini-races."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator, model_validator

from hairpin.config.base import ConfigModel, Probability, number_text
from hairpin.config.schedules import Schedule, schedule_values

__all__ = ["MemoryConfig"]


class MemoryConfig(ConfigModel):
    """The replay memory of the learner (``rl/buffer.py``). Sizes count transitions, one per 50 ms step."""

    memory_size_schedule: Annotated[Schedule, schedule_values("memory size (transitions)", ge=1)] = Schedule(
        points=((0, 50_000), (5_000_000, 1_000_000))
    )
    """Capacity of the train buffer in transitions, by frames played; when it shrinks the oldest are dropped."""
    memory_min_size: int = Field(20_000, ge=1)
    """No training before this many transitions were added; they do not count toward the replay ratio. At most the
    smallest capacity ``memory_size_schedule`` reaches."""
    buffer_test_ratio: float = Field(0.05, ge=0, lt=1)
    """Fraction of races (whole races, never single steps) held out in a test buffer for ``Training/loss_test``."""
    number_times_single_memory_is_used_before_discard: float = Field(32, gt=0)
    """Replay ratio: transitions trained on per transition added. Collectors wait when the learner falls behind."""
    n_steps: int = Field(3, ge=1)
    """n of the n-step return; shorter at the end of a race, of a chunk, or of a mini-race."""
    cut_n_step_at_exploration: bool = True
    """Cut the n-step return before the first non-greedy action after the first, as Linesight does (collectors
    store whether each action was the greedy one): no random action's outcome enters the greedy policy's target."""
    prioritized: bool = False
    """Prioritised replay (Schaul et al. 2016) on the per-sample loss; uniform when false."""
    prio_alpha: Probability = 0.6
    """Priority exponent α: P(i) ∝ (|δ_i| + ε)^α; 0 is uniform."""
    prio_beta: Probability = 1.0
    """Importance-weight exponent β: w_i ∝ (N·P(i))^−β, divided by the batch maximum; 1 corrects fully."""
    prio_epsilon: float = Field(2e-3, gt=0)
    """Added to |δ| so that no transition's priority is zero."""
    mini_race_duration_ms: int | None = Field(7000, gt=0)
    """Value horizon of the mini-race trick: each sampled transition gets a random time t into a mini-race of this
    length, written in the mini_race_time float, and is terminal when the mini-race ends within its n steps. This
    bounds the return, so γ may reach 1. None: whole-race returns, mini_race_time left as stored (0)."""
    mini_race_oversample_start_steps: int = Field(0, ge=0)
    """L of Linesight's draw of the mini-race time: t = max(|u| − z, 0), u uniform in [−(L − z), M + z), which
    gives the first L − 2z steps of the mini-race (the longest look ahead) two shares each. 0 (with
    ``mini_race_oversample_zero_steps`` 0): t uniform in [0, M). Linesight: 40."""
    mini_race_oversample_zero_steps: int = Field(0, ge=0)
    """z of that draw: t = 0, the only time used when acting, gets 2z + 1 shares. At most half of L. Linesight: 5."""
    step_ms: int = Field(50, gt=0)
    """Race time of one step (one decision), to turn mini-race steps into seconds."""
    shaping_per_m_from_line: float = Field(0.0, le=0)
    """Potential-based shaping (``rl/shaping.py``): the potential of an observation is this × its distance to the
    reference line, clipped to [shaping_min_m, shaping_max_m]; each sampled n-step reward gets discount · φ(s′) −
    φ(s). 0: off. Linesight: −0.1."""
    shaping_min_m: float = Field(2.0, ge=0)
    """Distances to the line below this count as this (no pull inside it)."""
    shaping_max_m: float = Field(25.0, gt=0)
    """Distances to the line above this count as this."""
    shaping_mini_race_time: bool = False
    """Shape with the race clock's reward over the rest of the mini-race as potential (``rl/shaping.py``): the values
    learnt leave out the clock's constant cost, which no action changes, and keep progress and finishing early.
    The greedy policy is unchanged; logged Q values are shifted by a constant. Needs ``mini_race_duration_ms``."""
    stall_is_terminal: bool = False
    """A race cut off for lack of progress (``env.no_progress_cutoff_s``) is terminal, the car valued as standing
    there until its mini-race ends (no more progress, the clock running), instead of bootstrapping from its own
    value, by which a car that waits forever looks as good as one that drives off a step later (``rl/nstep.py``).
    Needs ``mini_race_duration_ms``."""

    @field_validator("memory_min_size")
    @classmethod
    def _fits_the_buffer(cls, value: int, info: ValidationInfo) -> int:
        """memory_min_size within the smallest capacity the schedule reaches (the buffer could never hold it)."""
        schedule = info.data.get("memory_size_schedule")
        if schedule is None:  # the schedule itself is invalid and reported
            return value
        index, (step, size) = min(enumerate(schedule.points), key=lambda point: point[1][1])
        smallest = max(1, round(size))
        if value > smallest:
            raise ValueError(
                f"must be <= the smallest capacity of memory_size_schedule, {smallest} transitions (points[{index}], "
                f"step {number_text(step)}), or the buffer never holds memory_min_size transitions; lower "
                "memory_min_size or raise memory_size_schedule"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> MemoryConfig:
        """A mini-race of a whole number of steps, and an oversampling the draw can make."""
        if self.mini_race_duration_ms is not None and self.mini_race_duration_ms % self.step_ms:
            raise ValueError(
                f"mini_race_duration_ms={self.mini_race_duration_ms} is not a multiple of step_ms={self.step_ms}"
            )
        if self.shaping_mini_race_time and self.mini_race_duration_ms is None:
            raise ValueError("shaping_mini_race_time needs a mini-race: set mini_race_duration_ms or turn it off")
        if self.stall_is_terminal and self.mini_race_duration_ms is None:
            raise ValueError("stall_is_terminal needs a mini-race: set mini_race_duration_ms or turn it off")
        if self.shaping_min_m >= self.shaping_max_m:
            raise ValueError(f"shaping_min_m={self.shaping_min_m} must be below shaping_max_m={self.shaping_max_m}")
        start, zero = self.mini_race_oversample
        if 2 * zero > start:
            raise ValueError(
                f"mini_race_oversample_zero_steps={zero} is more than half of mini_race_oversample_start_steps={start}"
            )
        return self

    @property
    def capacity_max(self) -> int:
        """The largest capacity the schedule reaches: the size the buffer is allocated with."""
        return math.ceil(max(value for _, value in self.memory_size_schedule.points))

    def capacity(self, frames_played: float) -> int:
        """Capacity of the train buffer after ``frames_played`` frames."""
        return min(self.capacity_max, max(1, round(self.memory_size_schedule.value(frames_played))))

    @property
    def mini_race_steps(self) -> int | None:
        """The mini-race length in steps, or None when the trick is off."""
        if self.mini_race_duration_ms is None:
            return None
        return self.mini_race_duration_ms // self.step_ms

    @property
    def mini_race_oversample(self) -> tuple[int, int]:
        """(L, z) of the mini-race time draw (``nstep.mini_race_times``)."""
        return self.mini_race_oversample_start_steps, self.mini_race_oversample_zero_steps

    @property
    def step_s(self) -> float:
        """Race time of one step in seconds."""
        return self.step_ms / 1000.0
