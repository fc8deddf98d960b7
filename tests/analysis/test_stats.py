"""Bootstrap intervals against cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from hairpin.analysis.stats import (
    Difference,
    Estimate,
    bootstrap_ci,
    bootstrap_difference_ci,
    difference,
    estimate,
    intervals_overlap,
)


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


def test_difference_interval_from_the_exact_resampling_distribution() -> None:
    # A = [0, 1]: its resampled mean is 0, 0.5, 1 with probability 1/4, 1/2, 1/4. B = [0, 0, 0, 1]: k/4 with
    # k ~ Binomial(4, 1/4) (P = 0.316, 0.422, 0.211, 0.047, 0.004 for k = 0..4). The lowest differences:
    # -1 (P 0.001), -0.75 (0.012), then -0.5 (0.055): the cdf first passes 0.025 at -0.5. The highest: +1
    # (a* = 1, b* = 0, P 0.079 > 0.025), so the upper bound is 1. No bound sits near a quantile, so 10,000
    # resamples find these values whatever the seed.
    for seed in range(3):
        assert bootstrap_difference_ci(np.array([0.0, 1.0]), np.array([0.0, 0.0, 0.0, 1.0]), seed=seed) == (-0.5, 1.0)


def test_difference_interval_matches_the_normal_one_for_large_samples() -> None:
    # With hundreds of values per side the bootstrap distribution of mean(a) - mean(b) is close to normal with
    # variance var(a)/na + var(b)/nb (population variances: the bootstrap's own), so both bounds land within a
    # few percent of the half-width of the normal-theory interval.
    rng = np.random.default_rng(7)
    a, b = rng.normal(0.0, 1.0, 400), rng.normal(0.5, 2.0, 300)
    low, high = bootstrap_difference_ci(a, b, seed=1)
    centre = a.mean() - b.mean()
    half = 1.959964 * np.sqrt(a.var() / a.size + b.var() / b.size)
    assert low == pytest.approx(centre - half, abs=0.03 * half)
    assert high == pytest.approx(centre + half, abs=0.03 * half)
    assert bootstrap_difference_ci(a, b, seed=1) == (low, high)


def test_difference_skips_missing_runs_and_needs_two_values_a_side() -> None:
    # [1, 3] - [0, 0]: B never varies, A's resampled mean is 1, 2, 3 (1/4, 1/2, 1/4): the interval is [1, 3].
    found = difference([1.0, None, 3.0], [0.0, 0.0])
    assert found == Difference(2.0, 1.0, 3.0, 2, 2)
    assert found.excludes_zero
    assert not difference([1.0, 3.0], [2.0, 2.0]).excludes_zero
    one = difference([1.0, 3.0], [0.0, None, None])
    assert (one.mean, one.low, one.high, one.values_b) == (2.0, None, None, 1)
    assert not one.excludes_zero
    assert difference([None], [1.0, 2.0]) == Difference(None, None, None, 0, 2)
    with pytest.raises(ValueError, match="a value on each side"):
        bootstrap_difference_ci(np.zeros(0), np.ones(2))
