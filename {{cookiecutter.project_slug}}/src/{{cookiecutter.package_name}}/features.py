"""Feature engineering: the feature tables of settings.FEATURE_TABLES, per key and time window.

A window covers the trips that ended inside it, so a feature never uses a fare or a duration that
was unknown at the window's end. Rows are keyed by the table's key and `window_end`; a rerun
upserts them.
"""

import argparse
from datetime import timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from . import cli, settings
from .dataset import DROPOFF_TIME, WINDOW_END, read_trips
from .platform.runtime import Runtime, get_runtime
from .platform.tables import table_name
from .settings import FeatureTable


def table_features(trips: DataFrame, spec: FeatureTable) -> DataFrame:
    """One row per key and window of `spec`: its aggregates over the trips ended in the window."""
    slide = _duration(spec.slide) if spec.slide else None
    windows = trips.groupBy(
        spec.key, F.window(DROPOFF_TIME, _duration(spec.window), slide).alias("window")
    ).agg(*(F.expr(aggregate).alias(column) for column, aggregate in spec.columns.items()))
    return windows.select(spec.key, F.col("window.end").alias(WINDOW_END), *spec.columns)


def _duration(span: timedelta) -> str:
    return f"{int(span.total_seconds())} seconds"


def write_features(runtime: Runtime, input_table: str, catalog: str, schema: str) -> dict[str, int]:
    """Compute every feature table from the input trips and upsert it; returns rows per table."""
    trips = read_trips(runtime, input_table)
    written = {}
    for spec in settings.FEATURE_TABLES:
        name = table_name(catalog, schema, spec.table)
        runtime.tables.upsert(name, table_features(trips, spec), keys=[spec.key, WINDOW_END])
        written[name] = runtime.tables.read(name, fix="").count()
    return written


@cli.entry_point("Compute the feature tables from the raw trips.", cli.add_input_table)
def main(args: argparse.Namespace) -> None:
    written = write_features(get_runtime(), args.input_table, args.catalog, args.schema)
    for name, rows in written.items():
        print(f"Feature table {name}: {rows:,} rows.")
