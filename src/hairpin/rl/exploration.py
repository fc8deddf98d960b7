"""Action choice of the collectors: greedy, ε-greedy and Boltzmann-ε, batched over cars."""

from __future__ import annotations

import numpy as np

__all__ = ["choose_actions"]


def choose_actions(
    q: np.ndarray,
    greedy: np.ndarray,
    epsilon: float,
    epsilon_boltzmann: float,
    tau_boltzmann: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Actions (n,) for Q-values ``q`` (n, A); cars with ``greedy`` (n,) True always take argmax Q.

    The others take, with probability ε, a uniformly random action; with probability ε_B, argmax(Q + τ·N(0, 1))
    (a softer exploration that prefers actions whose values are close to the best); otherwise argmax Q.
    """
    n, n_actions = q.shape
    actions = q.argmax(1)  # (n,)
    u = rng.random(n)
    noisy = (q + tau_boltzmann * rng.standard_normal(q.shape)).argmax(1)  # (n,)
    uniform = rng.integers(0, n_actions, n)  # (n,)
    actions = np.where((u >= epsilon) & (u < epsilon + epsilon_boltzmann), noisy, actions)
    actions = np.where(u < epsilon, uniform, actions)
    return np.where(greedy, q.argmax(1), actions)
