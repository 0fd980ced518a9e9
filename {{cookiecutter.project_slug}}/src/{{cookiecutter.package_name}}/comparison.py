"""Paired bootstrap comparison of a challenger with the champion on the same held-out trips.

One point estimate per model on one hold-out is a coin toss when the hold-out is small or noisy.
Here the hold-out is resampled with replacement many times; both models are scored on the SAME
resamples, so what varies between resamples (which trips happen to be drawn) cancels out in the
difference, and the distribution of the difference says how sure we are that the challenger is
not worse. Two rules decide from that distribution (settings.PROMOTION_RULE):

- "non_inferiority": for every threshold metric, the upper confidence bound of how much worse
  the challenger is stays within the threshold's tolerance (max_relative_worsening of the
  champion's value). An equally good challenger passes.
- "win_rate": the challenger is better on at least settings.BOOTSTRAP_MIN_WIN_RATE of the
  resamples, for every threshold metric. An equally good challenger wins about half of them and
  is refused: only a clearly better one replaces the champion.

Everything here is a pure function of numpy arrays.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .settings import Threshold

RULES = ("non_inferiority", "win_rate")
# Resamples drawn at once: their counts matrix holds at most this many cells (32 MB of float64).
_CELLS_PER_CHUNK = 4_000_000


def _rmse(sums: np.ndarray, n: int, model: int) -> np.ndarray:
    return np.sqrt(sums[:, model] / n)


def _mae(sums: np.ndarray, n: int, model: int) -> np.ndarray:
    return sums[:, 2 + model] / n


def _r2(sums: np.ndarray, n: int, model: int) -> np.ndarray:
    total = sums[:, 5] - sums[:, 4] ** 2 / n  # sum of squares around each resample's mean
    return 1.0 - sums[:, model] / np.maximum(total, 1e-12)


# Metric (as mlflow.models.evaluate names it) -> its value per resample, from the resample's sums
# of the columns of _row_terms, for model 0 (challenger) or 1 (champion).
RESAMPLED_METRICS: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "root_mean_squared_error": _rmse,
    "mean_absolute_error": _mae,
    "r2_score": _r2,
}


def _row_terms(actual: np.ndarray, challenger: np.ndarray, champion: np.ndarray) -> np.ndarray:
    """Per row: the terms whose sums over a resample give every metric of both models."""
    return np.column_stack(
        [
            (challenger - actual) ** 2,
            (champion - actual) ** 2,
            np.abs(challenger - actual),
            np.abs(champion - actual),
            actual,
            actual**2,
        ]
    )


def resampled_sums(terms: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Sums of `terms` (rows x columns) over `resamples` bootstrap resamples of its rows.

    Each resample draws n row indices with replacement from np.random.default_rng(seed); their
    counts per row, times the terms, is one matrix product per chunk of resamples, so the work is
    vectorised and memory stays bounded whatever the number of rows.
    """
    n = len(terms)
    rng = np.random.default_rng(seed)
    chunk = max(1, _CELLS_PER_CHUNK // n)
    sums = np.empty((resamples, terms.shape[1]))
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        indices = rng.integers(0, n, size=(size, n), dtype=np.int32)  # half the bytes of int64
        # Offsetting each resample's indices by its row makes one bincount count all of them.
        flat = (indices + np.arange(size)[:, None] * n).ravel()
        counts = np.bincount(flat, minlength=size * n).reshape(size, n)
        sums[start : start + size] = counts @ terms
    return sums


@dataclass(frozen=True)
class MetricComparison:
    """One metric of challenger and champion over the resamples.

    `worsening` is how much worse the challenger is, in the metric's units (challenger minus
    champion for an error, champion minus challenger for a score): below 0 means better.
    """

    metric: str
    challenger: float  # on the whole hold-out
    champion: float
    # The worsening's (1 - confidence) and `confidence` quantiles over the resamples; the upper
    # one is the one-sided upper confidence bound the non-inferiority rule compares.
    worsening_low: float
    worsening_high: float
    win_rate: float  # share of resamples on which the challenger is strictly better
    tolerance: float  # the largest worsening allowed, in the metric's units
    passed: bool
    reason: str
    # The worsening on each resample, for the report's histogram.
    worsening: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False, compare=False)


