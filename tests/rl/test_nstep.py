"""Tests of hairpin.rl.nstep: hand-computed n-step returns, time limits, the mini-race horizon, to_torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hairpin.rl.nstep import Batch, mini_race_times, nstep_returns, to_torch

GAMMA = 0.5
RACE_REWARDS = np.array([1.0, 2.0, 3.0, 4.0], np.float32)  # a race of T = 4 steps


def windows(steps: list[int], n: int = 3) -> np.ndarray:
    """Rewards (B, n) from each step of RACE_REWARDS, NaN past the race end (garbage must not leak)."""
    padded = np.concatenate([RACE_REWARDS, np.full(n, np.nan, np.float32)])
    return np.stack([padded[i : i + n] for i in steps])


def test_hand_computed_returns_of_a_finished_race() -> None:
    steps = [0, 1, 2, 3]
    result = nstep_returns(windows(steps), np.array([4, 3, 2, 1]), np.ones(4, bool), GAMMA)
    # step 0: 1 + 0.5·2 + 0.25·3; step 1: 2 + 0.5·3 + 0.25·4; step 2: 3 + 0.5·4 (tail); step 3: 4 (tail).
    np.testing.assert_allclose(result.reward, [2.75, 4.5, 5.0, 4.0])
    np.testing.assert_array_equal(result.n, [3, 3, 2, 1])
    # Step 1's window ends exactly at the finish (T − i = 3 = n): terminal, as are the shorter tails.
    np.testing.assert_allclose(result.discount, [0.125, 0.0, 0.0, 0.0])
    assert result.reward.dtype == np.float32 and result.discount.dtype == np.float32


def test_a_truncated_race_bootstraps_with_the_shorter_discount() -> None:
    result = nstep_returns(windows([0, 1, 2, 3]), np.array([4, 3, 2, 1]), np.zeros(4, bool), GAMMA)
    np.testing.assert_allclose(result.reward, [2.75, 4.5, 5.0, 4.0])
    np.testing.assert_allclose(result.discount, [0.125, 0.125, 0.25, 0.5])  # γ^{n′}, never 0


def test_mini_race_horizon_cuts_the_return_and_terminates() -> None:
    rewards = windows([0, 0, 0, 0])
    steps_to_end = np.full(4, 4)
    time = np.array([0, 4, 5, 6])  # horizon 7: 7 − t = 7, 3, 2, 1 steps left in the mini-race
    result = nstep_returns(rewards, steps_to_end, np.zeros(4, bool), GAMMA, time=time, horizon=7)
    np.testing.assert_array_equal(result.n, [3, 3, 2, 1])
    np.testing.assert_allclose(result.reward, [2.75, 2.75, 2.0, 1.0])
    # t + n′ ≥ 7 is terminal: t = 4 reaches the horizon exactly at the next observation.
    np.testing.assert_allclose(result.discount, [0.125, 0.0, 0.0, 0.0])


def test_a_stall_is_terminal_and_stands_still_until_the_mini_race_ends() -> None:
    """A race of 4 steps that ended in a stall, the clock's reward c a step: a window that reaches the stall adds
    c for every step left in its mini-race and bootstraps from nothing; one that ends first, or whose mini-race ends
    with the race, is as without the stall."""
    c = -0.1
    time = np.array([0, 0, 5, 3])  # (B,) horizon 7
    steps_to_end = np.array([4, 2, 2, 2])  # (B,) the first window ends before the stall
    result = nstep_returns(
        windows([0, 2, 2, 2]),
        steps_to_end,
        np.zeros(4, bool),
        GAMMA,
        time,
        7,
        stalled=np.ones(4, bool),
        stall_step_reward=c,
    )
    standing_from_0 = c * sum(GAMMA**k for k in range(2, 7))  # steps 2..6 of a mini-race begun at the window
    standing_from_3 = c * sum(GAMMA**k for k in range(2, 4))  # steps 2..3: the mini-race ends at its step 4
    np.testing.assert_allclose(result.reward, [2.75, 5.0 + standing_from_0, 5.0, 5.0 + standing_from_3], rtol=1e-6)
    np.testing.assert_allclose(result.discount, [0.125, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(result.n, [3, 2, 2, 2])
    unstalled = nstep_returns(windows([0, 2, 2, 2]), steps_to_end, np.zeros(4, bool), GAMMA, time, 7)
    np.testing.assert_allclose(unstalled.discount, [0.125, 0.25, 0.0, 0.25])  # a cut-off race bootstraps
    with pytest.raises(ValueError, match="mini-race time"):
        nstep_returns(windows([2]), np.array([2]), np.zeros(1, bool), GAMMA, stalled=np.ones(1, bool))


def test_gamma_one_sums_plainly() -> None:
    result = nstep_returns(windows([0, 2]), np.array([4, 2]), np.zeros(2, bool), 1.0)
    np.testing.assert_allclose(result.reward, [6.0, 7.0])
    np.testing.assert_allclose(result.discount, [1.0, 1.0])


def test_a_window_must_start_before_the_race_end() -> None:
    with pytest.raises(ValueError, match="steps_to_end"):
        nstep_returns(windows([3]), np.array([0]), np.zeros(1, bool), GAMMA)


def test_to_torch_keeps_fields_shapes_and_dtypes() -> None:
    B, H, W, F = 4, 8, 8, 5
    batch = Batch(
        img=np.zeros((B, 1, H, W), np.uint8),
        floats=np.zeros((B, F), np.float32),
        action=np.arange(B, dtype=np.int64),
        reward=np.ones(B, np.float32),
        discount=np.ones(B, np.float32),
        next_img=np.zeros((B, 1, H, W), np.uint8),
        next_floats=np.zeros((B, F), np.float32),
        weight=np.ones(B, np.float32),
        index=np.arange(B, dtype=np.int64),
    )
    tensors = to_torch(batch, "cpu")
    assert isinstance(tensors, Batch)
    for array, tensor in zip(batch, tensors, strict=True):
        assert isinstance(tensor, torch.Tensor)
        assert tuple(tensor.shape) == array.shape
        assert tensor.dtype == torch.from_numpy(array).dtype
    assert tensors.img.dtype == torch.uint8 and tensors.action.dtype == torch.int64


def test_greedy_flags_cut_the_return_before_the_first_exploring_action() -> None:
    """A hand-made race: the action at step 2 was random, so returns from steps 0 and 1 stop before it."""
    rewards = windows([0, 1, 2])
    greedy = np.array(
        [
            [False, True, False],  # step 0: its own action was random (allowed), step 2's too → n = 2
            [True, False, True],  # step 1: step 2's action was random → n = 1
            [False, True, True],  # step 2: only its own action was random → the full 3 steps (2 to the end)
        ]
    )
    result = nstep_returns(rewards, np.array([4, 3, 2]), np.ones(3, bool), GAMMA, greedy=greedy)
    np.testing.assert_array_equal(result.n, [2, 1, 2])
    np.testing.assert_allclose(result.reward, [1 + 0.5 * 2, 2.0, 3 + 0.5 * 4])
    # A cut return bootstraps (γ^n), even where the uncut window reached the finish (step 1: T − i = 3 = n).
    np.testing.assert_allclose(result.discount, [0.25, 0.5, 0.0])
    uncut = nstep_returns(rewards, np.array([4, 3, 2]), np.ones(3, bool), GAMMA, greedy=np.ones((3, 3), bool))
    np.testing.assert_array_equal(uncut.n, [3, 3, 2])


def test_mini_race_times_uniform_without_oversampling() -> None:
    times = mini_race_times(np.random.default_rng(0), 140_000, 140)
    counts = np.bincount(times, minlength=140)
    assert times.min() == 0 and times.max() == 139
    assert counts.max() / counts.min() < 1.3  # about 1,000 draws each


def test_mini_race_times_oversample_zero_and_the_long_horizons_as_linesight() -> None:
    """u uniform in [−35, 145) and t = max(|u| − 5, 0): t = 0 gets 11 of 180 shares, t = 1 … 30 two, later t one."""
    times = mini_race_times(np.random.default_rng(0), 1_800_000, 140, oversample_start=40, oversample_zero=5)
    share = np.bincount(times, minlength=140) / len(times) * 180  # in shares of 1/180
    assert times.min() == 0 and times.max() == 139
    assert share[0] == pytest.approx(11, rel=0.03)
    assert share[1:31] == pytest.approx(np.full(30, 2.0), rel=0.08)
    assert share[31:] == pytest.approx(np.full(109, 1.0), rel=0.1)


def test_mini_race_times_refuse_a_zero_band_wider_than_half_the_start() -> None:
    with pytest.raises(ValueError, match="oversample_zero"):
        mini_race_times(np.random.default_rng(0), 10, 140, oversample_start=8, oversample_zero=5)
