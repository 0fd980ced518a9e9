"""Batch inference: score the input trips with `@champion` and append the predictions.

Each run appends one batch (model version, scoring time, batch id) to the predictions table, so
the history of what each model predicted builds up; earlier predictions are never overwritten.
A batch is one Delta commit, and the rows a run reports are counted in the table version its commit
made: two runs at once each add their whole batch, or one is told to run again.
"""

import argparse
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import mlflow
from mlflow import MlflowClient
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from . import cli
from .dataset import (
    BOOKING_COLUMNS,
    FEATURE_COLUMNS,
    LABEL,
    TRIP_ID,
    model_inputs,
    read_trips,
    with_trip_id,
)
from .platform.runtime import Runtime, get_runtime, quiet_loggers, use_mlflow
from .platform.tables import table_name
from .registry import CHAMPION, TRAINING_FIX, ModelRef, require_alias

PREDICTION = "prediction"
# The predictions table: each trip as booked, the other features it was scored with, the
# prediction, and the batch that made it.
SCORED_COLUMNS = [
    TRIP_ID,
    *BOOKING_COLUMNS,
    *(column for column in FEATURE_COLUMNS if column not in BOOKING_COLUMNS),
    PREDICTION,
]
BATCH_COLUMNS = ["model_version", "scored_at", "batch_id"]
# The fare is unknown when a trip is scored: null until it arrives{% if cookiecutter.include_monitoring == "yes" %} (monitoring fills it in){% endif %}.
PREDICTIONS_COLUMNS = [*SCORED_COLUMNS, LABEL, *BATCH_COLUMNS]


@dataclass(frozen=True)
class InferenceResult:
    predictions_table: str
    model_name: str
    version: str
    batch_id: str
    rows: int
    table_version: int


def new_batch() -> tuple[str, datetime]:
    """A batch id that sorts by time, and the scoring time it names."""
    scored_at = datetime.now(timezone.utc).replace(microsecond=0)
    return f"{scored_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}", scored_at


def with_batch(
    predictions: DataFrame, version: str, batch_id: str, scored_at: datetime
) -> DataFrame:
    """Stamp predictions with what produced them and when; the fare is not known yet."""
    return (
        predictions.withColumn(LABEL, F.lit(None).cast("double"))
        .withColumn("model_version", F.lit(int(version)))
        .withColumn("scored_at", F.lit(scored_at))
        .withColumn("batch_id", F.lit(batch_id))
    )


def score(runtime: Runtime, inputs: DataFrame, model_uri: str) -> DataFrame:
    """Add the model's prediction to each row, computed by Spark with an MLflow UDF."""
    # env_manager="local": the executors use this environment, the one the model was trained in.
    with quiet_loggers("mlflow.pyfunc", "mlflow.models"):
        predict = mlflow.pyfunc.spark_udf(
            runtime.spark, model_uri, result_type="double", env_manager="local"
        )
    return inputs.withColumn(PREDICTION, predict(*(F.col(c) for c in FEATURE_COLUMNS)))


def batch_inference(
    runtime: Runtime, input_table: str, model_ref: ModelRef, predictions_table: str
) -> InferenceResult:
    use_mlflow()
    name = model_ref.full_name
    fix = f"{TRAINING_FIX} A version becomes @{CHAMPION} once it passes validation."
    version = require_alias(MlflowClient(), name, CHAMPION, fix=fix)
    trips = with_trip_id(read_trips(runtime, input_table, columns=BOOKING_COLUMNS))
    inputs = model_inputs(runtime, trips, model_ref.catalog, model_ref.schema)
    # The version, not the alias: a promotion during the run cannot mix two models in one batch.
    scored = score(runtime, inputs, f"models:/{name}/{version}")
    batch_id, scored_at = new_batch()
    batch = with_batch(scored.select(*SCORED_COLUMNS), version, batch_id, scored_at)
    target = table_name(model_ref.catalog, model_ref.schema, predictions_table)
    table_version = runtime.tables.append(target, batch)
    committed = runtime.tables.read(target, fix="", version=table_version)
    rows = committed.where(F.col("batch_id") == batch_id).count()
    return InferenceResult(target, name, version, batch_id, rows, table_version)


@cli.entry_point(
    "Score the input trips with the champion model; append the predictions.",
    cli.add_input_table,
    cli.add_model_name,
    cli.add_predictions_table,
)
def main(args: argparse.Namespace) -> None:
    result = batch_inference(
        get_runtime(),
        args.input_table,
        ModelRef(args.catalog, args.schema, args.model_name),
        args.predictions_table,
    )
    print(
        f"Scored {result.rows:,} trips with {result.model_name} version {result.version}; "
        f"appended batch {result.batch_id} to {result.predictions_table} "
        f"(table version {result.table_version})."
    )
