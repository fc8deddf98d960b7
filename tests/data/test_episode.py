from __future__ import annotations

import numpy as np
import pytest

from hairpin.data.episode import PAD, Episode, EpisodeBuilder


def drive(capture: int, steps: int) -> Episode:
    """A fake race: observation k has all pixels k and floats [k]; step s plays ticks 10s..10s+1, reward s."""
    obs = lambda k: (np.full((1, 2, 2), k, np.uint8), np.array([k], np.float32))  # noqa: E731
    builder = EpisodeBuilder(
        "m", 7, capture_every_steps=capture, ticks_per_step=2, image=obs(0)[0], floats=obs(0)[1], race_time_ms=0
    )
    for s in range(steps):
        builder.step(np.array([s % 12, (s + 1) % 12], np.int8), float(s), *obs(s + 1), race_time_ms=20 * (s + 1))
    return builder.finish(
        terminated=True, truncated=False, image=obs(steps)[0], floats=obs(steps)[1], race_time_ms=20 * steps
    )


def test_every_step_keeps_every_observation() -> None:
    ep = drive(capture=1, steps=3)
    assert ep.n_frames == 3
    np.testing.assert_array_equal(ep.floats[:, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(ep.actions, [0, 1, 2])
    np.testing.assert_array_equal(ep.rewards, [0, 1, 2])
    np.testing.assert_array_equal(ep.tick_actions, [[0, 1], [1, 2], [2, 3], [PAD, PAD]])
    np.testing.assert_array_equal(ep.frame_tick, [0, 2, 4, 6])
    np.testing.assert_array_equal(ep.timeline, [0, 1, 1, 2, 2, 3])
    assert ep.n_ticks == 6 and ep.final_race_time_ms == 60


def test_capture_every_two_steps_sums_rewards_and_keeps_the_final_observation() -> None:
    ep = drive(capture=2, steps=5)  # frames before steps 0, 2, 4, then the final observation after step 4
    np.testing.assert_array_equal(ep.floats[:, 0], [0, 2, 4, 5])
    np.testing.assert_array_equal(ep.actions, [0, 2, 4])
    np.testing.assert_array_equal(ep.rewards, [0 + 1, 2 + 3, 4])
    np.testing.assert_array_equal(ep.frame_tick, [0, 4, 8, 10])
    np.testing.assert_array_equal(ep.race_time_ms, [0, 40, 80, 100])
    np.testing.assert_array_equal(ep.tick_actions[2], [4, 5, PAD, PAD])  # the last step is short
    assert (ep.tick_actions[3] == PAD).all()
    assert ep.n_ticks == 10


def test_an_episode_needs_a_step() -> None:
    builder = EpisodeBuilder(
        "m",
        0,
        capture_every_steps=1,
        ticks_per_step=2,
        image=np.zeros((1, 2, 2), np.uint8),
        floats=np.zeros(1, np.float32),
        race_time_ms=0,
    )
    with pytest.raises(ValueError, match="before its first step"):
        builder.finish(
            terminated=False,
            truncated=True,
            image=np.zeros((1, 2, 2), np.uint8),
            floats=np.zeros(1, np.float32),
            race_time_ms=0,
        )
