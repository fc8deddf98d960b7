"""n-step transitions (Sutton & Barto 2018, §7.1): the batch the learner trains on, the return arithmetic, and the
move to torch.

For a step i of a race with T steps and n′ = min(n, T − i):
    reward   = Σ_{k<n′} γ^k r_{i+k}
    next obs = obs_{i+n′}
    discount = 0 if the race finished at step i + n′ (T − i ≤ n and the race was terminated), else γ^{n′}.
A race cut off by a time limit or for lack of progress (truncated) is not terminal: its last transitions bootstrap
from the stored final observation (Pardo et al. 2018, "Time Limits in Reinforcement Learning"; Tianshou's
``BasePolicy.compute_nstep_return``).

A stall may instead be terminal (``stalled``, with a mini-race): the car is valued as standing where it stopped
until its mini-race ends, no more progress and the clock's reward c every step, so the return gains
Σ_{n′ ≤ k < M − t} γ^k c after the race's last reward and bootstraps from nothing. Bootstrapping a stall from its
own value is optimistic for a car that never moves again: a greedy car waiting on the start line is valued as
driving away one step later, which costs only the last step of the mini-race's progress (~0.02 at 0.01 a metre),
less than the noise of the learnt values: to the learner, a car that waits forever looks about as good as one
that drives off (docs/learning/stall-terminal.md).

Mini-race horizon (the Trackmania IQN trick): the value learnt is the return over what is left of a mini-race of
M steps, and the mini-race time t is an input (float ``mini_race_time``). Each sampled transition gets a time t
in [0, M) (``mini_race_times``: uniform, or Linesight's draw, which over-samples t = 0, the only time used when
acting, and the first steps of the mini-race, whose values look furthest ahead). The return stops at the horizon:
n_eff = min(n′, M − t) steps of reward, and the transition is terminal (discount 0) when t + n′ ≥ M, i.e. when
the mini-race is over by the next observation; the next observation is obs_{i+n_eff} at time t + n_eff. Rewards
past the horizon are left out, because they belong to no value of this mini-race. A finite horizon bounds the
return, which is what lets γ reach 1.
"""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeVar

import numpy as np
import torch

__all__ = ["Batch", "NStepReturn", "empty_batch", "mini_race_times", "nstep_returns", "to_torch"]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


class Batch(NamedTuple, Generic[ArrayT]):
    """A batch of n-step transitions: numpy arrays from ``ReplayBuffer.sample``, tensors after ``to_torch``."""

    img: ArrayT  # (B, 1, H, W) uint8
    floats: ArrayT  # (B, F) float32
    action: ArrayT  # (B,) int64
    reward: ArrayT  # (B,) float32 n-step discounted sum
    discount: ArrayT  # (B,) float32 γ^n, 0 after a finish or the end of the mini-race
    next_img: ArrayT  # (B, 1, H, W) uint8
    next_floats: ArrayT  # (B, F) float32
    weight: ArrayT  # (B,) float32 importance weight (1 for uniform replay)
    index: ArrayT  # type: ignore[assignment]  # (B,) int64 transition keys for update_priorities; shadows tuple.index


class NStepReturn(NamedTuple):
    """The n-step part of a batch of transitions."""

    reward: np.ndarray  # (B,) float32 Σ_{k<n_eff} γ^k r_{i+k}
    discount: np.ndarray  # (B,) float32 γ^{n_eff}, or 0 when terminal
    n: np.ndarray  # (B,) int64 n_eff, steps from the observation to the next observation


def mini_race_times(
    rng: np.random.Generator, size: int, horizon: int, oversample_start: int = 0, oversample_zero: int = 0
) -> np.ndarray:
    """Mini-race times t (size,) int64 in [0, horizon).

    With both oversampling widths 0, t is uniform. Otherwise t = max(|u| − z, 0) with u uniform on the integers of
    [−(L − z), horizon + z), L = ``oversample_start``, z = ``oversample_zero`` (Linesight's draw, L = 40, z = 5):
    t = 0 gets 2z + 1 shares, t = 1 … L − 2z two shares each (u and −u), and every later t one share.
    """
    if not 0 <= 2 * oversample_zero <= oversample_start:
        raise ValueError(f"need 0 <= 2 × oversample_zero <= oversample_start: {oversample_zero}, {oversample_start}")
    if oversample_start == 0:
        return rng.integers(0, horizon, size)
    u = rng.integers(-(oversample_start - oversample_zero), horizon + oversample_zero, size)  # (size,)
    return np.maximum(np.abs(u) - oversample_zero, 0)


