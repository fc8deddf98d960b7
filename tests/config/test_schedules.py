"""Tests of hairpin.config.schedules: hand-computed values of each mode, range ends, scaling, errors."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from hairpin.config import ConfigModel, Schedule


class LearningConfig(ConfigModel):
    """A config with a schedule field, as the RL config has."""

    lr_schedule: Schedule = Schedule(points=((0, 1e-3),))


def test_linear_interpolates_between_points() -> None:
    schedule = Schedule(points=((0, 1.0), (100, 0.0), (300, 1.0)))
    assert schedule.value(0) == 1.0
    assert schedule.value(25) == pytest.approx(0.75)
    assert schedule.value(100) == 0.0
    assert schedule.value(200) == pytest.approx(0.5)


def test_exponential_interpolates_in_log_space() -> None:
    schedule = Schedule(points=((0, 1e-2), (100, 1e-4)), mode="exponential")
    assert schedule.value(50) == pytest.approx(1e-3)  # geometric mean of 1e-2 and 1e-4
    assert schedule.value(25) == pytest.approx(10**-2.5)
    assert schedule.value(100) == pytest.approx(1e-4)


def test_staircase_holds_the_last_point_reached() -> None:
    schedule = Schedule(points=((0, 1.0), (100, 0.5), (200, 0.25)), mode="staircase")
    assert schedule.value(0) == 1.0
    assert schedule.value(99.9) == 1.0
    assert schedule.value(100) == 0.5
    assert schedule.value(199) == 0.5
    assert schedule.value(200) == 0.25


@pytest.mark.parametrize("mode", ["linear", "exponential", "staircase"])
def test_constant_before_first_and_after_last_point(mode: str) -> None:
    schedule = Schedule(points=((10, 2.0), (20, 4.0)), mode=mode)
    assert schedule.value(-5) == 2.0
    assert schedule.value(0) == 2.0
    assert schedule.value(20) == 4.0
    assert schedule.value(1e9) == 4.0


def test_single_point_is_constant() -> None:
    schedule = Schedule(points=((500, 0.3),))
    assert [schedule.value(step) for step in (0, 500, 1000)] == [0.3, 0.3, 0.3]


def test_scaled_multiplies_steps_and_keeps_values_and_mode() -> None:
    schedule = Schedule(points=((0, 1.0), (100, 0.1)), mode="exponential")
    faster = schedule.scaled(0.5)
    assert faster.points == ((0, 1.0), (50, 0.1))
    assert faster.mode == "exponential"
    assert faster.value(25) == pytest.approx(schedule.value(50))
    with pytest.raises(ValueError, match="speed must be > 0"):
        schedule.scaled(0)


@pytest.mark.parametrize("points", [[[0, 1.0], [1000, 0.5], [500, 0.1]], [[0, 1.0], [0, 0.5]]])
def test_steps_must_increase(points: list[list[float]]) -> None:
    with pytest.raises(ValidationError, match="schedule steps must increase"):
        Schedule.model_validate(points)


def test_steps_error_names_the_steps() -> None:
    with pytest.raises(ValidationError, match="1000 then 500"):
        Schedule.model_validate([[0, 1.0], [1000, 0.5], [500, 0.1]])


def test_needs_at_least_one_point() -> None:
    with pytest.raises(ValidationError, match="at least one"):
        Schedule.model_validate([])


@pytest.mark.parametrize("bad_value", [0.0, -1.0])
def test_exponential_values_must_be_positive(bad_value: float) -> None:
    with pytest.raises(ValidationError, match="exponential schedule values must be > 0"):
        Schedule.model_validate({"points": [[0, 1.0], [100, bad_value]], "mode": "exponential"})
    Schedule.model_validate({"points": [[0, 1.0], [100, bad_value]], "mode": "linear"})


def test_non_finite_points_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Schedule.model_validate([[0, 1.0], [math.nan, 0.5]])


def test_field_accepts_bare_points_as_linear() -> None:
    cfg = LearningConfig.model_validate({"lr_schedule": [[0, 1e-3], [100000, 1e-4]]})
    assert cfg.lr_schedule == Schedule(points=((0, 1e-3), (100000, 1e-4)), mode="linear")


def test_field_accepts_mapping_with_mode() -> None:
    cfg = LearningConfig.model_validate({"lr_schedule": {"points": [[0, 1e-3], [10, 1e-4]], "mode": "exponential"}})
    assert cfg.lr_schedule.mode == "exponential"


def test_field_rejects_unknown_mode() -> None:
    with pytest.raises(ValidationError):
        LearningConfig.model_validate({"lr_schedule": {"points": [[0, 1.0]], "mode": "cosine"}})


def test_serialises_to_the_plain_form() -> None:
    linear = LearningConfig.model_validate({"lr_schedule": [[0, 1e-3], [100000, 1e-4]]})
    assert linear.model_dump() == {"lr_schedule": [[0, 1e-3], [100000, 1e-4]]}
    exponential = LearningConfig.model_validate({"lr_schedule": {"points": [[0, 1.0]], "mode": "exponential"}})
    assert exponential.model_dump() == {"lr_schedule": {"points": [[0, 1.0]], "mode": "exponential"}}
    assert LearningConfig.model_validate(exponential.model_dump()) == exponential
