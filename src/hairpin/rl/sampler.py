"""Batches for the learner: drawn from a replay buffer into reused arrays, then handed to torch.

Fresh multi-megabyte batch arrays cost page faults on every draw; reusing them removes most of the sampling
time. Two sets alternate, so that a non-blocking copy to the GPU still reading one batch is never overwritten
by the next draw.
"""

from __future__ import annotations

import numpy as np
import torch

from hairpin.rl.buffer import ReplayBuffer
from hairpin.rl.nstep import Batch, to_torch
from hairpin.rl.shaping import Potential, shape_rewards

__all__ = ["BatchSampler"]


class BatchSampler:
    """``sample(gamma, rng)`` → the numpy batch (for priority updates) and the same batch as tensors on ``device``;
    the rewards are shaped by ``potentials`` (``rl/shaping.py``)."""

    def __init__(
        self,
        buffer: ReplayBuffer,
        batch_size: int,
        device: torch.device,
        mini_race_steps: int | None,
        mini_race_oversample: tuple[int, int] = (0, 0),
        potentials: list[Potential] | None = None,
    ) -> None:
        self.buffer, self.batch_size, self.device = buffer, batch_size, device
        self.mini_race_steps, self.mini_race_oversample = mini_race_steps, mini_race_oversample
        self.potentials = potentials or []
        self._arrays = self._allocate(batch_size)
        self._turn = 0

    def _allocate(self, batch_size: int) -> list[Batch[np.ndarray]]:
        pinned = self.device.type == "cuda"
        return [self.buffer.empty_batch(batch_size, pinned=pinned) for _ in range(2)]

    def resize(self, batch_size: int) -> None:
        """Draw batches of ``batch_size`` from now on (a batch-size schedule); a no-op when it is the same."""
        if batch_size != self.batch_size:
            self.batch_size, self._arrays = batch_size, self._allocate(batch_size)

    def sample(self, gamma: float, rng: np.random.Generator) -> tuple[Batch[np.ndarray], Batch[torch.Tensor]]:
        out = self._arrays[self._turn]
        self._turn = 1 - self._turn
        batch = self.buffer.sample(
            self.batch_size,
            gamma,
            rng,
            mini_race_steps=self.mini_race_steps,
            mini_race_oversample=self.mini_race_oversample,
            out=out,
        )
        shape_rewards(batch, self.potentials, gamma)
        return batch, to_torch(batch, self.device)
