"""Tests of hairpin.rl.buffer: n-step sampling, race boundaries, storage, capacity changes, mini-races, prioritised
replay, the test split and the replay-ratio accounting."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from hairpin.config.memory import MemoryConfig
from hairpin.rl.buffer import ReplayBuffer, ReplayRatio, SplitMemory

SHAPE = (1, 4, 4)
F = 4  # floats: [mini_race_time, position in race, race tag, spare]
POS, TAG = 1, 2


def race(T: int, tag: int = 0, rewards: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """A race of T steps whose frames and floats say their position and race tag."""
    pos = np.arange(T + 1)
    frames = np.broadcast_to((pos % 256).astype(np.uint8)[:, None, None, None], (T + 1, *SHAPE)).copy()
    floats = np.zeros((T + 1, F), np.float32)
    floats[:, POS], floats[:, TAG] = pos, tag
    actions = pos[:T] % 12
    if rewards is None:
        rewards = np.arange(1, T + 1, dtype=np.float32)
    return frames, floats, actions, rewards


def buffer(capacity: int = 100, n_steps: int = 3, **kwargs: object) -> ReplayBuffer:
    return ReplayBuffer(capacity, SHAPE, F, n_steps=n_steps, **kwargs)  # type: ignore[arg-type]


def by_position(batch_pos: np.ndarray, values: np.ndarray) -> dict[int, float]:
    """The (single) value seen for each position; asserts every sample of a position agrees."""
    out: dict[int, float] = {}
    for p, v in zip(batch_pos.tolist(), values.tolist(), strict=True):
        assert out.setdefault(int(p), v) == pytest.approx(v)
    return out


def test_hand_computed_n_step_transitions_of_a_finished_race() -> None:
    memory = buffer()
    assert memory.add_race(*race(4), terminated=True) == 4
    batch = memory.sample(400, 0.5, np.random.default_rng(0))
    pos = batch.floats[:, POS].astype(int)
    assert set(pos.tolist()) == {0, 1, 2, 3}  # every transition, never the final observation
    assert by_position(pos, batch.reward) == {0: 2.75, 1: 4.5, 2: 5.0, 3: 4.0}
    # Step 0: discount γ³, next obs = obs 3; the others reach the finish: the last transition is kept, terminal.
    assert by_position(pos, batch.discount) == {0: 0.125, 1: 0.0, 2: 0.0, 3: 0.0}
    assert by_position(pos, batch.next_floats[:, POS]) == {0: 3, 1: 4, 2: 4, 3: 4}
    np.testing.assert_array_equal(batch.next_img[:, 0, 0, 0], batch.next_floats[:, POS])
    np.testing.assert_array_equal(batch.img[:, 0, 0, 0], pos)
    np.testing.assert_array_equal(batch.action, pos % 12)
    np.testing.assert_array_equal(batch.weight, 1.0)


def test_batch_shapes_and_dtypes() -> None:
    memory = buffer()
    memory.add_race(*race(10), terminated=False)
    batch = memory.sample(7, 0.9, np.random.default_rng(0))
    shapes = {name: (value.shape, value.dtype) for name, value in batch._asdict().items()}
    assert shapes == {
        "img": ((7, *SHAPE), np.uint8),
        "floats": ((7, F), np.float32),
        "action": ((7,), np.int64),
        "reward": ((7,), np.float32),
        "discount": ((7,), np.float32),
        "next_img": ((7, *SHAPE), np.uint8),
        "next_floats": ((7, F), np.float32),
        "weight": ((7,), np.float32),
        "index": ((7,), np.int64),
    }


def test_truncated_race_tail_bootstraps_from_the_final_observation() -> None:
    memory = buffer()
    memory.add_race(*race(4), terminated=False)
    batch = memory.sample(400, 0.5, np.random.default_rng(1))
    pos = batch.floats[:, POS].astype(int)
    assert by_position(pos, batch.discount) == {0: 0.125, 1: 0.125, 2: 0.25, 3: 0.5}
    assert by_position(pos, batch.next_floats[:, POS]) == {0: 3, 1: 4, 2: 4, 3: 4}


def test_transitions_never_cross_race_boundaries() -> None:
    rng = np.random.default_rng(2)
    memory = buffer(capacity=300, n_steps=5)
    for tag in range(200):  # many laps of the ring, races of 1 to 40 steps
        memory.add_race(*race(int(rng.integers(1, 41)), tag), terminated=bool(rng.random() < 0.5))
        if tag % 10 == 9:
            batch = memory.sample(256, 0.9, rng)
            np.testing.assert_array_equal(batch.next_floats[:, TAG], batch.floats[:, TAG])
            steps = batch.next_floats[:, POS] - batch.floats[:, POS]
            assert steps.min() >= 1 and steps.max() <= 5
            race_id, position = memory.race_of(batch.index)
            np.testing.assert_array_equal(position, batch.floats[:, POS])
            np.testing.assert_array_equal(race_id, batch.floats[:, TAG])


def test_frames_are_stored_once_and_a_million_steps_fit_in_6_gb() -> None:
    per_step = ReplayBuffer.nbytes_for(1, (1, 64, 64), 184)
    assert per_step == 4096 + 4 * 184 + 35  # one frame per step, no copy of the next observation
    assert ReplayBuffer.nbytes_for(2000, (1, 64, 64), 184) == 2000 * per_step
    million = ReplayBuffer.nbytes_for(1_000_000, (1, 64, 64), 184)
    print(f"bytes per step at 64x64 with 184 floats: {per_step}; 1M steps: {million / 1e9:.2f} GB")
    assert million < 6e9
    assert buffer(capacity=50).nbytes == ReplayBuffer.nbytes_for(50, SHAPE, F)


def test_circular_overwrite_drops_the_oldest_race_first() -> None:
    memory = buffer(capacity=20)
    for tag in range(3):  # 9 slots each: the third does not fit at slot 18 and overwrites the first
        memory.add_race(*race(8, tag), terminated=True)
    assert len(memory) == 16
    batch = memory.sample(500, 0.9, np.random.default_rng(3))
    assert set(batch.floats[:, TAG].astype(int).tolist()) == {1, 2}


def test_overwrite_keeps_the_tail_of_a_partly_overwritten_race() -> None:
    memory = buffer(capacity=20)
    memory.add_race(*race(10, 0), terminated=False)  # slots [0, 11)
    memory.add_race(*race(5, 1), terminated=False)  # slots [11, 17)
    memory.add_race(*race(3, 2), terminated=False)  # does not fit before 20: slots [0, 4)
    assert len(memory) == 6 + 5 + 3  # race 0 keeps positions 4..10: 6 transitions
    batch = memory.sample(1000, 0.9, np.random.default_rng(4))
    old = batch.floats[:, TAG] == 0
    assert set(batch.floats[old, POS].astype(int).tolist()) == {4, 5, 6, 7, 8, 9}
    np.testing.assert_array_equal(batch.next_floats[:, TAG], batch.floats[:, TAG])


def test_race_longer_than_the_capacity_keeps_its_end() -> None:
    memory = buffer(capacity=10)
    assert memory.add_race(*race(25), terminated=True) == 9
    batch = memory.sample(300, 0.9, np.random.default_rng(5))
    assert set(batch.floats[:, POS].astype(int).tolist()) == set(range(16, 25))
    assert by_position(batch.floats[:, POS], batch.discount)[24] == 0.0


def test_shrinking_keeps_the_newest_data_and_growing_adds_room() -> None:
    memory = buffer(capacity=60)
    for tag in range(10):  # 6 slots each; the ring wraps after 10 races
        memory.add_race(*race(5, tag), terminated=False)
    memory.add_race(*race(5, 10), terminated=False)  # overwrites race 0 at slots [0, 6)
    memory.set_capacity(24)  # keeps the 4 newest races: 7, 8, 9 (moved) and 10
    assert memory.capacity == 24 and len(memory) == 20
    rng = np.random.default_rng(6)
    batch = memory.sample(1000, 0.9, rng)
    assert set(batch.floats[:, TAG].astype(int).tolist()) == {7, 8, 9, 10}
    np.testing.assert_array_equal(batch.next_floats[:, TAG], batch.floats[:, TAG])
    memory.set_capacity(60)
    for tag in range(11, 17):
        memory.add_race(*race(5, tag), terminated=False)
    assert len(memory) == 50  # the oldest ones are overwritten first, then the buffer grows into the new room
    batch = memory.sample(2000, 0.9, rng)
    assert set(batch.floats[:, TAG].astype(int).tolist()) == set(range(7, 17))


def test_shrinking_after_many_writes_moves_the_newest_slots() -> None:
    memory = buffer(capacity=60)
    for tag in range(5):
        memory.add_race(*race(5, tag), terminated=False)  # slots [0, 30)
    memory.set_capacity(12)  # head 30 ≥ 12: the newest 12 slots are races 3 and 4
    assert len(memory) == 10
    batch = memory.sample(500, 0.9, np.random.default_rng(7))
    assert set(batch.floats[:, TAG].astype(int).tolist()) == {3, 4}
    memory.add_race(*race(5, 5), terminated=False)  # the next race overwrites the oldest (race 3)
    batch = memory.sample(500, 0.9, np.random.default_rng(7))
    assert set(batch.floats[:, TAG].astype(int).tolist()) == {4, 5}


def test_uniform_sampling_is_uniform_over_transitions() -> None:
    memory = buffer(capacity=100)
    for tag in range(5):
        memory.add_race(*race(3 + 2 * tag, tag), terminated=True)  # 3, 5, 7, 9, 11 steps: 35 transitions
    batch = memory.sample(70_000, 0.9, np.random.default_rng(8))
    race_id, pos = memory.race_of(batch.index)
    counts = np.bincount(race_id * 20 + pos, minlength=100)
    counts = counts[counts > 0]
    assert len(counts) == 35 and abs(counts.mean() - 2000) < 1e-9 and counts.min() > 1700 and counts.max() < 2300


def test_mini_race_horizon_sets_times_and_terminals() -> None:
    memory = buffer(capacity=200, n_steps=3, step_s=0.05)
    memory.add_race(*race(100, rewards=np.ones(100, np.float32)), terminated=False)
    batch = memory.sample(4000, 1.0, np.random.default_rng(9), mini_race_steps=4)
    t = np.rint(batch.floats[:, 0] / 0.05).astype(int)
    steps = np.rint(batch.next_floats[:, POS] - batch.floats[:, POS]).astype(int)
    assert set(t.tolist()) == {0, 1, 2, 3}
    np.testing.assert_allclose(batch.next_floats[:, 0], (t + steps) * 0.05, rtol=1e-6)
    n_prime = np.minimum(3, 100 - batch.floats[:, POS].astype(int))
    terminal = t + n_prime >= 4
    np.testing.assert_array_equal(batch.discount == 0, terminal)
    np.testing.assert_array_equal(steps, np.minimum(n_prime, 4 - t))  # the return stops at the horizon
    np.testing.assert_allclose(batch.reward, steps)  # γ = 1, rewards of 1
    np.testing.assert_array_equal(batch.discount[~terminal], 1.0)  # γ = 1 is fine: the mini-race bounds the sum


@pytest.mark.parametrize("stall_step_reward", [None, -0.5])
def test_a_stalled_race_is_terminal_only_when_the_buffer_values_stalls(stall_step_reward: float | None) -> None:
    memory = buffer(capacity=200, n_steps=3, step_s=0.05, stall_step_reward=stall_step_reward)
    ones = np.ones(10, np.float32)
    memory.add_race(*race(10, tag=0, rewards=ones), terminated=False, stalled=True)
    memory.add_race(*race(10, tag=1, rewards=ones), terminated=False)  # cut off by the time limit
    batch = memory.sample(4000, 1.0, np.random.default_rng(3), mini_race_steps=40)
    t = np.rint(batch.floats[:, 0] / 0.05).astype(int)
    steps = np.rint(batch.next_floats[:, POS] - batch.floats[:, POS]).astype(int)
    reaches_end = (batch.floats[:, POS] + steps == 10) & (t + steps < 40)  # (B,) within the mini-race
    stall = reaches_end & (batch.floats[:, TAG] == 0)
    assert stall.sum() > 100 and (reaches_end & ~stall).sum() > 100
    if stall_step_reward is None:
        np.testing.assert_array_equal(batch.discount[reaches_end], 1.0)  # both bootstrap
        np.testing.assert_allclose(batch.reward, steps)
    else:
        np.testing.assert_array_equal(batch.discount[stall], 0.0)
        np.testing.assert_allclose(batch.reward[stall], steps[stall] + stall_step_reward * (40 - t - steps)[stall])
        np.testing.assert_array_equal(batch.discount[reaches_end & ~stall], 1.0)
        np.testing.assert_allclose(batch.reward[~stall], steps[~stall])


def prioritized_memory(alpha: float = 1.0, beta: float = 1.0) -> ReplayBuffer:
    memory = buffer(capacity=50, prioritized=True, prio_alpha=alpha, prio_beta=beta, prio_epsilon=1e-9)
    memory.add_race(*race(4), terminated=True)
    return memory


def set_priorities_by_position(memory: ReplayBuffer, priority: dict[int, float]) -> None:
    batch = memory.sample(200, 0.9, np.random.default_rng(10))
    pos = batch.floats[:, POS].astype(int)
    memory.update_priorities(batch.index, np.array([priority[p] for p in pos.tolist()]))


def test_prioritised_frequencies_follow_priorities() -> None:
    memory = prioritized_memory(alpha=1.0)
    set_priorities_by_position(memory, {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0})
    batch = memory.sample(40_000, 0.9, np.random.default_rng(11))
    frequency = np.bincount(batch.floats[:, POS].astype(int), minlength=4) / 40_000
    np.testing.assert_allclose(frequency, [0.1, 0.2, 0.3, 0.4], atol=0.01)


def test_prioritised_alpha_flattens_and_new_data_gets_the_max_priority() -> None:
    memory = prioritized_memory(alpha=0.5)
    set_priorities_by_position(memory, {0: 1.0, 1: 4.0, 2: 9.0, 3: 16.0})  # (|δ|)^0.5 = 1, 2, 3, 4
    memory.add_race(*race(1, tag=1), terminated=True)  # one new transition at the max priority, 4
    batch = memory.sample(28_000, 0.9, np.random.default_rng(12))
    new = batch.floats[:, TAG] == 1
    assert new.mean() == pytest.approx(4 / 14, abs=0.01)
    frequency = np.bincount(batch.floats[~new, POS].astype(int), minlength=4) / 28_000
    np.testing.assert_allclose(frequency, np.array([1, 2, 3, 4]) / 14, atol=0.01)


def test_importance_weights_are_normalised_by_the_batch_max() -> None:
    memory = prioritized_memory(alpha=1.0, beta=1.0)
    set_priorities_by_position(memory, {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0})
    batch = memory.sample(1000, 0.9, np.random.default_rng(13))
    weights = by_position(batch.floats[:, POS], batch.weight)
    assert weights == pytest.approx({0: 1.0, 1: 0.5, 2: 1 / 3, 3: 0.25})  # w ∝ 1 / P(i), the largest is 1
    half = prioritized_memory(alpha=1.0, beta=0.5)
    set_priorities_by_position(half, {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0})
    batch = half.sample(1000, 0.9, np.random.default_rng(13))
    assert by_position(batch.floats[:, POS], batch.weight)[3] == pytest.approx(0.5)


def test_stale_keys_do_not_touch_overwritten_slots() -> None:
    memory = buffer(capacity=10, prioritized=True, prio_alpha=1.0, prio_epsilon=1e-9)
    memory.add_race(*race(4, 0), terminated=False)
    old = memory.sample(100, 0.9, np.random.default_rng(14))
    memory.add_race(*race(8, 1), terminated=False)  # overwrites every slot of race 0
    memory.update_priorities(old.index, np.full(100, 1000.0))
    batch = memory.sample(2000, 0.9, np.random.default_rng(15))
    counts = np.bincount(batch.floats[:, POS].astype(int), minlength=8)
    assert counts.min() > 150  # still uniform (all at the initial priority), no slot at 1000


def test_uniform_update_priorities_is_a_no_op() -> None:
    memory = buffer()
    memory.add_race(*race(4), terminated=False)
    batch = memory.sample(8, 0.9, np.random.default_rng(0))
    memory.update_priorities(batch.index, np.ones(8))


def test_test_split_routes_whole_races_with_the_ratio() -> None:
    def run(seed: int) -> tuple[SplitMemory, list[int]]:
        train, test = buffer(capacity=100_000), buffer(capacity=10_000)
        memory = SplitMemory(train, test, 0.1, np.random.default_rng(seed))
        lengths = [3 + tag % 7 for tag in range(2000)]
        added = [memory.add_race(*race(T, tag), terminated=True) for tag, T in enumerate(lengths)]
        test_transitions = sum(T for T, n in zip(lengths, added, strict=True) if n == 0)
        assert len(test) == test_transitions and len(train) == sum(added)
        return memory, added

    memory, added = run(seed=16)
    assert memory.races_test + memory.races_train == 2000
    assert abs(memory.races_test - 200) < 50  # binomial(2000, 0.1): σ ≈ 13
    assert memory.test is not None
    batch = memory.test.sample(2000, 0.9, np.random.default_rng(17))
    test_tags = set(batch.floats[:, TAG].astype(int).tolist())
    assert all(added[tag] == 0 for tag in test_tags)  # every race sampled from the test buffer went there whole
    assert run(seed=16)[1] == added  # the routing is a function of the rng


def test_split_memory_from_config_sizes_both_buffers() -> None:
    cfg = MemoryConfig(memory_size_schedule=[[0, 1000], [100, 4000]], memory_min_size=10, buffer_test_ratio=0.05)
    memory = SplitMemory.from_config(cfg, SHAPE, F, np.random.default_rng(0))
    assert memory.train.capacity_max == 4000 and memory.train.capacity == 1000
    assert memory.test is not None and memory.test.capacity_max == 200 and memory.test.capacity == 50
    memory.set_capacity(cfg.capacity(50))
    assert memory.train.capacity == 2500 and memory.test.capacity == 125


def test_replay_ratio_accounting_on_a_hand_made_sequence() -> None:
    ratio = ReplayRatio(times_used=4, min_size=100)
    ratio.record_added(60)
    assert not ratio.learner_may_train() and not ratio.collectors_must_wait(slack=0)  # not enough data
    ratio.record_added(60)  # 120 added: a budget of 4 × 20 = 80 samples
    assert ratio.budget == 80 and ratio.learner_may_train()
    assert ratio.collectors_must_wait(slack=50) and not ratio.collectors_must_wait(slack=80)
    ratio.record_trained(32)
    ratio.record_trained(32)
    assert ratio.trained == 64 and ratio.learner_may_train() and not ratio.collectors_must_wait(slack=50)
    ratio.record_trained(32)  # 96 ≥ 80: the learner waits for data
    assert not ratio.learner_may_train() and not ratio.collectors_must_wait(slack=0)
    ratio.record_added(10)  # budget 120
    assert ratio.added == 130 and ratio.learner_may_train() and ratio.collectors_must_wait(slack=20)


def test_replay_ratio_holds_over_a_long_run() -> None:
    ratio = ReplayRatio(times_used=8, min_size=1000)
    for _ in range(500):
        ratio.record_added(37)
        while ratio.learner_may_train():
            ratio.record_trained(64)
        assert not ratio.collectors_must_wait(slack=0)
    assert ratio.trained == pytest.approx(8 * (ratio.added - 1000), abs=64)


def test_memory_config_defaults_and_validation() -> None:
    cfg = MemoryConfig()
    assert cfg.capacity_max == 1_000_000 and cfg.capacity(0) == 50_000 and cfg.mini_race_steps == 140
    assert MemoryConfig(mini_race_duration_ms=None).mini_race_steps is None
    with pytest.raises(ValidationError, match="multiple of step_ms"):
        MemoryConfig(mini_race_duration_ms=7010)
    with pytest.raises(ValidationError):
        MemoryConfig(memory_size=5)  # unknown keys are errors


def test_bad_races_and_capacities_are_named() -> None:
    memory = buffer(capacity=20)
    frames, floats, actions, rewards = race(4)
    with pytest.raises(ValueError, match="frames"):
        memory.add_race(frames[:-1], floats[:-1], actions, rewards, terminated=True)
    with pytest.raises(ValueError, match="capacity"):
        memory.set_capacity(21)
    with pytest.raises(ValueError, match="no transition"):
        memory.sample(4, 0.9, np.random.default_rng(0))
    assert memory.add_race(frames[:1], floats[:1], actions[:0], rewards[:0], terminated=True) == 0


@pytest.mark.parametrize("prioritized", [False, True])
def test_random_races_and_capacities_keep_the_newest_slots_in_order(prioritized: bool) -> None:
    rng = np.random.default_rng(18)
    memory = buffer(capacity=400, n_steps=4, prioritized=prioritized)
    reference: list[tuple[int, int]] = []  # (race, position) of the newest slots written, at most `capacity`
    for tag in range(600):
        if rng.random() < 0.05:
            memory.set_capacity(int(rng.integers(60, 401)))
            reference = reference[max(0, len(reference) - memory.capacity) :]
        T = int(rng.integers(1, 30))
        memory.add_race(*race(T, tag), terminated=bool(rng.random() < 0.5))
        reference.extend((tag, p) for p in range(max(0, T + 1 - memory.capacity), T + 1))
        reference = reference[max(0, len(reference) - memory.capacity) :]
        live = memory._live_slot(np.arange(memory.size))
        kept = list(zip(memory._race_id[live].tolist(), memory._pos[live].tolist(), strict=True))
        assert kept == reference[len(reference) - len(kept) :]  # the newest slots, in order
        assert len(reference) - 30 < memory.size <= memory.capacity  # at most the skipped end of the ring is lost
        assert memory.n_transitions == np.count_nonzero(memory._steps_to_end > 0)
        assert np.count_nonzero(memory._steps_to_end >= 0) == memory.size  # nothing stored outside the live slots
        if tag % 20 == 0:
            batch = memory.sample(256, 0.9, rng)
            np.testing.assert_array_equal(batch.next_floats[:, TAG], batch.floats[:, TAG])
            assert set(memory.race_of(batch.index)[0].tolist()) <= {race for race, _ in kept}
            memory.update_priorities(batch.index, rng.random(256) * 10)


def test_sampling_into_reused_arrays_gives_the_same_batch() -> None:
    memory = buffer(capacity=200)
    for tag in range(10):
        memory.add_race(*race(12, tag), terminated=tag % 2 == 0)
    fresh = memory.sample(64, 0.9, np.random.default_rng(19), mini_race_steps=5)
    out = memory.empty_batch(64)
    reused = memory.sample(64, 0.9, np.random.default_rng(19), mini_race_steps=5, out=out)
    assert reused is out
    for a, b in zip(fresh, reused, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="not 32 rows"):
        memory.sample(32, 0.9, np.random.default_rng(0), out=out)


def test_no_test_split_sends_every_race_to_train() -> None:
    cfg = MemoryConfig(memory_size_schedule=[[0, 500]], memory_min_size=10, buffer_test_ratio=0.0)
    memory = SplitMemory.from_config(cfg, SHAPE, F, np.random.default_rng(0))
    assert memory.test is None
    assert sum(memory.add_race(*race(4, tag), terminated=False) for tag in range(20)) == 80
    assert memory.races_test == 0 and len(memory.train) == 80


def test_stored_greedy_flags_cut_sampled_returns() -> None:
    frames, floats, actions, rewards = race(6)
    greedy = np.array([True, True, True, False, True, True])  # the action at step 3 was random
    cut, kept = buffer(cut_at_exploration=True), buffer(cut_at_exploration=False)
    for memory in (cut, kept):
        memory.add_race(frames, floats, actions, rewards, terminated=False, greedy=greedy)
    rng = np.random.default_rng(0)
    steps = {}
    for name, memory in (("cut", cut), ("kept", kept)):
        batch = memory.sample(400, 1.0, rng)
        pos = batch.floats[:, POS].astype(int)
        steps[name] = by_position(pos, batch.next_floats[:, POS] - batch.floats[:, POS])
    assert steps["cut"] == {0: 3, 1: 2, 2: 1, 3: 3, 4: 2, 5: 1}  # steps 1 and 2 stop at step 3's observation
    assert steps["kept"] == {0: 3, 1: 3, 2: 3, 3: 3, 4: 2, 5: 1}
    with pytest.raises(ValueError, match="greedy must be"):
        cut.add_race(frames, floats, actions, rewards, terminated=False, greedy=greedy[:3])
