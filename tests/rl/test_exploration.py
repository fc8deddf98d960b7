from __future__ import annotations

import numpy as np

from hairpin.rl.exploration import Explorer

Q = np.tile(np.arange(12.0), (1000, 1))  # argmax is 11 everywhere


def test_greedy_cars_always_take_argmax() -> None:
    explorer = Explorer(1000, 12, 5.0, np.random.default_rng(0))
    actions = explorer.act(Q, np.ones(1000, bool), epsilon=1.0, epsilon_boltzmann=0.0, tau=1.0)
    assert (actions == 11).all()


def test_epsilon_fraction_and_hold_length() -> None:
    explorer = Explorer(1000, 12, 4.0, np.random.default_rng(0))
    greedy = np.zeros(1000, bool)
    first = explorer.act(Q, greedy, epsilon=0.3, epsilon_boltzmann=0.0, tau=0.0)
    random_share = (explorer.held_steps > 0).mean() + ((first != 11) & (explorer.held_steps == 0)).mean()
    assert 0.25 < random_share < 0.35
    held = explorer.held_action.copy()
    steps = explorer.held_steps.copy()
    second = explorer.act(Q, greedy, epsilon=0.0, epsilon_boltzmann=0.0, tau=0.0)
    still = steps > 0
    np.testing.assert_array_equal(second[still], held[still])  # held actions go on with ε = 0
    assert (second[~still] == 11).all()
    # geometric holds with mean 4: 1 + remaining steps after the first
    lengths = np.random.default_rng(1).geometric(1 / 4.0, 10_000)
    assert abs(lengths.mean() - 4.0) < 0.2


def test_boltzmann_prefers_close_actions() -> None:
    q = np.zeros((2000, 12))
    q[:, 11], q[:, 10] = 1.0, 0.99  # 10 is close to the best, the others are far
    explorer = Explorer(2000, 12, 1.0, np.random.default_rng(0))
    actions = explorer.act(q, np.zeros(2000, bool), epsilon=0.0, epsilon_boltzmann=1.0, tau=0.05)
    assert set(np.unique(actions)) <= {10, 11}
    assert 0.3 < (actions == 10).mean() < 0.5


def test_reset_drops_held_actions() -> None:
    explorer = Explorer(4, 12, 100.0, np.random.default_rng(0))
    explorer.act(Q[:4], np.zeros(4, bool), epsilon=1.0, epsilon_boltzmann=0.0, tau=0.0)
    explorer.reset(np.array([0, 2]))
    assert explorer.held_steps[0] == 0 and explorer.held_steps[2] == 0
