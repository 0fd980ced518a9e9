"""The paired bootstrap: deterministic, and deciding as its rule says rather than by luck.

Each seed draws a new hold-out (the trips the two models are judged on) and new resamples of it,
so counting verdicts over 20 seeds measures how often the rule promotes, not one lucky draw.
"""

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.comparison import compare, resampled_sums
from {{ cookiecutter.package_name }}.settings import VALIDATION_THRESHOLDS

SEEDS = range(20)
HOLDOUT_ROWS = 6_000  # about the hold-out of the sample (20% of its 30,000 trips)


def holdout(seed: int, challenger_noise: float, champion_noise: float = 2.0):
    """Fares, and two models' predictions that share most of their error, as fitted models do."""
    rng = np.random.default_rng(seed)
    actual = 5 + rng.gamma(2.0, 6.0, HOLDOUT_ROWS)
    shared = rng.normal(0, 2.5, HOLDOUT_ROWS)  # what neither model can explain
    challenger = actual + shared + rng.normal(0, challenger_noise, HOLDOUT_ROWS)
    champion = actual + shared + rng.normal(0, champion_noise, HOLDOUT_ROWS)
    return actual, challenger, champion


def verdict(seed: int, rule: str, challenger_noise: float, **settings):
    options = {"resamples": 1_000, "confidence": 0.95, "min_win_rate": 0.9} | settings
    return compare(
        *holdout(seed, challenger_noise),
        VALIDATION_THRESHOLDS,
        rule=rule,
        seed=seed,
        **options,
    )


def test_the_sums_are_over_resamples_of_as_many_rows_as_the_holdout():
    terms = np.column_stack([np.ones(1_000), np.arange(1_000.0)])
    sums = resampled_sums(terms, resamples=300, seed=1)
    assert sums.shape == (300, 2)
    assert np.all(sums[:, 0] == 1_000)  # n rows drawn with replacement, every time
    assert len(np.unique(sums[:, 1])) > 290  # different rows each time
    # The mean of a resample's row numbers scatters around the hold-out's as theory says.
    assert sums[:, 1].mean() / 1_000 == pytest.approx(499.5, abs=3)
    expected_spread = np.arange(1_000).std() / 1_000**0.5
    assert (sums[:, 1] / 1_000).std() == pytest.approx(expected_spread, rel=0.15)


def test_the_same_seed_gives_the_same_verdict_and_another_seed_other_resamples():
    first = verdict(3, "non_inferiority", 2.0)
    assert verdict(3, "non_inferiority", 2.0) == first
    other = compare(
        *holdout(3, 2.0),
        VALIDATION_THRESHOLDS,
        rule="non_inferiority",
        seed=4,
        resamples=1_000,
        confidence=0.95,
        min_win_rate=0.9,
    )
    assert other.metrics[0].worsening_high != first.metrics[0].worsening_high
    assert other.metrics[0].challenger == first.metrics[0].challenger  # same hold-out


def test_every_threshold_metric_is_compared_with_its_value_on_the_whole_holdout():
    actual, challenger, champion = holdout(0, 2.0)
    result = verdict(0, "non_inferiority", 2.0)
    by_metric = {metric.metric: metric for metric in result.metrics}
    assert set(by_metric) == {t.metric for t in VALIDATION_THRESHOLDS}
    rmse = by_metric["root_mean_squared_error"]
    assert rmse.challenger == pytest.approx(np.sqrt(np.mean((challenger - actual) ** 2)))
    assert rmse.champion == pytest.approx(np.sqrt(np.mean((champion - actual) ** 2)))
    assert rmse.tolerance == pytest.approx(0.05 * rmse.champion)
    mae = by_metric["mean_absolute_error"]
    assert mae.challenger == pytest.approx(np.mean(np.abs(challenger - actual)))
    r2 = by_metric["r2_score"]
    assert r2.champion == pytest.approx(
        1 - np.sum((champion - actual) ** 2) / np.sum((actual - actual.mean()) ** 2)
    )
    for metric in result.metrics:
        assert metric.worsening_low < metric.worsening_high
        assert 0 <= metric.win_rate <= 1


def test_non_inferiority_promotes_an_equally_good_challenger():
    # Equal quality: the difference scatters around 0, its 95% upper bound stays well inside
    # the 5% tolerance, so all but an improbable seed promote.
    promoted = [verdict(seed, "non_inferiority", 2.0).passed for seed in SEEDS]
    assert sum(promoted) >= 18


def test_win_rate_refuses_an_equally_good_challenger_on_most_seeds():
    # Equal quality: the challenger wins about half the resamples, and reaches 90% on every
    # metric only where the hold-out happens to favour it, about one seed in ten or fewer.
    results = [verdict(seed, "win_rate", 2.0) for seed in SEEDS]
    assert sum(result.passed for result in results) <= 4
    refused = next(result for result in results if not result.passed)
    assert "required" in refused.failures[0]
    assert "win_rate" in refused.describe_rule()


@pytest.mark.parametrize("rule", ["non_inferiority", "win_rate"])
def test_a_clearly_worse_challenger_is_refused_on_every_seed(rule):
    # Its error grows by about a fifth: beyond the 5% tolerance, and it hardly ever wins.
    results = [verdict(seed, rule, 3.5) for seed in SEEDS]
    assert not any(result.passed for result in results)
    for result in results:
        assert {metric.metric for metric in result.metrics if not metric.passed} >= {
            "root_mean_squared_error",
            "mean_absolute_error",
        }


@pytest.mark.parametrize("rule", ["non_inferiority", "win_rate"])
def test_a_clearly_better_challenger_is_promoted_on_every_seed(rule):
    results = [verdict(seed, rule, 0.5) for seed in SEEDS]
    assert all(result.passed for result in results)
    assert all(metric.win_rate > 0.99 for result in results for metric in result.metrics)


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="'best_of_three' is not one of non_inferiority"):
        verdict(0, "best_of_three", 2.0)
