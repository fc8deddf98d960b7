"""Piecewise schedules of a value over training steps, written in YAML as ``[[step, value], ...]``."""

from __future__ import annotations

import bisect
import math
from typing import Any, Literal

from pydantic import AfterValidator, FiniteFloat, model_serializer, model_validator

from hairpin.config.base import ConfigModel, number_text, outside, range_text

__all__ = ["Schedule", "ScheduleMode", "schedule_values"]

ScheduleMode = Literal["linear", "exponential", "staircase"]


class Schedule(ConfigModel):
    """Value as a function of step: constant before the first point and after the last, interpolated between.

    YAML accepts the bare points ``[[0, 1e-3], [100000, 1e-4]]`` (linear) or ``{points: [...], mode: ...}``,
    and the config is written back in the same plain form.
    """

    points: tuple[tuple[FiniteFloat, FiniteFloat], ...]
    """(step, value) pairs, steps strictly increasing."""
    mode: ScheduleMode = "linear"
    """linear; exponential (linear in log value, values > 0); staircase (value of the last point reached)."""

    @model_validator(mode="before")
    @classmethod
    def _accept_bare_points(cls, data: Any) -> Any:
        """Read a bare list of points as a linear schedule."""
        if isinstance(data, list | tuple):
            return {"points": data}
        return data

    @model_validator(mode="after")
    def _check_points(self) -> Schedule:
        """Require at least one point, increasing steps and, for exponential, positive values."""
        if not self.points:
            raise ValueError("schedule needs at least one [step, value] point")
        for index, ((step, _), (next_step, _)) in enumerate(zip(self.points, self.points[1:], strict=False)):
            if next_step <= step:
                raise ValueError(
                    f"schedule steps must increase: points[{index + 1}] (step {number_text(next_step)}) is not after "
                    f"points[{index}] (step {number_text(step)}): {number_text(step)} then {number_text(next_step)}"
                )
        if self.mode == "exponential":
            for index, (step, value) in enumerate(self.points):
                if value <= 0:
                    raise ValueError(
                        f"exponential schedule values must be > 0: {number_text(value)} at points[{index}] "
                        f"(step {number_text(step)})"
                    )
        return self

    @model_serializer(mode="plain")
    def _to_plain(self) -> list[list[int | float]] | dict[str, Any]:
        """Write the bare points for a linear schedule, else the mapping with its mode."""
        points = [[int(step) if step.is_integer() else step, value] for step, value in self.points]
        if self.mode == "linear":
            return points
        return {"points": points, "mode": self.mode}

    def value(self, step: float) -> float:
        """Value of the schedule at ``step``."""
        steps = [point_step for point_step, _ in self.points]
        after = bisect.bisect_right(steps, step)  # index of the first point strictly after step
        if after == 0:
            return self.points[0][1]
        if after == len(self.points) or self.mode == "staircase":
            return self.points[after - 1][1]
        (step0, value0), (step1, value1) = self.points[after - 1], self.points[after]
        fraction = (step - step0) / (step1 - step0)
        if self.mode == "exponential":
            return math.exp(math.log(value0) + fraction * (math.log(value1) - math.log(value0)))
        return value0 + fraction * (value1 - value0)

    def scaled(self, speed: float) -> Schedule:
        """The same schedule with every step multiplied by ``speed`` (``global_schedule_speed``)."""
        if speed <= 0:
            raise ValueError(f"schedule speed must be > 0, got {speed:g}")
        return Schedule(points=tuple((step * speed, value) for step, value in self.points), mode=self.mode)


def schedule_values(
    what: str, *, gt: float | None = None, ge: float | None = None, lt: float | None = None, le: float | None = None
) -> AfterValidator:
    """A validator for ``Annotated[Schedule, ...]``: every point's value within the bounds, ``what`` naming it.

    The value between two points lies between theirs and the value outside the points is the nearest point's, so
    checking the points checks every value the schedule takes.
    """
    allowed = range_text(gt=gt, ge=ge, lt=lt, le=le)

    def check(schedule: Schedule) -> Schedule:
        for index, (step, value) in enumerate(schedule.points):
            if outside(value, gt=gt, ge=ge, lt=lt, le=le):
                raise ValueError(
                    f"{what} must be {allowed}: {number_text(value)} at points[{index}] (step {number_text(step)})"
                )
        return schedule

    return AfterValidator(check)
