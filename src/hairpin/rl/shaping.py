"""Potential-based reward shaping (Ng, Harada & Russell 1999) on the distance to the reference line, as Linesight's.

The potential of an observation is φ(s) = per_m · clip(d, min_m, max_m), where d is the car's horizontal distance
to the reference line, read from the floats alone (so every backend gets the same shaping): the line through the
first two reference points ahead, in the car frame, extended back to the car. It is exact on straights and
overestimates d in tight turns. The n-step reward of a transition becomes r + discount · φ(s′) − φ(s), with
discount = 0 at a finish or at the end of the mini-race; a potential difference leaves the optimal policy of
whole races unchanged and pulls the early, random car towards the line.

The time potential takes the race clock's reward out of the values the network learns. Within a mini-race of M
steps, every step costs the same reward c (``reward.per_ms`` × the step's length) whatever the policy does, until a
finish ends the race. With φ(s) = c · Σ_{k < M − t} γ^k (the clock's reward over what is left of the mini-race at
step t), the shaped n-step reward of a non-terminal transition loses its clock part exactly, and a finish gains
−φ(s), the clock's reward it spares. The values then hold only progress and finishing early (a few units) instead
of being dominated by the clock (−8.4 over a 7 s mini-race at −0.06 a step), which the network otherwise spends its
first thousands of batches learning while every action's value drifts together. Actions are chosen at t = 0,
where φ is one constant: the greedy policy is unchanged.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from hairpin.obs import FloatLayout
from hairpin.rl.nstep import Batch

__all__ = ["LinePotential", "Potential", "TimePotential", "distance_to_line", "shape_rewards"]


class Potential(Protocol):
    """φ (B,) float32 of observations ``floats`` (B, F) at discount ``gamma``."""

    def __call__(self, floats: np.ndarray, gamma: float) -> np.ndarray: ...


def shape_rewards(batch: Batch[np.ndarray], potentials: list[Potential], gamma: float) -> None:
    """reward += discount · φ(next obs) − φ(obs) for each potential, in place (``discount`` is 0 when terminal)."""
    for potential in potentials:
        batch.reward[:] += batch.discount * potential(batch.next_floats, gamma) - potential(batch.floats, gamma)


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

    def __call__(self, floats: np.ndarray, gamma: float = 1.0) -> np.ndarray:
        """φ (B,) float32 of the observations ``floats`` (B, F); ``gamma`` plays no part."""
        distance = np.clip(distance_to_line(floats, self.layout), self.min_m, self.max_m)  # (B,)
        return (self.per_m * distance).astype(np.float32)


class TimePotential:
    """φ(s) = c · Σ_{k < M − t} γ^k: the clock's reward ``c`` per step over the rest of a mini-race of ``horizon``
    steps, t read from the ``mini_race_time`` float (seconds, ``step_s`` per step)."""

    def __init__(self, layout: FloatLayout, reward_per_step: float, horizon: int, step_s: float) -> None:
        if horizon < 1:
            raise ValueError(f"the mini-race horizon must be at least 1 step, got {horizon}")
        self.slot, self.c, self.horizon, self.step_s = layout.mini_race_time, reward_per_step, horizon, step_s

    def __call__(self, floats: np.ndarray, gamma: float) -> np.ndarray:
        left = self.horizon - np.rint(floats[:, self.slot][:, 0] / self.step_s)  # (B,) steps left in the mini-race
        left = np.clip(left, 0, self.horizon)
        total = left if gamma == 1.0 else (1.0 - np.float64(gamma) ** left) / (1.0 - gamma)  # (B,) Σ_{k<left} γ^k
        return (self.c * total).astype(np.float32)
