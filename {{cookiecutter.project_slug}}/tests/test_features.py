"""Feature engineering: window aggregates per key, as settings.py declares them, and reruns that
upsert. The first tests check the example's features; the others hold whatever the features are."""

from datetime import datetime, timedelta

import pandas as pd
import pytest
from pyspark.sql import functions as F

from {{ cookiecutter.package_name }} import settings
from {{ cookiecutter.package_name }}.dataset import DROPOFF_TIME, PICKUP_TIME, WINDOW_END
from {{ cookiecutter.package_name }}.features import table_features, write_features
from {{ cookiecutter.package_name }}.platform.runtime import get_runtime
from {{ cookiecutter.package_name }}.sample_data import generate_trips

T = datetime(2016, 1, 4, 10, 0)
MINUTE = timedelta(minutes=1)
SCHEMA = (
    "tpep_pickup_datetime timestamp, tpep_dropoff_datetime timestamp, trip_distance double, "
    "fare_amount double, pickup_zip int, dropoff_zip int"
)
# From zip 1: 2 miles for $10 ending at 10:05, 3 miles for $20 ending at 10:20.
# From zip 2: 1 mile for $7.50 ending at 10:50. All end in zip 9.
TRIPS = [
    (T - 10 * MINUTE, T + 5 * MINUTE, 2.0, 10.0, 1, 9),
    (T, T + 20 * MINUTE, 3.0, 20.0, 1, 9),
    (T + 40 * MINUTE, T + 50 * MINUTE, 1.0, 7.5, 2, 9),
]


@pytest.fixture
def trips(spark):
    return spark.createDataFrame(TRIPS, SCHEMA)


def rows_by_key(frame, key):
    return {(row[key], row["window_end"]): row.asDict() for row in frame.collect()}


@pytest.mark.parametrize(
    ("zip_code", "window_end", "count", "fare_per_mile"),
    [
        pytest.param(1, T + 15 * MINUTE, 1, 10 / 2, id="the hour to 10:15 holds the first trip"),
        pytest.param(1, T + 30 * MINUTE, 2, 30 / 5, id="the hour to 10:30 holds both"),
        pytest.param(1, T + 75 * MINUTE, 1, 20 / 3, id="the hour to 11:15 holds the second"),
        pytest.param(2, T + 60 * MINUTE, 1, 7.5, id="another zip has windows of its own"),
    ],
)
def test_pickup_features_summarise_the_trips_ended_in_the_last_hour(
    trips, zip_code, window_end, count, fare_per_mile
):
    pickup = table_features(trips, settings.PICKUP_FEATURES)
    row = rows_by_key(pickup, "pickup_zip")[(zip_code, window_end)]
    assert row["pickup_trip_count_1h"] == count
    assert row["pickup_fare_per_mile_1h"] == pytest.approx(fare_per_mile)


def test_pickup_windows_slide_every_quarter_hour(trips):
    windows = rows_by_key(table_features(trips, settings.PICKUP_FEATURES), "pickup_zip")
    assert sorted(end for zip_code, end in windows if zip_code == 1) == [
        T + minutes * MINUTE for minutes in (15, 30, 45, 60, 75)
    ]


@pytest.mark.parametrize(
    ("window_end", "count", "speed"),
    [
        pytest.param(T + 30 * MINUTE, 2, 5 / (35 / 60), id="two trips: 5 miles in 35 minutes"),
        pytest.param(T + 60 * MINUTE, 1, 6.0, id="one trip: 1 mile in 10 minutes"),
    ],
)
def test_dropoff_features_count_trips_and_speed_per_half_hour(trips, window_end, count, speed):
    windows = rows_by_key(table_features(trips, settings.DROPOFF_FEATURES), "dropoff_zip")
    assert set(windows) == {(9, T + 30 * MINUTE), (9, T + 60 * MINUTE)}
    assert windows[(9, window_end)]["dropoff_trip_count_30m"] == count
    assert windows[(9, window_end)]["dropoff_mean_speed_mph_30m"] == pytest.approx(speed)


# Whatever the features ---------------------------------------------------------------------------

FEATURE_TABLES = [pytest.param(spec, id=spec.table) for spec in settings.FEATURE_TABLES]
SAMPLE = generate_trips(500)


@pytest.fixture(scope="module")
def sample(spark):
    return spark.createDataFrame(SAMPLE)


@pytest.mark.parametrize("spec", FEATURE_TABLES)
def test_a_feature_table_has_one_row_per_key_and_window_and_every_feature(sample, spec):
    features = table_features(sample, spec)
    assert features.columns == [spec.key, WINDOW_END, *spec.columns]
    assert features.count() == features.select(spec.key, WINDOW_END).distinct().count() > 0


@pytest.mark.parametrize("spec", FEATURE_TABLES)
def test_a_window_uses_no_trip_that_ended_after_it(sample, spec):
    """Without the trips that ended after a moment, the windows that ended by then are the same.

    The moment is just before the longest trip ended: the trip was under way across many ends of
    windows, and a feature that knew of it before it ended would differ.
    """
    duration = SAMPLE[DROPOFF_TIME] - SAMPLE[PICKUP_TIME]
    moment = SAMPLE[DROPOFF_TIME][duration.idxmax()].to_pydatetime() - timedelta(seconds=1)

    def windows_ended_by_then(trips) -> pd.DataFrame:
        ended = table_features(trips, spec).where(F.col(WINDOW_END) <= moment).toPandas()
        return ended.sort_values([spec.key, WINDOW_END], ignore_index=True)

    earlier = sample.where(F.col(DROPOFF_TIME) <= moment)
    pd.testing.assert_frame_equal(windows_ended_by_then(sample), windows_ended_by_then(earlier))


def test_a_rerun_upserts_without_duplicating_keys(fresh_store, spark):
    runtime = get_runtime()
    runtime.tables.overwrite("main.raw.trips", spark.createDataFrame(generate_trips(500)))
    first = write_features(runtime, "main.raw.trips", "main", "taxi")
    second = write_features(runtime, "main.raw.trips", "main", "taxi")
    assert first == second
    for spec in settings.FEATURE_TABLES:
        rows = runtime.tables.read(f"main.taxi.{spec.table}", fix="")
        assert rows.count() == rows.select(spec.key, WINDOW_END).distinct().count()
