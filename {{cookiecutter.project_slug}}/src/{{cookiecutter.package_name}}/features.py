"""Feature engineering: recent activity around each pickup and dropoff zip, per time window.

A window covers the trips that ended inside it, so a feature never uses a fare or a duration that
was unknown at the window's end. Rows are keyed by zip and `window_end`; a rerun upserts them.
"""

import argparse

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from . import cli, settings
from .dataset import DROPOFF_TIME, LABEL, PICKUP_TIME, WINDOW_END, read_trips
from .platform.runtime import Runtime, get_runtime
from .platform.tables import table_name


def pickup_features(trips: DataFrame) -> DataFrame:
    """Per pickup zip, over the last hour (sliding every 15 minutes): trips ended, fare per mile."""
    windows = trips.groupBy(
        "pickup_zip", F.window(DROPOFF_TIME, "1 hour", "15 minutes").alias("window")
    ).agg(
        F.count(F.lit(1)).alias("pickup_trip_count_1h"),
        (F.sum(LABEL) / F.sum("trip_distance")).alias("pickup_fare_per_mile_1h"),
    )
    return windows.select(
        "pickup_zip",
        F.col("window.end").alias(WINDOW_END),
        "pickup_trip_count_1h",
        "pickup_fare_per_mile_1h",
    )


def dropoff_features(trips: DataFrame) -> DataFrame:
    """Per dropoff zip, over 30-minute windows: trips ended there and their mean speed."""
    hours = (F.unix_timestamp(DROPOFF_TIME) - F.unix_timestamp(PICKUP_TIME)) / 3600.0
    windows = trips.groupBy(
        "dropoff_zip", F.window(DROPOFF_TIME, "30 minutes").alias("window")
    ).agg(
        F.count(F.lit(1)).alias("dropoff_trip_count_30m"),
        (F.sum("trip_distance") / F.sum(hours)).alias("dropoff_mean_speed_mph_30m"),
    )
    return windows.select(
        "dropoff_zip",
        F.col("window.end").alias(WINDOW_END),
        "dropoff_trip_count_30m",
        "dropoff_mean_speed_mph_30m",
    )


def write_features(runtime: Runtime, input_table: str, catalog: str, schema: str) -> dict[str, int]:
    """Compute both feature tables from the input trips and upsert them; returns rows per table."""
    trips = read_trips(runtime, input_table)
    written = {}
    for short_name, frame, key in (
        (settings.PICKUP_FEATURES_TABLE, pickup_features(trips), "pickup_zip"),
        (settings.DROPOFF_FEATURES_TABLE, dropoff_features(trips), "dropoff_zip"),
    ):
        name = table_name(catalog, schema, short_name)
        runtime.tables.upsert(name, frame, keys=[key, WINDOW_END])
        written[name] = runtime.tables.read(name, fix="").count()
    return written


@cli.entry_point(
    "Compute the pickup and dropoff feature tables from the raw trips.", cli.add_input_table
)
def main(args: argparse.Namespace) -> None:
    written = write_features(get_runtime(), args.input_table, args.catalog, args.schema)
    for name, rows in written.items():
        print(f"Feature table {name}: {rows:,} rows.")
