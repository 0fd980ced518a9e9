"""Training: a point-in-time training set split by time, the model of model.py, a new version."""

import argparse
from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import ColSpec, Schema
from sklearn.base import RegressorMixin
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from threadpoolctl import threadpool_limits

from . import cli, model, settings
from .dataset import FEATURE_COLUMNS, LABEL, PICKUP_TIME, model_inputs, read_trips
from .platform.environment import source_commit
from .platform.errors import UserError
from .platform.runtime import Runtime, get_runtime, quiet_loggers, use_mlflow
from .platform.tables import table_name
from .platform.task_values import set_task_value
from .registry import TRAIN_TASK_KEY, ModelRef, check_history_is_registered

MIN_TRIPS = 100


@dataclass(frozen=True)
class TrainingResult:
    model_name: str
    version: str
    run_id: str
    holdout_metrics: dict[str, float]


def split_by_time(
    frame: pd.DataFrame, holdout_fraction: float = settings.HOLDOUT_FRACTION
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Train on the earlier trips and hold out the latest `holdout_fraction` of them."""
    if len(frame) < MIN_TRIPS:
        raise UserError(
            f"Only {len(frame)} usable trips in the input; training needs at least {MIN_TRIPS}."
        )
    cutoff = frame[PICKUP_TIME].quantile(1 - holdout_fraction)
    later = frame[PICKUP_TIME] >= cutoff
    return frame[~later], frame[later], cutoff


def fit_model(train: pd.DataFrame, params: dict) -> RegressorMixin:
    """The model of model.py, fitted to the trips' features and fares."""
    estimator = model.build_model(params)
    # One OpenMP thread: on data this size parallel threads gain little, and on a busy machine
    # (Spark's JVM shares the cores) their spinning barriers can slow fitting a hundredfold.
    with threadpool_limits(limits=1, user_api="openmp"):
        return estimator.fit(train[FEATURE_COLUMNS], train[LABEL])


def model_signature(features: pd.DataFrame, predictions: np.ndarray) -> ModelSignature:
    """Every feature column is required; its values may be missing (NaN or null).

    Inferred from rows alone, a column holding NaN is marked optional, so a request without it
    would pass the signature check and fail inside the model instead.
    """
    inferred = infer_signature(features, predictions)
    inputs = Schema([ColSpec(spec.type, spec.name, required=True) for spec in inferred.inputs])
    return ModelSignature(inputs=inputs, outputs=inferred.outputs)


def regression_metrics(actual: pd.Series, predicted: np.ndarray) -> dict[str, float]:
    """Named like the metrics of mlflow.models.evaluate, so both can be compared."""
    return {
        "root_mean_squared_error": float(root_mean_squared_error(actual, predicted)),
        "mean_absolute_error": float(mean_absolute_error(actual, predicted)),
        "r2_score": float(r2_score(actual, predicted)),
    }


def data_fingerprint(rows: pd.DataFrame) -> str:
    """A digest of the rows, whatever their order: equal digests, equal training data."""
    hashed = pd.util.hash_pandas_object(rows, index=False).to_numpy(dtype=np.uint64)
    return f"{int(hashed.sum(dtype=np.uint64)):016x}"  # wraps around, as a checksum should


def provenance_tags(
    input_table: str, train_rows: pd.DataFrame, cutoff: pd.Timestamp
) -> dict[str, str]:
    """What the version was trained on and from which code: settings.REQUIRED_VERSION_TAGS."""
    tags = {
        "training_table": input_table,
        "training_period": f"{train_rows[PICKUP_TIME].min().isoformat()} to "
        f"{cutoff.isoformat()} (exclusive)",
        "training_data_fingerprint": data_fingerprint(train_rows),
        "training_rows": str(len(train_rows)),
    }
    commit = source_commit()
    if commit:
        tags["git_commit"] = commit
    return tags


def version_description(
    fitted: RegressorMixin, tags: dict[str, str], metrics: dict[str, float]
) -> str:
    shown = ", ".join(f"{metric} {value:.4g}" for metric, value in metrics.items())
    return (
        f"{type(fitted).__name__} predicting the fare of a taxi trip when it is booked. Trained by "
        f"train-model on {int(tags['training_rows']):,} trips of {tags['training_table']} picked "
        f"up from {tags['training_period']}; on the later trips held out: {shown}."
    )


def train(
    runtime: Runtime,
    input_table: str,
    model_ref: ModelRef,
    experiment_name: str,
    predictions_table: str = settings.PREDICTIONS_TABLE,
    params: dict = model.PARAMS,
) -> TrainingResult:
    """Fit a model on the trips and register it as a new version of `model_ref`."""
    name = model_ref.full_name
    use_mlflow(experiment_name)
    predictions = table_name(model_ref.catalog, model_ref.schema, predictions_table)
    check_history_is_registered(MlflowClient(), name, runtime, predictions)
    trips = read_trips(runtime, input_table)
    inputs = model_inputs(runtime, trips, model_ref.catalog, model_ref.schema)
    frame = inputs.select(PICKUP_TIME, *FEATURE_COLUMNS, LABEL).toPandas()
    train_rows, holdout_rows, cutoff = split_by_time(frame)
    fitted = fit_model(train_rows, params)
    metrics = regression_metrics(holdout_rows[LABEL], fitted.predict(holdout_rows[FEATURE_COLUMNS]))

    features = train_rows[FEATURE_COLUMNS]
    # cloudpickle on purpose, so the model loads the same way locally and on Databricks.
    with mlflow.start_run(run_name="train") as run, quiet_loggers("mlflow.sklearn"):
        mlflow.log_params(
            {
                **params,
                "input_table": input_table,
                "holdout_start": cutoff.isoformat(),
                "training_rows": len(train_rows),
                "holdout_rows": len(holdout_rows),
            }
        )
        mlflow.log_metrics({f"holdout_{metric}": value for metric, value in metrics.items()})
        info = mlflow.sklearn.log_model(
            fitted,
            name="model",
            signature=model_signature(features.head(100), fitted.predict(features.head(100))),
            input_example=features.head(5),
            registered_model_name=name,
            serialization_format="cloudpickle",
            # Derived from the model, pinned as trained; MLflow would infer the same, slowly.
            pip_requirements=model.pip_requirements(fitted),
        )
    version = str(info.registered_model_version)
    tags = provenance_tags(input_table, train_rows, cutoff)
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    description = version_description(fitted, tags, metrics)
    client.update_model_version(name, version, description=description)
    return TrainingResult(name, version, run.info.run_id, metrics)


@cli.entry_point(
    "Train the fare model and register a new version of it.",
    cli.add_input_table,
    cli.add_model_name,
    cli.add_experiment_name,
    cli.add_predictions_table,
)
def main(args: argparse.Namespace) -> None:
    result = train(
        get_runtime(),
        args.input_table,
        ModelRef(args.catalog, args.schema, args.model_name),
        args.experiment_name,
        args.predictions_table,
    )
    set_task_value("model_version", result.version, task_key=TRAIN_TASK_KEY)
    rmse = result.holdout_metrics["root_mean_squared_error"]
    print(
        f"Registered {result.model_name} version {result.version} "
        f"(run {result.run_id}, holdout RMSE {rmse:.3f})."
    )
