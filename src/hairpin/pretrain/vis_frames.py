"""Frames of a ``DemoArrays`` stacked as channels: the frame and the ``n_stack − 1`` before it in its own episode.

The stack is ordered oldest first, so the frame itself is the last channel. At an episode's start the missing
earlier frames are the episode's first frame repeated, never frames of the previous episode. A batch is gathered
from the dataset's image array by index (one fancy-indexing copy of the batch), so no epoch copies the dataset.
"""

from __future__ import annotations

import numpy as np

from hairpin.data.arrays import DemoArrays

__all__ = ["FrameStacker", "stack_indices"]


def stack_indices(frames: np.ndarray, episode_first: np.ndarray, n_stack: int) -> np.ndarray:
    """Rows of each frame's stack: frames (B,), first frame of their episode (B,) → (B, n_stack), oldest first."""
    back = np.arange(n_stack - 1, -1, -1, dtype=np.int64)  # (n_stack,) n_stack−1 … 0 frames back
    rows = np.asarray(frames, np.int64)[:, None] - back[None, :]  # (B, n_stack)
    return np.maximum(rows, np.asarray(episode_first, np.int64)[:, None])  # (B, n_stack)


class FrameStacker:
    """Builds (B, n_stack, H, W) uint8 batches of stacked frames from a single-channel ``DemoArrays``."""

    def __init__(self, demos: DemoArrays, n_stack: int) -> None:
        if n_stack < 1:
            raise ValueError(f"n_stack must be at least 1, got {n_stack}")
        if demos.images.shape[1] != 1:
            raise ValueError(f"frame stacking needs single-channel images (T, 1, H, W), got {demos.images.shape}")
        self.images = demos.images[:, 0]  # (T, H, W) view, no copy
        self.first_frame = demos.episode_starts[demos.episode]  # (T,) first frame of each frame's episode
        self.n_stack = n_stack

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, frames: np.ndarray) -> np.ndarray:
        """Stacked frames (B, n_stack, H, W) uint8 for the dataset rows ``frames`` (B,)."""
        frames = np.asarray(frames, np.int64)
        if self.n_stack == 1:
            return self.images[frames][:, None]  # (B, 1, H, W)
        rows = stack_indices(frames, self.first_frame[frames], self.n_stack)  # (B, n_stack)
        return self.images[rows]  # (B, n_stack, H, W)