@dataclass(frozen=True)
class Comparison:
    rule: str
    resamples: int
    seed: int
    confidence: float
    min_win_rate: float
    metrics: tuple[MetricComparison, ...]

    @property
    def passed(self) -> bool:
        return all(metric.passed for metric in self.metrics)

    @property
    def failures(self) -> list[str]:
        return [metric.reason for metric in self.metrics if not metric.passed]

    def describe_rule(self) -> str:
        if self.rule == "win_rate":
            return (
                f"win_rate: better than the champion on at least {self.min_win_rate:.0%} "
                f"of {self.resamples:,} bootstrap resamples"
            )
        return (
            f"non_inferiority: at most the tolerated worsening at {self.confidence:.0%} "
            f"confidence over {self.resamples:,} bootstrap resamples"
        )


def point_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Every metric of RESAMPLED_METRICS of one model on all of `actual`."""
    actual, predicted = (np.asarray(v, dtype=float).ravel() for v in (actual, predicted))
    whole = _row_terms(actual, predicted, predicted).sum(axis=0, keepdims=True)
    return {name: float(of(whole, len(actual), 0)[0]) for name, of in RESAMPLED_METRICS.items()}


def compare(
    actual: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray,
    thresholds: Sequence[Threshold],
    *,
    rule: str,
    resamples: int,
    seed: int,
    confidence: float,
    min_win_rate: float,
) -> Comparison:
    """Challenger against champion on paired resamples, for every threshold metric resampled here.

    Thresholds on metrics outside RESAMPLED_METRICS are left to the point comparison.
    """
    if rule not in RULES:
        raise ValueError(f"promotion rule '{rule}' is not one of {', '.join(RULES)}")
    actual, challenger, champion = (
        np.asarray(values, dtype=float).ravel() for values in (actual, challenger, champion)
    )
    n = len(actual)
    terms = _row_terms(actual, challenger, champion)
    sums = resampled_sums(terms, resamples, seed)
    whole = terms.sum(axis=0, keepdims=True)
    results = []
    for threshold in thresholds:
        metric_of = RESAMPLED_METRICS.get(threshold.metric)
        if metric_of is None:
            continue
        sign = -1.0 if threshold.higher_is_better else 1.0
        worsening = sign * (metric_of(sums, n, 0) - metric_of(sums, n, 1))
        challenger_value = float(metric_of(whole, n, 0)[0])
        champion_value = float(metric_of(whole, n, 1)[0])
        tolerance = threshold.max_relative_worsening * abs(champion_value)
        low, high = np.quantile(worsening, [1 - confidence, confidence])
        win_rate = float(np.mean(worsening < 0))
        if rule == "non_inferiority":
            passed = high <= tolerance
            reason = (
                f"{threshold.metric}: the challenger may be up to {high:.4g} worse than the "
                f"champion ({confidence:.0%} upper bound), more than the {tolerance:.4g} "
                f"tolerated ({threshold.max_relative_worsening:.0%} of {champion_value:.4g})"
            )
        else:
            passed = win_rate >= min_win_rate
            reason = (
                f"{threshold.metric}: the challenger is better on {win_rate:.0%} of the "
                f"resamples, fewer than the {min_win_rate:.0%} required"
            )
        results.append(
            MetricComparison(
                threshold.metric,
                challenger_value,
                champion_value,
                float(low) + 0.0,  # + 0.0: an identical model's -0.0 reads 0
                float(high) + 0.0,
                win_rate,
                tolerance,
                bool(passed),
                reason,
                worsening,
            )
        )
    return Comparison(rule, resamples, seed, confidence, min_win_rate, tuple(results))
