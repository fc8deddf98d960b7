from __future__ import annotations

import numpy as np

from hairpin.sim.env import RaceEnv
from hairpin.sim.vector_env import RaceVectorEnv


def test_spaces_and_batched_observations() -> None:
    envs = RaceVectorEnv(4, maps=["sprint", "technical", "sprint", "grand-tour"], image_size=32)
    obs, infos = envs.reset(seed=0)
    assert obs["image"].shape == (4, 1, 32, 32) and obs["floats"].shape == (4, 184)
    assert envs.observation_space.contains(obs)
    assert envs.single_action_space.n == 12
    assert [envs.sim.track_of(c).name for c in range(4)] == ["sprint", "technical", "sprint", "grand-tour"]
    assert infos["race_time_ms"].tolist() == [0, 0, 0, 0]


def test_each_car_matches_a_single_env() -> None:
    envs = RaceVectorEnv(3, maps="technical", image_size=32)
    single = RaceEnv(map="technical", image_size=32)
    envs.reset(seed=0)
    single.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(60):
        actions = rng.integers(0, 12, 3)
        obs, rewards, *_ = envs.step(actions)
        s_obs, s_reward, *_ = single.step(int(actions[1]))
        np.testing.assert_array_equal(obs["floats"][1], s_obs["floats"])
        np.testing.assert_array_equal(obs["image"][1], s_obs["image"])
        assert rewards[1] == s_reward


def test_same_step_autoreset_keeps_final_observation() -> None:
    envs = RaceVectorEnv(2, image_size=32, no_progress_cutoff_s=0.5)
    envs.reset(seed=0)
    nothing = np.array([3, 0])
    for _ in range(20):
        _, _, terminated, truncated, infos = envs.step(nothing)
        if truncated[0]:
            break
    assert truncated.tolist() == [True, False] and not terminated.any()
    assert infos["_final_obs"].tolist() == [True, False]
    assert infos["final_info"]["race_time_ms"][0] == 500
    assert infos["race_time_ms"][0] == 0  # car 0 already on its next race
    assert infos["race_time_ms"][1] == 500
