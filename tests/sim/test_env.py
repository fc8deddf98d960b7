from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hairpin  # noqa: F401  (registers hairpin/Race-v0)
from hairpin.sim.env import RaceEnv


@pytest.mark.parametrize("image_size", [32, 64])
def test_check_env_passes(image_size: int) -> None:
    env = gym.make("hairpin/Race-v0", image_size=image_size, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    obs, _ = env.reset(seed=0)
    assert obs["image"].shape == (1, image_size, image_size) and obs["image"].dtype == np.uint8
    assert obs["floats"].shape == (184,) and obs["floats"].dtype == np.float32
    assert env.render().shape == (256, 256, 3)


def rollout(seed: int, steps: int = 300, **kwargs: object) -> tuple[np.ndarray, list[float]]:
    env = RaceEnv(start_noise=1.0, **kwargs)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    floats, rewards = [], []
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        floats.append(obs["floats"])
        rewards.append(reward)
        if terminated or truncated:
            env.reset()
    return np.array(floats), rewards


def test_same_seed_same_trajectory_other_seed_differs() -> None:
    a, ra = rollout(7)
    b, rb = rollout(7)
    c, _ = rollout(8)
    np.testing.assert_array_equal(a, b)
    assert ra == rb
    assert not np.array_equal(a, c)


def test_reward_is_time_cost_plus_progress() -> None:
    env = RaceEnv()
    env.reset(seed=0)
    total, last = 0.0, {}
    for _ in range(40):
        _, reward, _, _, info = env.step(0)
        total += reward
        last = info
    expected = -6 / 5000 * last["race_time_ms"] + 5 / 500 * last["meters_advanced"]
    assert total == pytest.approx(expected, rel=1e-6)
    assert last["race_time_ms"] == 40 * 50


def test_standing_still_is_cut_off_after_two_seconds() -> None:
    env = RaceEnv()
    env.reset(seed=0)
    steps, truncated, terminated = 0, False, False
    while not (truncated or terminated) and steps < 100:
        _, _, terminated, truncated, info = env.step(3)  # nothing
        steps += 1
    assert not terminated and truncated
    assert info["race_time_ms"] == 2000
    assert steps == 40


@pytest.mark.parametrize(
    ("cutoffs", "stalled"),
    [({"no_progress_cutoff_s": 1.0}, True), ({"time_limit_s": 1.0, "no_progress_cutoff_s": 100.0}, False)],
)
def test_a_race_says_whether_it_was_cut_off_for_lack_of_progress(cutoffs: dict[str, float], stalled: bool) -> None:
    env = RaceEnv(**cutoffs)
    env.reset(seed=0)
    results = [env.race.step(np.array([3])) for _ in range(20)]  # "nothing" for 1 s
    assert [bool(r.truncated[0]) for r in results] == [False] * 19 + [True]
    assert [bool(r.stalled[0]) for r in results] == [False] * 19 + [stalled]


def test_action_out_of_range_is_an_error() -> None:
    env = RaceEnv()
    env.reset(seed=0)
    for bad in (12, -1, 2.5, "accel"):
        with pytest.raises(ValueError, match=r"action must be an integer in \[0, 12\)"):
            env.step(bad)  # type: ignore[arg-type]


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(ValueError, match="grip_x"):
        RaceEnv(grip_x=3)
    with pytest.raises(ValueError, match="unknown map 'nowhere'"):
        RaceEnv(map="nowhere")


def test_reset_option_changes_map() -> None:
    env = RaceEnv(map="sprint")
    env.reset(seed=0, options={"map": "technical"})
    assert env.track.name == "technical"
