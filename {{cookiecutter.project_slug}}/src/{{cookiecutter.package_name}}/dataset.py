"""Trips and model inputs shared by training, validation and batch inference.

The model predicts the fare of a trip when it is booked: from the trip's distance and pickup time,
and from what the feature tables knew about the pickup and dropoff areas at that moment.
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

# Feature tables: key columns, value columns, and how old a row may be when it is looked up.
PICKUP_FEATURES = ["pickup_trip_count_1h", "pickup_fare_per_mile_1h"]
DROPOFF_FEATURES = ["dropoff_trip_count_30m", "dropoff_mean_speed_mph_30m"]
WINDOW_END = "window_end"
PICKUP_LOOKBACK = timedelta(minutes=15)  # the slide of the pickup windows
DROPOFF_LOOKBACK = timedelta(minutes=30)  # the length of the dropoff windows

TRIP_FEATURES = ["trip_distance", "pickup_hour", "pickup_weekday"]
FEATURE_COLUMNS = TRIP_FEATURES + PICKUP_FEATURES + DROPOFF_FEATURES
TRIP_ID = "trip_id"

_INPUT_FIX = (
    f"Point --input-table at a table with the NYC taxi columns ({', '.join(TRIP_COLUMNS)})."
)


def read_trips(runtime: Runtime, name: str, columns: list[str] = TRIP_COLUMNS) -> DataFrame:
    """The input trips, checked for `columns` and cleaned.

    Locally the default input, the public NYC taxi sample, is generated on first use.
    """
    if runtime.is_local and name == settings.INPUT_TABLE and not runtime.tables.exists(name):
        from .sample_data import write_sample

        write_sample(runtime, name)
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
    fix = "Run the feature engineering step (feature-engineering) first."
    pickup = runtime.tables.read(
        table_name(catalog, schema, settings.PICKUP_FEATURES_TABLE),
        fix=fix,
        columns=["pickup_zip", WINDOW_END, *PICKUP_FEATURES],
        column_fix=rewrite_fix("feature-engineering"),
    )
    dropoff = runtime.tables.read(
        table_name(catalog, schema, settings.DROPOFF_FEATURES_TABLE),
        fix=fix,
        columns=["dropoff_zip", WINDOW_END, *DROPOFF_FEATURES],
        column_fix=rewrite_fix("feature-engineering"),
    )
    rows = trips.withColumns(
        {"pickup_hour": F.hour(PICKUP_TIME), "pickup_weekday": F.dayofweek(PICKUP_TIME)}
    )
    rows = point_in_time_join(
        rows, pickup, "pickup_zip", PICKUP_TIME, PICKUP_FEATURES, PICKUP_LOOKBACK
    )
    rows = point_in_time_join(
        rows, dropoff, "dropoff_zip", PICKUP_TIME, DROPOFF_FEATURES, DROPOFF_LOOKBACK
    )
    doubles = {column: F.col(column).cast("double") for column in FEATURE_COLUMNS}
    return rows.withColumns(doubles)
