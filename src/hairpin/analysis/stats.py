"""Mean over seeds with a percentile bootstrap confidence interval (Efron & Tibshirani 1993, ch. 13).

The interval resamples the seeds' values with replacement and takes the quantiles of the resampled means
(``inverted_cdf``: each bound is a mean some resample really had). It comes from a seeded generator, so the same
runs give the same table. With 2 to 5 seeds a bootstrap interval is too narrow rather than too wide: two variants
whose intervals overlap are not shown to differ, and two that do not overlap are a hint, not a test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Estimate", "bootstrap_ci", "estimate", "intervals_overlap"]

LEVEL = 0.95
RESAMPLES = 10_000


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
