from __future__ import annotations

import numpy as np
import pytest

from hairpin.config.sim import EnvConfig, ExpertConfig
from hairpin.sim.expert import Expert, drive_lap, reference_lap
from hairpin.sim.maps import BUILTIN_MAPS, load_map
from hairpin.sim.race import RaceSim
from hairpin.sim.track import Track

ENV = EnvConfig(image_size=32)


@pytest.mark.parametrize("name", list(BUILTIN_MAPS))
def test_expert_finishes_every_builtin_map(name: str) -> None:
    lap = reference_lap(load_map(name), ENV)
    assert lap.finished
    if name == "sprint":  # the default map plays the role of a short first map
        assert 20_000 <= lap.race_time_ms <= 30_000


def test_expert_finishes_the_real_line(hockolicious_path) -> None:  # type: ignore[no-untyped-def]
    track = Track.from_file(hockolicious_path)
    lap = reference_lap(track, ENV)
    assert lap.finished
    assert lap.race_time_ms < 200_000


def test_reference_lap_is_repeatable_and_exact_to_the_tick() -> None:
    a = reference_lap(load_map("technical"), ENV)
    b = reference_lap(load_map("technical"), ENV)
    assert a.race_time_ms == b.race_time_ms
    np.testing.assert_array_equal(a.keys, b.keys)


def test_noisy_expert_varies_and_still_finishes() -> None:
    track = load_map("sprint")
    sim = RaceSim(ENV, [track])
    expert = Expert(track, ENV.physics, ExpertConfig(noise=1.0))
    laps = [drive_lap(sim, expert, seed=seed) for seed in range(4)]
    assert sum(lap.finished for lap in laps) >= 3
    times = {lap.race_time_ms for lap in laps}
    assert len(times) == 4
    precise = reference_lap(track, ENV).race_time_ms
    assert min(times) >= precise * 0.97


def test_expert_changes_inputs_within_a_step() -> None:
    lap = reference_lap(load_map("technical"), ENV)
    per_step = lap.keys[: len(lap.keys) // 5 * 5].reshape(-1, 5, 4)
    changed_within = (per_step != per_step[:, :1]).any(axis=(1, 2))
    assert changed_within.any()
