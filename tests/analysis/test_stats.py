"""Bootstrap intervals against cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from hairpin.analysis.stats import Estimate, bootstrap_ci, estimate, intervals_overlap


def test_two_values_give_their_own_range() -> None:
    # Resampling [1, 3] twice gives means 1, 2, 3 with probability 1/4, 1/2, 1/4: the 2.5% and 97.5% quantiles
    # of that distribution are 1 and 3.
    low, high = bootstrap_ci(np.array([1.0, 3.0]))
    assert (low, high) == (1.0, 3.0)


def test_upper_bound_of_a_rare_success() -> None:
    # [0, 0, 0, 1]: the resampled mean is k/4 with k ~ Binomial(4, 1/4). P(k <= 2) = 0.949 < 0.975 and
    # P(k <= 3) = 0.996, so the upper bound is 3/4; P(k = 0) = 0.316 >= 0.025, so the lower bound is 0.
    low, high = bootstrap_ci(np.array([0.0, 0.0, 0.0, 1.0]))
    assert (low, high) == (0.0, 0.75)


def test_estimate_skips_missing_runs_and_is_seeded() -> None:
    found = estimate([2.0, None, 4.0])
    assert (found.mean, found.runs_with_value, found.runs) == (3.0, 2, 3)
    assert (found.low, found.high) == (2.0, 4.0)
    assert estimate([5.0]) == Estimate(5.0, None, None, 1, 1)
    assert estimate([None, None]) == Estimate(None, None, None, 0, 2)
    values = np.random.default_rng(1).normal(size=6)
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    low, high = bootstrap_ci(values)
    assert low < values.mean() < high


def test_overlap_needs_two_intervals() -> None:
    a, b = Estimate(1.0, 0.5, 1.5, 3, 3), Estimate(2.0, 1.4, 2.6, 3, 3)
    assert intervals_overlap(a, b)
    assert not intervals_overlap(a, Estimate(3.0, 2.0, 4.0, 3, 3))
    assert not intervals_overlap(a, Estimate(1.0, None, None, 1, 1))
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_ci(np.zeros(0))
