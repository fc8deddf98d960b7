"""Mean over seeds with a percentile bootstrap confidence interval (Efron & Tibshirani 1993, ch. 13), and the
difference of two variants' means with its own interval (the two-sample bootstrap, ibid. ch. 16).

The interval resamples the seeds' values with replacement and takes the quantiles of the resampled means
(``inverted_cdf``: each bound is a mean some resample really had). It comes from a seeded generator, so the same
runs give the same table. With 2 to 5 seeds a bootstrap interval is too narrow rather than too wide: two variants
whose intervals overlap are not shown to differ, and two that do not overlap are a hint, not a test.

The difference A − B resamples each variant's seeds on their own (the seeds of two variants are not paired: seed 0
of A and seed 0 of B share no randomness that matters once they train differently) and takes the quantiles of the
resampled mean of A minus the resampled mean of B. An interval that excludes 0 is the study's criterion for "one
variant is better"; one that includes it means no difference was detected with these seeds, not that there is none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MIN_VALUES_TO_COMPARE",
    "Difference",
    "Estimate",
    "bootstrap_ci",
    "bootstrap_difference_ci",
    "difference",
    "estimate",
    "intervals_overlap",
]

LEVEL = 0.95
RESAMPLES = 10_000
MIN_VALUES_TO_COMPARE = 2
"""Values each side needs for a difference interval: with one, the resamples of that side never vary, and the
interval would speak only of the other side's spread."""


def bootstrap_ci(
    values: np.ndarray, *, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the ``level`` percentile-bootstrap interval of the mean over axis 0 of ``values`` (k, ...)."""
    values = np.asarray(values, np.float64)
    if values.shape[0] < 1:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, values.shape[0], size=(resamples, values.shape[0]))  # (B, k)
    means = values[picks].mean(axis=1)  # (B, ...)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail], axis=0, method="inverted_cdf")
    return low, high


@dataclass(frozen=True)
class Estimate:
    """A cell over the runs of one variant: mean of the runs that have a value, and its interval (2+ runs)."""

    mean: float | None
    low: float | None
    high: float | None
    runs_with_value: int
    runs: int


def estimate(values: Sequence[float | None], *, seed: int = 0) -> Estimate:
    """Mean and bootstrap interval of the non-missing ``values`` (one per run of a variant)."""
    present = np.array([v for v in values if v is not None], np.float64)
    if present.size == 0:
        return Estimate(None, None, None, 0, len(values))
    mean = float(present.mean())
    if present.size == 1:
        return Estimate(mean, None, None, 1, len(values))
    low, high = bootstrap_ci(present, seed=seed)
    return Estimate(mean, float(low), float(high), int(present.size), len(values))


def intervals_overlap(a: Estimate, b: Estimate) -> bool:
    """Whether both estimates have an interval and the two intervals share a point."""
    if a.low is None or a.high is None or b.low is None or b.high is None:
        return False
    return a.low <= b.high and b.low <= a.high


def bootstrap_difference_ci(
    a: np.ndarray, b: np.ndarray, *, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Bounds of the ``level`` percentile-bootstrap interval of ``mean(a) - mean(b)``, each side resampled alone."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size < 1 or b.size < 1:
        raise ValueError(f"bootstrap_difference_ci needs a value on each side, got {a.size} and {b.size}")
    rng = np.random.default_rng(seed)
    picks_a = rng.integers(0, a.size, size=(resamples, a.size))  # (B, ka)
    picks_b = rng.integers(0, b.size, size=(resamples, b.size))  # (B, kb)
    differences = a[picks_a].mean(axis=1) - b[picks_b].mean(axis=1)  # (B,)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(differences, [tail, 1.0 - tail], method="inverted_cdf")
    return float(low), float(high)


@dataclass(frozen=True)
class Difference:
    """Mean of A minus mean of B over the runs that have a value, with its interval when each side has
    ``MIN_VALUES_TO_COMPARE`` values."""

    mean: float | None
    low: float | None
    high: float | None
    values_a: int
    values_b: int

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval exists and lies wholly on one side of 0."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def difference(a: Sequence[float | None], b: Sequence[float | None], *, seed: int = 0) -> Difference:
    """Mean of the non-missing ``a`` minus that of ``b`` (one value per run), with its bootstrap interval."""
    present_a = np.array([v for v in a if v is not None], np.float64)
    present_b = np.array([v for v in b if v is not None], np.float64)
    if present_a.size == 0 or present_b.size == 0:
        return Difference(None, None, None, int(present_a.size), int(present_b.size))
    mean = float(present_a.mean() - present_b.mean())
    if min(present_a.size, present_b.size) < MIN_VALUES_TO_COMPARE:
        return Difference(mean, None, None, int(present_a.size), int(present_b.size))
    low, high = bootstrap_difference_ci(present_a, present_b, seed=seed)
    return Difference(mean, low, high, int(present_a.size), int(present_b.size))
