from __future__ import annotations

import pytest

from hairpin.config.rl import RLConfig
from hairpin.rl.schedules import RunSchedules


def test_global_schedule_speed_stretches_every_schedule() -> None:
    tree = {
        "schedules": {
            "lr_schedule": [[0, 1.0], [100, 0.2]],
            "gamma_schedule": [[0, 0.5], [100, 1.0]],
            "tensorboard_suffix_schedule": [[0, ""], [100, "_2"]],
            "global_schedule_speed": 2.0,
        },
        "exploration": {
            "epsilon_schedule": [[0, 1.0], [100, 0.0]],
            "epsilon_boltzmann_schedule": [[0, 0.2], [100, 0.0]],
        },
        "memory": {"memory_size_schedule": [[0, 1000], [100, 3000]], "memory_min_size": 500},
    }
    schedules = RunSchedules(RLConfig.model_validate(tree))
    values = schedules.at(100)  # half-way once every step is doubled
    assert values.learning_rate == pytest.approx(0.6)
    assert values.gamma == pytest.approx(0.75)
    assert values.epsilon == pytest.approx(0.5)
    assert values.epsilon_boltzmann == pytest.approx(0.1)
    assert values.memory_size == 2000
    assert schedules.tensorboard_suffix == [(0, ""), (200, "_2")]
    assert schedules.at(10_000).learning_rate == pytest.approx(0.2)


def test_batch_size_follows_its_schedule_and_defaults_to_batch_size() -> None:
    fixed = RunSchedules(RLConfig.model_validate({"iqn": {"batch_size": 96}}))
    assert fixed.at(0).batch_size == fixed.at(10**9).batch_size == 96
    tree = {
        "iqn": {"batch_size": 96, "batch_size_schedule": {"points": [[0, 512], [150, 256]], "mode": "staircase"}},
        "schedules": {"global_schedule_speed": 2.0},
    }
    scheduled = RunSchedules(RLConfig.model_validate(tree))
    assert [scheduled.at(frames).batch_size for frames in (0, 299, 300, 10**6)] == [512, 512, 256, 256]


def test_a_batch_size_below_one_is_refused_with_its_point() -> None:
    with pytest.raises(ValueError, match=r"batch size must be >= 1: 0 at points\[1\]"):
        RLConfig.model_validate({"iqn": {"batch_size_schedule": [[0, 64], [100, 0]]}})
