"""Action choice of the collectors: greedy, ε-greedy with held random actions, and Boltzmann-ε, batched over cars.

A random action held for a single 50 ms step barely changes where a car goes, so a fresh agent that explores
with one-step random actions stands at the start line and learns nothing. An ε draw therefore starts a random
action that is held for a random number of steps (geometric, mean ``random_action_hold_steps``); 1 gives the
classic one-step ε-greedy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Explorer"]


class Explorer:
    """Chooses every car's action from its Q-values; remembers the random actions being held."""

    def __init__(self, n_cars: int, n_actions: int, hold_steps: float, rng: np.random.Generator) -> None:
        if hold_steps < 1:
            raise ValueError(f"random actions are held for at least 1 step on average, got {hold_steps}")
        self.n_actions, self.hold_steps, self.rng = n_actions, hold_steps, rng
        self.held_action = np.zeros(n_cars, np.int64)
        self.held_steps = np.zeros(n_cars, np.int64)
        self.last_greedy = np.ones(n_cars, np.bool_)

    def reset(self, cars: np.ndarray) -> None:
        """Forget the held actions of cars that start a new race."""
        self.held_steps[cars] = 0

    def start_probability(self, epsilon: float) -> float:
        """The probability of starting a held random action that makes a share ``epsilon`` of all steps random.

        A start holds for h steps on average (h = ``hold_steps``) and comes after (1 − p)/p free steps on average,
        so the random share is h / (h + (1 − p)/p); solving for a share ε gives p = ε / (h(1 − ε) + ε).
        """
        if epsilon >= 1.0:
            return 1.0
        return epsilon / (self.hold_steps * (1.0 - epsilon) + epsilon)

    def act(
        self,
        q: np.ndarray,
        greedy: np.ndarray,
        epsilon: float,
        epsilon_boltzmann: float,
        tau: float,
        epsilon_is_step_share: bool = False,
    ) -> np.ndarray:
        """Actions (n,) for Q-values ``q`` (n, A); cars with ``greedy`` (n,) True take argmax Q.

        Exploring cars hold their random action while it lasts; otherwise, with probability ε they start a new one
        (with ``epsilon_is_step_share``, the probability that makes ε the share of random steps), with probability
        ε_B they take argmax(Q + τ·N(0, 1)), and argmax Q else. ``last_greedy`` (n,) then says which cars took
        argmax Q.
        """
        rng = self.rng
        n = q.shape[0]
        if epsilon_is_step_share:
            epsilon = self.start_probability(epsilon)
        best = q.argmax(1)  # (n,)
        u = rng.random(n)  # (n,)
        noisy = (q + tau * rng.standard_normal(q.shape)).argmax(1)  # (n,)
        start = ~greedy & (self.held_steps == 0) & (u < epsilon)  # (n,)
        self.held_action[start] = rng.integers(0, self.n_actions, int(start.sum()))
        self.held_steps[start] = rng.geometric(1.0 / self.hold_steps, int(start.sum()))
        holding = ~greedy & (self.held_steps > 0)  # (n,)
        boltzmann = ~greedy & ~holding & (u >= epsilon) & (u < epsilon + epsilon_boltzmann)  # (n,)
        actions = np.where(holding, self.held_action, np.where(boltzmann, noisy, best))
        self.held_steps[holding] -= 1
        self.last_greedy = actions == best
        return actions
