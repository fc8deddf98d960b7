from __future__ import annotations

import numpy as np

from hairpin.actions import ACTION_KEYS
from hairpin.config.sim import DriveConfig
from hairpin.data.maps import resolve_maps
from hairpin.data.record import episode_seed, record_expert
from hairpin.sim.race import RaceSim

CFG = DriveConfig.model_validate({"env": {"image_size": 32}, "expert": {"noise": 0.6}})
MAPS = resolve_maps([], generated=1, generator_seed=3, generated_blocks=6)


def test_episodes_do_not_depend_on_the_number_of_cars() -> None:
    one = list(record_expert(CFG.env, CFG.expert, MAPS, 3, seed=2, n_cars=1))
    three = list(record_expert(CFG.env, CFG.expert, MAPS, 3, seed=2, n_cars=3))
    assert [e.seed for e in one] == [episode_seed(2, j) for j in range(3)] == [e.seed for e in three]
    for a, b in zip(one, three, strict=True):
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.floats, b.floats)
        np.testing.assert_array_equal(a.tick_actions, b.tick_actions)
    assert len({e.n_ticks for e in one}) > 1, "noise should vary the episodes"


def test_a_recorded_episode_replays_exactly_in_a_fresh_sim() -> None:
    (episode,) = record_expert(CFG.env, CFG.expert, MAPS, 1, seed=5, n_cars=2)
    assert episode.terminated and episode.n_ticks == 5 * episode.n_frames
    sim = RaceSim(CFG.env, [MAPS[0].track])
    sim.reset_cars([0], np.random.default_rng(0))
    for i, step in enumerate(episode.timeline.reshape(-1, 5)):
        np.testing.assert_array_equal(sim.floats[0], episode.floats[i])
        np.testing.assert_array_equal(sim.image[0], episode.images[i])
        keys = ACTION_KEYS[step]
        sim.step_ticks(keys[None], keys[-1][None])
    np.testing.assert_array_equal(sim.floats[0], episode.floats[-1])
    assert sim.info(0)["finished"] and sim.info(0)["race_time_ms"] == episode.final_race_time_ms


def test_capture_every_steps_keeps_fewer_frames_of_the_same_race() -> None:
    (full,) = record_expert(CFG.env, CFG.expert, MAPS, 1, seed=5)
    (sparse,) = record_expert(CFG.env, CFG.expert, MAPS, 1, seed=5, capture_every_steps=3)
    np.testing.assert_array_equal(sparse.timeline, full.timeline)
    np.testing.assert_array_equal(sparse.floats[:-1], full.floats[:-1:3])
    np.testing.assert_array_equal(sparse.floats[-1], full.floats[-1])
    assert sparse.n_frames == -(-full.n_frames // 3)
    np.testing.assert_allclose(sparse.rewards.sum(), full.rewards.sum(), rtol=1e-5)
