"""Validation: the gate between training and deployment.

The new version is evaluated on the held-out trips with `mlflow.models.evaluate` and must meet the
absolute thresholds of settings.VALIDATION_THRESHOLDS and, when a champion exists, must not be much
worse than the champion on the same trips. Either way the version is tagged with the outcome
(`model_validation_status` = PASSED or FAILED) and the metrics; on a pass it becomes `@challenger`.

Modes: `enabled` fails the task when the model fails; `dry_run` only reports; `disabled` skips the
evaluation and tags the version SKIPPED. Only a PASSED version is ever promoted.
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow import MlflowClient
from pyspark.sql import functions as F

from . import cli, settings
from .dataset import FEATURE_COLUMNS, LABEL, PICKUP_TIME, model_inputs, read_trips
from .platform.errors import UserError
from .platform.runtime import Runtime, get_runtime, quiet_loggers, use_mlflow
from .platform.task_values import set_task_value
from .registry import (
    CHALLENGER,
    CHAMPION,
    VALIDATION_STATUS_TAG,
    ModelRef,
    alias_version,
    get_version,
    handed_over_version,
    validation_metric_tag,
)
from .settings import Threshold

TASK_KEY = "validate"
MODES = ("enabled", "dry_run", "disabled")
PASSED, FAILED, SKIPPED = "PASSED", "FAILED", "SKIPPED"


@dataclass(frozen=True)
class ValidationResult:
    model_name: str
    version: str
    mode: str
    status: str
    metrics: dict[str, float]
    champion_version: str | None = None
    champion_metrics: dict[str, float] | None = None
    failures: tuple[str, ...] = ()


def check_thresholds(
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    thresholds: Sequence[Threshold] = settings.VALIDATION_THRESHOLDS,
) -> list[str]:
    """Every threshold the candidate breaks, as a sentence; an empty list means it passes."""
    failures = []
    for threshold in thresholds:
        value = candidate[threshold.metric]
        metric, limit = threshold.metric, threshold.limit
        if threshold.higher_is_better and value < limit:
            failures.append(f"{metric} {value:.4g} is below the minimum {limit:g}")
        if not threshold.higher_is_better and value > limit:
            failures.append(f"{metric} {value:.4g} is above the maximum {limit:g}")
        if champion is None:
            continue
        reference = champion[threshold.metric]
        change = (value - reference) / max(abs(reference), 1e-12)
        worsening = -change if threshold.higher_is_better else change
        if worsening > threshold.max_relative_worsening:
            percent, allowed = 100 * worsening, 100 * threshold.max_relative_worsening
            failures.append(
                f"{threshold.metric} {value:.4g} is {percent:.1f}% worse than the champion's "
                f"{reference:.4g} (at most {allowed:g}% allowed)"
            )
    return failures


def holdout_trips(
    runtime: Runtime, input_table: str, catalog: str, schema: str, holdout_start: str
) -> pd.DataFrame:
    """Model inputs and label of the trips held out when the version was trained."""
    trips = read_trips(runtime, input_table)
    held_out = trips.where(F.col(PICKUP_TIME) >= F.lit(holdout_start).cast("timestamp"))
    frame = model_inputs(runtime, held_out, catalog, schema).select(*FEATURE_COLUMNS, LABEL)
    return frame.toPandas()


def evaluate(model_uri: str, data: pd.DataFrame, run_name: str) -> dict[str, float]:
    with mlflow.start_run(run_name=run_name, nested=True), quiet_loggers("mlflow.models"):
        result = mlflow.models.evaluate(
            model_uri,
            data,
            targets=LABEL,
            model_type="regressor",
            evaluator_config={"log_model_explainability": False},
        )
    return {metric: float(value) for metric, value in result.metrics.items()}


def validate(
    runtime: Runtime,
    input_table: str,
    model_ref: ModelRef,
    version: str,
    mode: str,
    experiment_name: str,
) -> ValidationResult:
    """Evaluate `version`, tag it with the outcome and, on a pass, make it the challenger."""
    if mode not in MODES:
        raise UserError(f"--validation-mode '{mode}' is not one of {', '.join(MODES)}.")
    use_mlflow(experiment_name)
    client = MlflowClient()
    name = model_ref.full_name
    model_version = get_version(client, name, version)
    if mode == "disabled":
        client.set_model_version_tag(name, version, VALIDATION_STATUS_TAG, SKIPPED)
        client.set_model_version_tag(name, version, "validation_mode", mode)
        return ValidationResult(name, version, mode, SKIPPED, {})

    holdout_start = client.get_run(model_version.run_id).data.params.get("holdout_start")
    if holdout_start is None:
        raise UserError(
            f"Version {version} of '{name}' was not trained by train-model (its run has no "
            "holdout_start parameter), so there is no held-out data to validate it on."
        )
    data = holdout_trips(runtime, input_table, model_ref.catalog, model_ref.schema, holdout_start)
    if data.empty:
        raise UserError(
            f"Table '{input_table}' has no trips from {holdout_start} on, the held-out period of "
            f"version {version}. Validate with the input table the version was trained on."
        )
    champion_version = alias_version(client, name, CHAMPION)
    with mlflow.start_run(run_name=f"validate version {version}"):
        metrics = evaluate(f"models:/{name}/{version}", data, f"candidate version {version}")
        champion_metrics = None
        if champion_version == version:
            champion_metrics = metrics
        elif champion_version is not None:
            champion_metrics = evaluate(
                f"models:/{name}/{champion_version}", data, f"champion version {champion_version}"
            )
        failures = check_thresholds(metrics, champion_metrics)
        status = FAILED if failures else PASSED
        mlflow.log_params({"validation_mode": mode, "model_version": version})
        mlflow.set_tag(VALIDATION_STATUS_TAG, status)

    tags = {VALIDATION_STATUS_TAG: status, "validation_mode": mode}
    for threshold in settings.VALIDATION_THRESHOLDS:
        tags[validation_metric_tag(threshold.metric)] = f"{metrics[threshold.metric]:.6g}"
    if champion_version is not None:
        tags["validation_champion_version"] = champion_version
    if failures:
        tags["validation_failures"] = "; ".join(failures)[:250]
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if status == PASSED:
        client.set_registered_model_alias(name, CHALLENGER, version)
    return ValidationResult(
        name, version, mode, status, metrics, champion_version, champion_metrics, tuple(failures)
    )


def describe(result: ValidationResult) -> str:
    if result.status == SKIPPED:
        return f"Validation of {result.model_name} version {result.version} is disabled: SKIPPED."
    shown = ", ".join(
        f"{t.metric} {result.metrics[t.metric]:.4g}" for t in settings.VALIDATION_THRESHOLDS
    )
    against = (
        f"compared with champion version {result.champion_version}"
        if result.champion_version
        else "no champion yet"
    )
    text = f"Validation of {result.model_name} version {result.version}: {result.status} "
    text += f"({shown}; {against})."
    if result.status == PASSED:
        text += f" It is now @{CHALLENGER}."
    for failure in result.failures:
        text += f"\n  - {failure}"
    return text


def add_validation_mode(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--validation-mode", default="enabled", choices=MODES)


@cli.entry_point(
    "Validate a model version against thresholds and the current champion.",
    cli.add_input_table,
    cli.add_model_name,
    cli.add_model_version,
    cli.add_experiment_name,
    add_validation_mode,
)
def main(args: argparse.Namespace) -> None:
    result = validate(
        get_runtime(),
        args.input_table,
        ModelRef(args.catalog, args.schema, args.model_name),
        handed_over_version(args.model_version),
        args.validation_mode,
        args.experiment_name,
    )
    set_task_value("validation_status", result.status, task_key=TASK_KEY)
    print(describe(result))
    if result.status == FAILED and result.mode == "enabled":
        raise UserError(
            f"Version {result.version} of {result.model_name} failed validation and will not "
            "be promoted. Improve the model, or use --validation-mode=dry_run to only report."
        )
