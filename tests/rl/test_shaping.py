"""Tests of hairpin.rl.shaping: the distance to the line read from the floats, and the shaped n-step reward."""

from __future__ import annotations

import numpy as np
import pytest

from hairpin.obs import FloatLayout
from hairpin.rl.nstep import empty_batch, nstep_returns
from hairpin.rl.shaping import LinePotential, TimePotential, distance_to_line, shape_rewards

LAYOUT = FloatLayout()


def floats_beside_a_straight(offsets_m: list[float], heading_rad: float = 0.0) -> np.ndarray:
    """Floats (B, F) of cars ``offsets_m`` to the right of a straight line, heading ``heading_rad`` off it."""
    out = np.zeros((len(offsets_m), LAYOUT.size), np.float32)
    ahead = LAYOUT.ref_point_spacing_m * np.arange(1, LAYOUT.n_ref_points + 1)  # (K,) metres along the line
    c, s = np.cos(heading_rad), np.sin(heading_rad)
    for row, offset in enumerate(offsets_m):
        world_x, world_z = -offset * np.ones_like(ahead), ahead  # the line, seen from the car, in line axes
        points = np.stack([c * world_x - s * world_z, np.zeros_like(ahead), s * world_x + c * world_z], 1)
        out[row, LAYOUT.ref_points] = points.ravel()
    return out


def test_distance_to_a_straight_line_is_the_lateral_offset_whatever_the_heading() -> None:
    floats = floats_beside_a_straight([0.0, 3.0, -7.5])
    assert distance_to_line(floats, LAYOUT) == pytest.approx([0.0, 3.0, 7.5], abs=1e-4)
    turned = floats_beside_a_straight([4.0], heading_rad=0.4)
    assert distance_to_line(turned, LAYOUT) == pytest.approx([4.0], abs=1e-4)


def test_potential_is_clipped_and_shapes_the_reward_by_its_difference() -> None:
    potential = LinePotential(LAYOUT, per_m=-0.1, min_m=2.0, max_m=25.0)
    assert potential(floats_beside_a_straight([0.5, 10.0, 40.0])) == pytest.approx([-0.2, -1.0, -2.5])
    batch = empty_batch(3, (1, 4, 4), LAYOUT.size)
    batch.floats[:] = floats_beside_a_straight([10.0, 10.0, 10.0])
    batch.next_floats[:] = floats_beside_a_straight([5.0, 5.0, 5.0])
    batch.reward[:] = 1.0
    batch.discount[:] = [1.0, 0.5, 0.0]  # the last one is terminal: its next potential does not count
    shape_rewards(batch, [potential], gamma=1.0)
    assert batch.reward == pytest.approx([1.0 - 0.5 + 1.0, 1.0 - 0.25 + 1.0, 1.0 + 1.0])


@pytest.mark.parametrize("gamma", [1.0, 0.99])
def test_time_potential_removes_the_clock_from_every_n_step_reward_and_pays_a_finish_what_it_spares(
    gamma: float,
) -> None:
    """A race whose only reward is the clock's: through the real n-step arithmetic, every shaped reward is 0 except
    at a finish, which gains the clock's reward of the rest of its mini-race."""
    c, horizon, step_s, n = -0.06, 20, 0.05, 3
    potential = TimePotential(LAYOUT, c, horizon, step_s)
    steps_to_end = np.array([10, 10, 10, 10, 2, 2])  # (B,) the last two are 2 steps before the race's end
    finished = np.array([False, False, False, False, True, False])  # the fifth race ends with a finish
    time = np.array([0, 7, 17, 19, 5, 5])  # (B,) mini-race steps; 17 and 19 reach the horizon within n
    rewards = np.full((len(time), n), c)
    nstep = nstep_returns(rewards, steps_to_end, finished, gamma, time, horizon)
    batch = empty_batch(len(time), (1, 4, 4), LAYOUT.size)
    batch.floats[:, LAYOUT.mini_race_time] = (time * step_s)[:, None]
    batch.next_floats[:, LAYOUT.mini_race_time] = ((time + nstep.n) * step_s)[:, None]
    batch.reward[:], batch.discount[:] = nstep.reward, nstep.discount
    shape_rewards(batch, [potential], gamma)
    spared = c * sum(gamma**k for k in range(2, horizon - 5))  # the finish came 2 steps into a mini-race at t = 5
    assert batch.reward == pytest.approx([0, 0, 0, 0, -spared, 0], abs=1e-5)
    assert -spared > 0  # finishing early is worth more than the clock it spares


@pytest.mark.parametrize("gamma", [1.0, 0.99])
def test_with_time_shaping_a_terminal_stall_is_worth_no_more_progress_and_spares_no_clock(gamma: float) -> None:
    """A stall 2 steps after the observation, with the clock's reward only: the shaped return is 0 (it stands
    still to the mini-race's end), where a finish at the same place gains the clock it spares."""
    c, horizon, step_s, n = -0.06, 20, 0.05, 3
    potential = TimePotential(LAYOUT, c, horizon, step_s)
    time, steps_to_end = np.array([5, 5]), np.array([2, 2])  # (B,)
    rewards = np.full((2, n), c)
    finished, stalled = np.array([True, False]), np.array([False, True])
    nstep = nstep_returns(rewards, steps_to_end, finished, gamma, time, horizon, stalled=stalled, stall_step_reward=c)
    batch = empty_batch(2, (1, 4, 4), LAYOUT.size)
    batch.floats[:, LAYOUT.mini_race_time] = (time * step_s)[:, None]
    batch.next_floats[:, LAYOUT.mini_race_time] = ((time + nstep.n) * step_s)[:, None]
    batch.reward[:], batch.discount[:] = nstep.reward, nstep.discount
    shape_rewards(batch, [potential], gamma)
    spared = c * sum(gamma**k for k in range(2, horizon - 5))
    assert batch.reward == pytest.approx([-spared, 0.0], abs=1e-5)


def test_time_shaping_and_terminal_stalls_need_a_mini_race() -> None:
    from hairpin.config.memory import MemoryConfig

    with pytest.raises(ValueError, match="shaping_mini_race_time needs a mini-race"):
        MemoryConfig(shaping_mini_race_time=True, mini_race_duration_ms=None)
    with pytest.raises(ValueError, match="stall_is_terminal needs a mini-race"):
        MemoryConfig(stall_is_terminal=True, mini_race_duration_ms=None)
