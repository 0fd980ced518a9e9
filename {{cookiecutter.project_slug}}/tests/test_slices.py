"""Slices: the bands of the hold-out, and a verdict on each that noise does not decide."""

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.platform.errors import UserError
from {{ cookiecutter.package_name }}.settings import Threshold
from {{ cookiecutter.package_name }}.slices import Slice, compare_slices, slice_table, slices_of

THRESHOLDS = (Threshold("root_mean_squared_error", False, limit=10.0, max_relative_worsening=0.05),)
BANDS = {"trip_distance": (0, 2, 5, float("inf"))}


def trips(seed: int, rows: int = 3_000) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Trips, their fares, and a model's predictions off by unit noise."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"trip_distance": rng.gamma(2.0, 1.5, rows)})
    fares = 3 + 2.5 * data["trip_distance"].to_numpy() + rng.normal(0, 1, rows)
    return data, fares, fares + rng.normal(0, 1, rows)


def compare(data, fares, candidate, champion, min_rows=100):
    return compare_slices(
        data,
        fares,
        candidate,
        champion,
        THRESHOLDS,
        bands=BANDS,
        min_rows=min_rows,
        max_relative_worsening=0.2,
        resamples=500,
        seed=3,
        confidence=0.95,
    )


def test_the_bands_are_consecutive_and_hold_low_but_not_high():
    data = pd.DataFrame({"trip_distance": [0.0, 1.99, 2.0, 5.0, 40.0]})
    found = slices_of(BANDS, data)
    assert [s.label for s in found] == [
        "trip_distance in [0, 2)",
        "trip_distance in [2, 5)",
        "trip_distance in [5, inf)",
    ]
    assert [list(s.mask(data)) for s in found] == [
        [True, True, False, False, False],
        [False, False, True, False, False],
        [False, False, False, True, True],
    ]


def test_a_slicing_column_the_holdout_lacks_is_named():
    with pytest.raises(UserError, match="settings.SLICES names pickup_zone, which the hold-out"):
        slices_of({"pickup_zone": (0, 1)}, pd.DataFrame({"trip_distance": [1.0]}))


@pytest.mark.parametrize("seed", range(10))
def test_an_equally_good_challenger_fails_no_slice(seed):
    data, fares, champion = trips(seed)
    candidate = fares + np.random.default_rng(seed + 100).normal(0, 1, len(fares))
    assert not [f for result in compare(data, fares, candidate, champion) for f in result.failures]


def test_a_challenger_much_worse_on_long_trips_fails_that_slice_only():
    data, fares, champion = trips(0)
    candidate = champion + 3.0 * (data["trip_distance"].to_numpy() >= 5)
    results = compare(data, fares, candidate, champion)
    assert [bool(result.failures) for result in results] == [False, False, True]
    (failure,) = results[2].failures
    assert failure.startswith("slice trip_distance in [5, inf) (")
    assert "root_mean_squared_error is at least" in failure


def test_a_slice_with_too_few_trips_is_shown_but_not_judged():
    data, fares, champion = trips(0)
    candidate = champion + 3.0
    results = compare(data, fares, candidate, champion, min_rows=10_000)
    assert all(result.comparison is None and not result.failures for result in results)
    table = slice_table(results, ["root_mean_squared_error"])
    assert list(table["verdict"]) == ["too few trips to judge"] * 3
    assert list(table["trips"]) == [result.rows for result in results]


def test_without_a_champion_a_slice_has_the_candidates_metrics_only():
    data, fares, candidate = trips(0)
    results = compare(data, fares, candidate, None)
    assert all(
        r.champion_metrics is None and "root_mean_squared_error" in r.metrics for r in results
    )
    table = slice_table(results, ["root_mean_squared_error"])
    assert "root_mean_squared_error (champion)" not in table.columns
    assert set(table["verdict"]) == {"no champion to compare"}


def test_an_empty_slice_is_kept_with_no_metrics():
    data = pd.DataFrame({"trip_distance": [1.0, 1.5, 3.0]})
    fares = np.array([5.0, 6.0, 9.0])
    (short, middle, long) = compare(data, fares, fares, fares, min_rows=1)
    assert (short.rows, middle.rows, long.rows) == (2, 1, 0)
    assert long.metrics == {} and long.comparison is None
    assert isinstance(long.slice, Slice)