def nstep_returns(
    rewards: np.ndarray,
    steps_to_end: np.ndarray,
    finished: np.ndarray,
    gamma: float,
    time: np.ndarray | None = None,
    horizon: int | None = None,
    greedy: np.ndarray | None = None,
    stalled: np.ndarray | None = None,
    stall_step_reward: float = 0.0,
) -> NStepReturn:
    """n-step rewards and discounts of a batch (see the module docstring).

    greedy (B, n) bool: the action at step i + k was the greedy one. When given, the return is cut before the
    first non-greedy action after the first (k ≥ 1): it bootstraps from the observation where the exploring action
    was taken, so no random action's consequences enter the target of the greedy policy (Linesight does the same).

    rewards (B, n): r_{i+k} for k < n, entries at or past the race end ignored (may hold anything, even NaN);
    steps_to_end (B,): T − i ≥ 1; finished (B,) bool: the race ended with a finish;
    time (B,) int in [0, horizon): mini-race step of the observation, with the horizon M in steps, or both None;
    stalled (B,) bool: the race ended in a stall, valued as standing still with ``stall_step_reward`` a step until
    the mini-race ends (needs the mini-race); None: a stall bootstraps like any cut-off race.
    """
    n_steps = rewards.shape[1]
    if np.any(steps_to_end < 1):
        raise ValueError(f"steps_to_end must be >= 1 (a transition starts before the race end), got {steps_to_end}")
    n_limit = np.full(steps_to_end.shape, n_steps, np.int64)  # (B,)
    if greedy is not None:
        explored = ~greedy[:, 1:]  # (B, n − 1): non-greedy actions after the first
        n_limit = np.where(explored.any(1), explored.argmax(1) + 1, n_steps)
    n_prime = np.minimum(n_limit, steps_to_end).astype(np.int64)  # (B,)
    terminal = finished & (steps_to_end <= n_limit)  # the finish lies within the window
    n_eff = n_prime
    if time is not None:
        if horizon is None:
            raise ValueError("a mini-race time needs its horizon")
        n_eff = np.minimum(n_prime, horizon - time)  # the return stops at the end of the mini-race
        terminal = terminal | (time + n_prime >= horizon)
    k = np.arange(n_steps)  # (n,)
    powers = np.float64(gamma) ** k  # (n,)
    kept = np.where(k < n_eff[:, None], rewards, 0.0)  # (B, n); where, not a product, so garbage never leaks
    reward = kept @ powers  # (B,)
    if stalled is not None:
        if time is None or horizon is None:
            raise ValueError("a terminal stall is valued over the rest of its mini-race: it needs the mini-race time")
        standing = stalled & (steps_to_end <= n_limit) & (time + n_prime < horizon)  # the stall comes first
        reward = reward + np.where(standing, stall_step_reward * _power_sum(gamma, n_prime, horizon - time), 0.0)
        terminal = terminal | standing
    discount = np.where(terminal, 0.0, np.float64(gamma) ** n_eff)  # (B,)
    return NStepReturn(reward.astype(np.float32), discount.astype(np.float32), n_eff)


def _power_sum(gamma: float, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Σ_{start ≤ k < stop} γ^k (B,) float64, 0 where stop ≤ start."""
    count = np.maximum(stop - start, 0)
    if gamma == 1.0:
        return count.astype(np.float64)
    g = np.float64(gamma)
    return g**start * (1.0 - g**count) / (1.0 - g)


def empty_batch(
    batch_size: int, image_shape: tuple[int, ...], n_floats: int, *, pinned: bool = False
) -> Batch[np.ndarray]:
    """Uninitialised arrays of a batch; ``pinned``: in page-locked memory (needs CUDA), for non-blocking copies."""
    img, floats, row = (batch_size, *image_shape), (batch_size, n_floats), (batch_size,)
    fields = (
        (img, np.uint8),
        (floats, np.float32),
        (row, np.int64),
        (row, np.float32),
        (row, np.float32),
        (img, np.uint8),
        (floats, np.float32),
        (row, np.float32),
        (row, np.int64),
    )  # in Batch's order: img, floats, action, reward, discount, next_img, next_floats, weight, index
    arrays = (np.empty(shape, dtype) for shape, dtype in fields)
    if pinned:
        return Batch(*(torch.from_numpy(array).pin_memory().numpy() for array in arrays))
    return Batch(*arrays)


def to_torch(batch: Batch[np.ndarray], device: torch.device | str) -> Batch[torch.Tensor]:
    """The same batch as tensors on ``device``; through pinned memory and non-blocking copies to a GPU.

    On the CPU the tensors share the arrays' memory. Arrays already pinned (``ReplayBuffer.empty_batch``) are
    copied straight from there: do not sample into them again before the copy is done (alternate two batches, or
    synchronise), as a non-blocking copy may still be reading them.
    """
    device = torch.device(device)
    pin = device.type == "cuda"

    def move(array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if pin and not tensor.is_pinned():
            tensor = tensor.pin_memory()
        return tensor.to(device, non_blocking=pin)

    return Batch(*(move(array) for array in batch))
