"""Batches of behavioural cloning: frames, offset labels with their mask, and the n-step transitions of TD.

Labels come from ``DemoArrays.labels_at``: one per offset, invalid outside the frame's episode. TD transitions use
the RL replay buffer's arithmetic (``hairpin.rl.nstep.nstep_returns``), mini-race horizon included, so that Q is
learnt on the scale RL expects: each sampled frame gets a random time t in the mini-race, written in the
``mini_race_time`` float, and the transition is terminal when the race finishes or the mini-race ends within its
n steps. A demonstration stores no observation after its last frame, so a window that reaches the end of an
episode that was cut off (not finished) has no next frame to bootstrap from: it is masked out of the TD loss (it
still counts for cross-entropy and the margin). Truncation is never treated as terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from hairpin.data.arrays import DemoArrays
from hairpin.pretrain.run import PretrainRunError
from hairpin.rl.nstep import nstep_returns

__all__ = ["BCBatch", "BCSplit", "TDBatch", "TDSettings", "check_frame_step", "make_batch"]


class TDSettings(NamedTuple):
    """How TD transitions are built."""

    n_steps: int  # n of the n-step return
    gamma: float  # discount per step
    mini_race_steps: int | None  # mini-race horizon M in steps, None for whole-race returns
    step_s: float  # race time of one step, to write the mini-race time in seconds
    time_slice: slice  # where ``mini_race_time`` lies in the float vector


class TDBatch(NamedTuple):
    """The n-step part of a batch."""

    reward: Tensor  # (B,) float32 Σ_{k<n} γ^k r_{i+k}
    discount: Tensor  # (B,) float32 γ^n, 0 when terminal
    next_img: Tensor | None  # (B, 1, H, W) uint8
    next_floats: Tensor  # (B, F) float32
    mask: Tensor  # (B,) bool, the transition has a next frame or is terminal


class BCBatch(NamedTuple):
    """A batch of frames and their labels."""

    img: Tensor | None  # (B, 1, H, W) uint8, None for a float-only network
    floats: Tensor  # (B, F) float32
    labels: Tensor  # (B, O) int64 action at each offset
    valid: Tensor  # (B, O) bool, the label lies inside the frame's episode
    action: Tensor  # (B,) int64 label at 0 ms (the demonstrated action of the step)
    td: TDBatch | None  # None unless TD is trained


@dataclass(frozen=True)
class BCSplit:
    """One split of the demonstrations with everything a batch reads precomputed."""

    demos: DemoArrays
    labels: np.ndarray  # (T, O) int64
    valid: np.ndarray  # (T, O) bool
    steps_to_end: np.ndarray  # (T,) int64 frames from each frame to its episode's end (≥ 1)
    finished: np.ndarray  # (T,) bool, the frame's episode ended at the finish

    @classmethod
    def from_demos(cls, demos: DemoArrays, offsets_ms: list[int]) -> BCSplit:
        """Labels at ``offsets_ms`` and episode bookkeeping of ``demos``."""
        labels, valid = demos.labels_at(offsets_ms)
        episode_end = demos.episode_starts[1:][demos.episode]  # (T,)
        return cls(
            demos=demos,
            labels=labels,
            valid=valid,
            steps_to_end=episode_end - np.arange(demos.n_frames),
            finished=demos.finished[demos.episode],
        )

    @property
    def n_frames(self) -> int:
        return self.demos.n_frames


def check_frame_step(demos: DemoArrays, step_ms: int) -> None:
    """Raise unless consecutive frames of every episode are ``step_ms`` apart (TD counts steps of that length)."""
    same_episode = demos.episode[1:] == demos.episode[:-1]  # (T − 1,)
    gaps = np.diff(demos.race_time_ms)[same_episode]
    if len(gaps) and np.any(gaps != step_ms):
        found = sorted({int(g) for g in np.unique(gaps)})[:5]
        raise PretrainRunError(
            f"td_weight > 0 needs one frame per {step_ms} ms step (record with capture_every_steps 1); the dataset's "
            f"frames are {found} ms apart"
        )


def _to(array: np.ndarray, device: torch.device) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


def _td_batch(
    split: BCSplit, index: np.ndarray, floats: np.ndarray, td: TDSettings, rng: np.random.Generator, images: bool
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """(floats with the mini-race time written, (reward, discount, next_img or empty, next_floats, mask))."""
    demos = split.demos
    steps_to_end = split.steps_to_end[index]  # (B,)
    window = np.minimum(index[:, None] + np.arange(td.n_steps), demos.n_frames - 1)  # (B, n) past the end: ignored
    time = None if td.mini_race_steps is None else rng.integers(0, td.mini_race_steps, len(index))  # (B,)
    nstep = nstep_returns(
        demos.rewards[window], steps_to_end, split.finished[index], td.gamma, time, td.mini_race_steps
    )
    terminal = nstep.discount == 0  # (B,)
    mask = terminal | (nstep.n < steps_to_end)  # (B,) a stored next frame exists unless the window hit the end
    next_index = np.minimum(index + nstep.n, demos.n_frames - 1)  # (B,) any finite row when masked or terminal
    next_floats = demos.floats[next_index]  # (B, F)
    if time is not None:
        floats[:, td.time_slice] = (time * td.step_s)[:, None]
        next_floats[:, td.time_slice] = ((time + nstep.n) * td.step_s)[:, None]
    next_img = demos.images[next_index] if images else np.zeros(0, np.uint8)
    return floats, (nstep.reward, nstep.discount, next_img, next_floats, mask)


def make_batch(
    split: BCSplit,
    index: np.ndarray,
    *,
    device: torch.device,
    images: bool,
    td: TDSettings | None = None,
    rng: np.random.Generator | None = None,
) -> BCBatch:
    """The frames ``index`` (B,) of ``split`` as tensors on ``device``; with ``td`` also their n-step transitions
    (mini-race times drawn from ``rng``)."""
    demos = split.demos
    floats = demos.floats[index]  # (B, F) a copy: the mini-race time may be written in it
    td_batch = None
    if td is not None:
        if rng is None:
            raise ValueError("make_batch with td needs an rng for the mini-race times")
        floats, (reward, discount, next_img, next_floats, mask) = _td_batch(split, index, floats, td, rng, images)
        td_batch = TDBatch(
            reward=_to(reward, device),
            discount=_to(discount, device),
            next_img=_to(next_img, device) if images else None,
            next_floats=_to(next_floats, device),
            mask=_to(mask, device),
        )
    return BCBatch(
        img=_to(demos.images[index], device) if images else None,
        floats=_to(floats, device),
        labels=_to(split.labels[index], device),
        valid=_to(split.valid[index], device),
        action=_to(demos.actions[index].astype(np.int64), device),
        td=td_batch,
    )
