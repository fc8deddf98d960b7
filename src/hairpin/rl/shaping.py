"""Potential-based reward shaping (Ng, Harada & Russell 1999) on the distance to the reference line, as Linesight's.

The potential of an observation is φ(s) = per_m · clip(d, min_m, max_m), where d is the car's horizontal distance
to the reference line, read from the floats alone (so every backend gets the same shaping): the line through the
first two reference points ahead, in the car frame, extended back to the car. It is exact on straights and
overestimates d in tight turns. The n-step reward of a transition becomes r + discount · φ(s′) − φ(s), with
discount = 0 at a finish or at the end of the mini-race; a potential difference leaves the optimal policy of
whole races unchanged and pulls the early, random car towards the line.
"""

from __future__ import annotations

import numpy as np

from hairpin.obs import FloatLayout
from hairpin.rl.nstep import Batch

__all__ = ["LinePotential", "distance_to_line"]


def distance_to_line(floats: np.ndarray, layout: FloatLayout) -> np.ndarray:
    """Horizontal distance (B,) in metres from the car to the line through its first two reference points."""
    points = floats[:, layout.ref_points].reshape(len(floats), layout.n_ref_points, 3)  # (B, K, 3), car frame
    first, second = points[:, 0, ::2], points[:, 1, ::2]  # (B, 2): x (right), z (forward)
    along = second - first  # (B, 2)
    length = np.maximum(np.hypot(along[:, 0], along[:, 1]), 1e-6)  # (B,)
    return np.abs(first[:, 0] * along[:, 1] - first[:, 1] * along[:, 0]) / length  # (B,)


class LinePotential:
    """φ(s) = per_m · clip(distance to the line, min_m, max_m); ``apply`` shapes a sampled batch in place."""

    def __init__(self, layout: FloatLayout, per_m: float, min_m: float, max_m: float) -> None:
        if layout.n_ref_points < 2:
            raise ValueError("shaping on the distance to the line needs at least 2 reference points in the floats")
        self.layout, self.per_m, self.min_m, self.max_m = layout, per_m, min_m, max_m

    def __call__(self, floats: np.ndarray) -> np.ndarray:
        """φ (B,) float32 of the observations ``floats`` (B, F)."""
        distance = np.clip(distance_to_line(floats, self.layout), self.min_m, self.max_m)  # (B,)
        return (self.per_m * distance).astype(np.float32)

    def apply(self, batch: Batch[np.ndarray]) -> None:
        """reward += discount · φ(next obs) − φ(obs), in place."""
        batch.reward[:] += batch.discount * self(batch.next_floats) - self(batch.floats)
