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


def test_epsilon_as_the_share_of_random_steps_and_the_greedy_flags() -> None:
    """With ``epsilon_is_step_share`` the share of steps not taking argmax Q is ε, whatever the hold length."""
    for hold in (1.0, 5.0, 20.0):
        explorer = Explorer(200, 12, hold, np.random.default_rng(0))
        greedy = np.zeros(200, bool)
        explored = 0
        for _ in range(2000):
            actions = explorer.act(Q[:200], greedy, 0.05, 0.0, 0.0, epsilon_is_step_share=True)
            np.testing.assert_array_equal(explorer.last_greedy, actions == 11)
            explored += int((~explorer.last_greedy).sum())
        share = explored / (200 * 2000) * 12 / 11  # a random action is argmax 1 time in 12
        assert abs(share - 0.05) < 0.005, (hold, share)
    old = Explorer(200, 12, 5.0, np.random.default_rng(0))
    random_steps = sum(int((old.act(Q[:200], greedy, 0.05, 0.0, 0.0) != 11).sum()) for _ in range(2000))
    assert random_steps / (200 * 2000) * 12 / 11 > 0.15  # ε as a start probability: several times ε
