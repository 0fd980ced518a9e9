"""Trips and model inputs shared by training, validation and batch inference.

The model predicts the fare of a trip when it is booked: from what is known of the trip then, and
from what the feature tables knew at that moment. The features are declared in settings.py.
"""

from datetime import timedelta

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from . import settings
from .platform.runtime import Runtime
from .platform.tables import rewrite_fix, table_name

PICKUP_TIME = "tpep_pickup_datetime"
DROPOFF_TIME = "tpep_dropoff_datetime"
LABEL = "fare_amount"
TRIP_COLUMNS = [PICKUP_TIME, DROPOFF_TIME, "trip_distance", LABEL, "pickup_zip", "dropoff_zip"]
# What is known when a trip is booked; the label is not.
BOOKING_COLUMNS = [PICKUP_TIME, "trip_distance", "pickup_zip", "dropoff_zip"]

WINDOW_END = "window_end"  # the time stamp of a feature table's rows
# What the model takes, in this order: the features of settings.py.
FEATURE_COLUMNS = [
    *settings.TRIP_FEATURES,
    *(column for table in settings.FEATURE_TABLES for column in table.columns),
]
TRIP_ID = "trip_id"

_INPUT_FIX = (
    f"Point --input-table at a table with the NYC taxi columns ({', '.join(TRIP_COLUMNS)})."
)


def read_trips(runtime: Runtime, name: str, columns: list[str] = TRIP_COLUMNS) -> DataFrame:
    """The input trips, checked for `columns` and cleaned."""
    trips = runtime.tables.read(
        name,
        fix=f"Create it or pass another --input-table. {_INPUT_FIX}",
        columns=columns,
        column_fix=_INPUT_FIX,
    )
    return clean_trips(trips.select(*columns))


def clean_trips(trips: DataFrame) -> DataFrame:
    """Drop rows that cannot be a real trip: no place, no time, no distance, or a negative fare."""
    valid = (
        F.col(PICKUP_TIME).isNotNull()
        & F.col("pickup_zip").isNotNull()
        & F.col("dropoff_zip").isNotNull()
        & (F.col("trip_distance") > 0)
    )
    if DROPOFF_TIME in trips.columns:
        valid &= F.col(DROPOFF_TIME) > F.col(PICKUP_TIME)
    if LABEL in trips.columns:
        valid &= F.col(LABEL) > 0
    return trips.where(valid)


def with_trip_id(trips: DataFrame) -> DataFrame:
    """A stable id from what identifies a booking, so labels that arrive later can be joined."""
    return trips.withColumn(
        TRIP_ID, F.xxhash64(PICKUP_TIME, "pickup_zip", "dropoff_zip", "trip_distance")
    )


def point_in_time_join(
    rows: DataFrame,
    features: DataFrame,
    key: str,
    timestamp: str,
    feature_columns: list[str],
    lookback: timedelta,
) -> DataFrame:
    """Add to each row the latest feature values for its `key` from no later than its `timestamp`.

    Feature rows are stamped with `window_end`; a row older than `lookback` counts as absent (the
    values are null). Written as one sort per key instead of a range join, so it stays linear.
    """
    stamp, is_row, found = "_pit_time", "_pit_is_row", "_pit_features"
    feature_rows = features.select(
        F.col(key),
        F.col(WINDOW_END).alias(stamp),
        F.lit(False).alias(is_row),
        F.struct(F.col(WINDOW_END).alias("at"), *feature_columns).alias(found),
    )
    combined = rows.withColumn(stamp, F.col(timestamp)).withColumn(is_row, F.lit(True))
    combined = combined.unionByName(feature_rows, allowMissingColumns=True)
    # Features stamped at the same instant as a row are already known to it: they sort first.
    history = (
        Window.partitionBy(key)
        .orderBy(stamp, is_row)
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    latest = combined.withColumn(found, F.last(found, ignorenulls=True).over(history))
    fresh = F.col(f"{found}.at") >= F.col(stamp) - F.expr(
        f"INTERVAL {int(lookback.total_seconds())} SECONDS"
    )
    return latest.where(F.col(is_row)).select(
        *rows.columns,
        *(F.when(fresh, F.col(f"{found}.{column}")).alias(column) for column in feature_columns),
    )


def model_inputs(runtime: Runtime, trips: DataFrame, catalog: str, schema: str) -> DataFrame:
    """Trips with every model feature, as doubles; feature tables looked up at pickup time."""
    booked = {column: F.expr(sql) for column, sql in settings.TRIP_FEATURES.items()}
    rows = trips.withColumns(booked)
    for spec in settings.FEATURE_TABLES:
        features = runtime.tables.read(
            table_name(catalog, schema, spec.table),
            fix="Run the feature engineering step (feature-engineering) first.",
            columns=[spec.key, WINDOW_END, *spec.columns],
            column_fix=rewrite_fix("feature-engineering"),
        )
        rows = point_in_time_join(
            rows, features, spec.key, PICKUP_TIME, list(spec.columns), spec.lookback
        )
    doubles = {column: F.col(column).cast("double") for column in FEATURE_COLUMNS}
    return rows.withColumns(doubles)
