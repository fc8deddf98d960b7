"""A sum tree over transition priorities for proportional prioritised replay (Schaul et al. 2016, appendix B.2.1).

Vectorised numpy: every operation walks the tree level by level for a whole batch of leaves at once, so a
batch of 512 costs about 2·log2(capacity) numpy calls, never a Python loop over the batch. Parents are always
recomputed as the sum of their children (not updated by deltas), so no rounding error accumulates.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SumTree"]


class SumTree:
    """Priorities of ``capacity`` leaves in a binary tree; node 1 is the root, leaves start at ``self.first_leaf``."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"sum tree capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.first_leaf = 1 << max(0, (capacity - 1).bit_length())  # a power of two >= capacity
        self.depth = self.first_leaf.bit_length() - 1  # levels below the root
        self._tree = np.zeros(2 * self.first_leaf, np.float64)

    @property
    def total(self) -> float:
        """Sum of all priorities."""
        return float(self._tree[1])

    def get(self, index: np.ndarray) -> np.ndarray:
        """Priorities (B,) of the leaves ``index`` (B,)."""
        return self._tree[self.first_leaf + np.asarray(index)]

    def set(self, index: np.ndarray, priority: np.ndarray | float) -> None:
        """Set the leaves ``index`` (B,) to ``priority`` (B,) or a scalar; with repeats the last one wins."""
        nodes = self.first_leaf + np.asarray(index, np.int64)
        if nodes.size == 0:
            return
        self._tree[nodes] = priority
        for _ in range(self.depth):
            nodes = np.unique(nodes >> 1)
            self._tree[nodes] = self._tree[2 * nodes] + self._tree[2 * nodes + 1]

    def set_range(self, start: int, stop: int, priority: np.ndarray | float) -> None:
        """Set the contiguous leaves [start, stop) to ``priority`` (stop − start,) or a scalar."""
        if not 0 <= start <= stop <= self.capacity:
            raise IndexError(f"leaf range [{start}, {stop}) outside a sum tree of {self.capacity} leaves")
        if start == stop:
            return
        lo, hi = self.first_leaf + start, self.first_leaf + stop - 1  # inclusive node range of one level
        self._tree[lo : hi + 1] = priority
        for _ in range(self.depth):
            lo, hi = lo >> 1, hi >> 1
            self._tree[lo : hi + 1] = self._tree[2 * lo : 2 * hi + 2 : 2] + self._tree[2 * lo + 1 : 2 * hi + 2 : 2]

    def find(self, mass: np.ndarray) -> np.ndarray:
        """Leaves (B,) whose cumulative-priority interval holds ``mass`` (B,) in [0, total); never a zero leaf."""
        node = np.ones(len(mass), np.int64)
        mass = np.asarray(mass, np.float64).copy()
        for _ in range(self.depth):
            left = self._tree[2 * node]
            # Go right when the mass is past the left subtree, unless rounding would lead into an empty subtree.
            go_right = (mass >= left) & (self._tree[2 * node + 1] > 0)
            mass -= np.where(go_right, left, 0.0)
            node = 2 * node + go_right
        return node - self.first_leaf

    def sample(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Leaves (B,) drawn with probability ∝ priority, one per equal slice of the total mass (stratified)."""
        total = self.total
        if total <= 0:
            raise ValueError("cannot sample from a sum tree whose priorities are all zero")
        mass = (np.arange(batch_size) + rng.random(batch_size)) * (total / batch_size)  # (B,)
        return self.find(mass)
