"""Model inputs: cleaning the trips and the point-in-time lookup of features."""

from datetime import datetime, timedelta

import pytest
from pyspark.sql import functions as F

from {{ cookiecutter.package_name }}.dataset import (
    FEATURE_COLUMNS,
    clean_trips,
    model_inputs,
    point_in_time_join,
    read_trips,
)
from {{ cookiecutter.package_name }}.features import write_features
from {{ cookiecutter.package_name }}.platform.errors import UserError
from {{ cookiecutter.package_name }}.platform.runtime import get_runtime
from {{ cookiecutter.package_name }}.sample_data import generate_trips

T = datetime(2016, 1, 4, 10, 0)
MINUTE = timedelta(minutes=1)

# Feature rows of zip 1 at 10:00 (value 1.0) and 10:30 (value 2.0), and of zip 2 at 10:10 (3.0).
FEATURES = [(1, T, 1.0), (1, T + 30 * MINUTE, 2.0), (2, T + 10 * MINUTE, 3.0)]


@pytest.mark.parametrize(
    ("zip_code", "at", "lookback", "expected"),
    [
        pytest.param(1, T + 20 * MINUTE, 60, 1.0, id="the latest row before the trip"),
        pytest.param(1, T + 40 * MINUTE, 60, 2.0, id="a newer row replaces an older one"),
        pytest.param(1, T + 30 * MINUTE, 60, 2.0, id="a row stamped at the same instant counts"),
        pytest.param(1, T - 5 * MINUTE, 60, None, id="rows from the future are never used"),
        pytest.param(1, T + 20 * MINUTE, 15, None, id="a row older than the lookback is absent"),
        pytest.param(2, T + 20 * MINUTE, 60, 3.0, id="each key has its own rows"),
        pytest.param(3, T + 20 * MINUTE, 60, None, id="a key without rows gets nothing"),
    ],
)
def test_point_in_time_join(spark, zip_code, at, lookback, expected):
    trips = spark.createDataFrame([(zip_code, at, "trip")], "zip int, at timestamp, name string")
    features = spark.createDataFrame(FEATURES, "zip int, window_end timestamp, value double")
    joined = point_in_time_join(
        trips, features, "zip", "at", ["value"], timedelta(minutes=lookback)
    ).collect()
    assert [(row["name"], row["value"]) for row in joined] == [("trip", expected)]


def test_point_in_time_join_keeps_every_row_and_column(spark):
    trips = spark.createDataFrame(
        [(1, T + i * MINUTE, f"trip {i}") for i in range(50)], "zip int, at timestamp, name string"
    )
    features = spark.createDataFrame(FEATURES, "zip int, window_end timestamp, value double")
    joined = point_in_time_join(trips, features, "zip", "at", ["value"], timedelta(hours=1))
    assert joined.columns == ["zip", "at", "name", "value"]
    assert joined.count() == 50


ROW = {
    "tpep_pickup_datetime": T,
    "tpep_dropoff_datetime": T + 10 * MINUTE,
    "trip_distance": 2.0,
    "fare_amount": 10.0,
    "pickup_zip": 10001,
    "dropoff_zip": 10003,
}
SCHEMA = (
    "tpep_pickup_datetime timestamp, tpep_dropoff_datetime timestamp, trip_distance double, "
    "fare_amount double, pickup_zip int, dropoff_zip int"
)


@pytest.mark.parametrize(
    ("change", "kept"),
    [
        pytest.param({}, True, id="a plausible trip"),
        pytest.param({"trip_distance": 0.0}, False, id="no distance"),
        pytest.param({"fare_amount": -2.5}, False, id="a negative fare"),
        pytest.param({"pickup_zip": None}, False, id="no pickup zip"),
        pytest.param({"tpep_dropoff_datetime": T - MINUTE}, False, id="ends before it starts"),
    ],
)
def test_clean_trips_drops_impossible_trips(spark, change, kept):
    trips = spark.createDataFrame([tuple((ROW | change).values())], SCHEMA)
    assert clean_trips(trips).count() == (1 if kept else 0)


def test_reading_trips_names_a_missing_column(fresh_store, spark):
    runtime = get_runtime()
    runtime.tables.overwrite(
        "main.raw.trips", spark.createDataFrame(generate_trips(50).drop(columns=["dropoff_zip"]))
    )
    with pytest.raises(UserError, match="Table 'main.raw.trips' has no column 'dropoff_zip'"):
        read_trips(runtime, "main.raw.trips")


def test_model_inputs_hold_every_feature_as_a_double_for_every_trip(fresh_store, spark):
    runtime = get_runtime()
    runtime.tables.overwrite("main.raw.trips", spark.createDataFrame(generate_trips(1_000)))
    write_features(runtime, "main.raw.trips", "main", "taxi")
    trips = read_trips(runtime, "main.raw.trips")
    inputs = model_inputs(runtime, trips, "main", "taxi")
    assert {column: kind for column, kind in inputs.dtypes if column in FEATURE_COLUMNS} == (
        dict.fromkeys(FEATURE_COLUMNS, "double")
    )
    assert inputs.count() == trips.count()
    # Every feature is known for some trips: the lookups find rows of the feature tables.
    known = inputs.select(*(F.count(column).alias(column) for column in FEATURE_COLUMNS)).first()
    assert all(known[column] > 0 for column in FEATURE_COLUMNS), known
