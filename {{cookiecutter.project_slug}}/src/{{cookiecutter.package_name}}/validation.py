"""Validation: the gate between training and deployment.

The new version is tagged `model_validation_status` = PENDING, evaluated on the held-out trips with
`mlflow.models.evaluate`, and must meet the absolute thresholds of settings.VALIDATION_THRESHOLDS.
When a champion exists, both are scored on the same bootstrap resamples of those trips and
settings.PROMOTION_RULE decides from the difference (comparison.py), on the whole hold-out and on
each slice of settings.SLICES (slices.py). The version must also be compliant: a signature, an
input example, a description and settings.REQUIRED_VERSION_TAGS. It is then tagged PASSED or FAILED
with the metrics, the interval of each difference, the challenger's share of wins and where its
report is (validation_report.py); on a pass it becomes `@challenger`. A step that crashes leaves
PENDING, which is not PASSED.

Modes: `enabled` fails the task when the model fails; `dry_run` only reports; `disabled` skips the
evaluation and tags the version SKIPPED. Only a PASSED version is ever promoted.
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, replace

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from pyspark.sql import functions as F

from . import cli, settings
from .comparison import RESAMPLED_METRICS, RULES, Comparison, compare
from .dataset import FEATURE_COLUMNS, LABEL, PICKUP_TIME, model_inputs, read_trips
from .platform.errors import UserError
from .platform.reports import log_report
from .platform.runtime import Runtime, get_runtime, quiet_loggers, use_mlflow
from .platform.task_values import set_task_value
from .registry import (
    CHALLENGER,
    CHAMPION,
    VALIDATION_REPORT_TAG,
    VALIDATION_STATUS_TAG,
    ModelRef,
    alias_version,
    get_version,
    handed_over_version,
    validation_metric_tag,
)
from .settings import Threshold
from .slices import SliceResult, compare_slices
from .validation_report import build_report

TASK_KEY = "validate"
MODES = ("enabled", "dry_run", "disabled")
PENDING, PASSED, FAILED, SKIPPED = "PENDING", "PASSED", "FAILED", "SKIPPED"
REPORT_ARTIFACT = "validation_report"


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
    comparison: Comparison | None = None
    slices: tuple[SliceResult, ...] = ()
    compliance_failures: tuple[str, ...] = ()
    report: str | None = None  # where the report's page is

    def metric_table(self) -> pd.DataFrame:
        """Each threshold metric of the candidate and the champion, with its limit."""
        rows = []
        for threshold in settings.VALIDATION_THRESHOLDS:
            row = {"metric": threshold.metric, "candidate": self.metrics[threshold.metric]}
            if self.champion_metrics is not None:
                row["champion"] = self.champion_metrics[threshold.metric]
            row["limit"] = f"{'≥' if threshold.higher_is_better else '≤'} {threshold.limit:g}"
            rows.append(row)
        return pd.DataFrame(rows)


def check_limits(candidate: dict[str, float], thresholds: Sequence[Threshold]) -> list[str]:
    """Every absolute limit the candidate breaks, as a sentence."""
    failures = []
    for threshold in thresholds:
        value = candidate[threshold.metric]
        metric, limit = threshold.metric, threshold.limit
        if threshold.higher_is_better and value < limit:
            failures.append(f"{metric} {value:.4g} is below the minimum {limit:g}")
        if not threshold.higher_is_better and value > limit:
            failures.append(f"{metric} {value:.4g} is above the maximum {limit:g}")
    return failures


def check_against_champion(
    candidate: dict[str, float], champion: dict[str, float], thresholds: Sequence[Threshold]
) -> list[str]:
    """Point comparison on the whole hold-out: every threshold much worse than the champion's."""
    failures = []
    for threshold in thresholds:
        value = candidate[threshold.metric]
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


def check_thresholds(
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    thresholds: Sequence[Threshold] = settings.VALIDATION_THRESHOLDS,
) -> list[str]:
    """Every threshold the candidate breaks, as a sentence; an empty list means it passes."""
    failures = check_limits(candidate, thresholds)
    if champion is not None:
        failures += check_against_champion(candidate, champion, thresholds)
    return failures


def compliance_failures(
    version: str,
    description: str | None,
    tags: dict[str, str],
    has_signature: bool,
    has_input_example: bool,
    required_tags: Sequence[str] = settings.REQUIRED_VERSION_TAGS,
) -> list[str]:
    """What the version lacks to be documented and reproducible, each item named."""
    failures = []
    if not has_signature:
        failures.append(f"compliance: version {version} was logged without a signature")
    if not has_input_example:
        failures.append(f"compliance: version {version} was logged without an input example")
    if not (description or "").strip():
        failures.append(f"compliance: version {version} has no description")
    missing = [tag for tag in required_tags if not tags.get(tag, "").strip()]
    if missing:
        failures.append(
            f"compliance: version {version} lacks the required tag(s) {', '.join(missing)} "
            "(settings.REQUIRED_VERSION_TAGS)"
        )
    return failures


def check_compliance(name: str, model_version: ModelVersion) -> list[str]:
    """compliance_failures of a registered version, read from the registry and its model."""
    info = mlflow.models.get_model_info(f"models:/{name}/{model_version.version}")
    return compliance_failures(
        str(model_version.version),
        model_version.description,
        dict(model_version.tags),
        info.signature is not None,
        info.saved_input_example_info is not None,
    )


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


def predict(model_uri: str, data: pd.DataFrame) -> np.ndarray:
    model = mlflow.pyfunc.load_model(model_uri)
    return np.asarray(model.predict(data.drop(columns=[LABEL])), dtype=float).ravel()


def bootstrap_settings() -> dict[str, float]:
    """How the hold-out and its slices are resampled."""
    return {
        "resamples": settings.BOOTSTRAP_RESAMPLES,
        "seed": settings.BOOTSTRAP_SEED,
        "confidence": settings.BOOTSTRAP_CONFIDENCE,
    }


def compare_with_champion(
    actual: np.ndarray, candidate: np.ndarray, champion: np.ndarray
) -> Comparison:
    """The candidate against the champion on the same bootstrap resamples of the hold-out."""
    return compare(
        actual,
        candidate,
        champion,
        settings.VALIDATION_THRESHOLDS,
        rule=settings.PROMOTION_RULE,
        min_win_rate=settings.BOOTSTRAP_MIN_WIN_RATE,
        **bootstrap_settings(),
    )


def compare_on_slices(
    data: pd.DataFrame, actual: np.ndarray, candidate: np.ndarray, champion: np.ndarray | None
) -> list[SliceResult]:
    """The candidate on each slice of settings.SLICES, against the champion when there is one."""
    return compare_slices(
        data,
        actual,
        candidate,
        champion,
        settings.VALIDATION_THRESHOLDS,
        bands=settings.SLICES,
        min_rows=settings.SLICE_MIN_ROWS,
        max_relative_worsening=settings.SLICE_MAX_RELATIVE_WORSENING,
        **bootstrap_settings(),
    )


def comparison_tags(comparison: Comparison) -> dict[str, str]:
    """What the version's tags say of the bootstrap: the rule, and per metric interval and wins."""
    tags = {"validation_rule": comparison.rule}
    for result in comparison.metrics:
        prefix = validation_metric_tag(result.metric)
        tags[f"{prefix}_worsening_interval"] = (
            f"[{result.worsening_low:.6g}, {result.worsening_high:.6g}]"
        )
        tags[f"{prefix}_tolerance"] = f"{result.tolerance:.6g}"
        tags[f"{prefix}_win_rate"] = f"{result.win_rate:.4g}"
    return tags


def log_comparison(comparison: Comparison) -> None:
    """The bootstrap's settings as parameters of the active run, its outcome as metrics."""
    mlflow.log_params(
        {
            "promotion_rule": comparison.rule,
            "bootstrap_resamples": comparison.resamples,
            "bootstrap_seed": comparison.seed,
            "bootstrap_confidence": comparison.confidence,
            "bootstrap_min_win_rate": comparison.min_win_rate,
        }
    )
    metrics = {}
    for result in comparison.metrics:
        metrics[f"bootstrap_{result.metric}_worsening_low"] = result.worsening_low
        metrics[f"bootstrap_{result.metric}_worsening_high"] = result.worsening_high
        metrics[f"bootstrap_{result.metric}_tolerance"] = result.tolerance
        metrics[f"bootstrap_{result.metric}_win_rate"] = result.win_rate
    mlflow.log_metrics(metrics)


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
    if settings.PROMOTION_RULE not in RULES:
        raise UserError(
            f"settings.PROMOTION_RULE '{settings.PROMOTION_RULE}' is not one of "
            f"{', '.join(RULES)}. Set it to one of them in settings.py."
        )
    use_mlflow(experiment_name)
    client = MlflowClient()
    name = model_ref.full_name
    model_version = get_version(client, name, version)
    # Until the verdict is tagged the version is PENDING, and stays so if this step crashes:
    # deployment promotes nothing but PASSED.
    client.set_model_version_tag(name, version, VALIDATION_STATUS_TAG, PENDING)
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
    compliance = check_compliance(name, model_version)
    actual = data[LABEL].to_numpy(dtype=float)
    with mlflow.start_run(run_name=f"validate version {version}"):
        metrics = evaluate(f"models:/{name}/{version}", data, f"candidate version {version}")
        candidate = predict(f"models:/{name}/{version}", data)
        champion_metrics, champion, comparison = None, None, None
        failures = check_limits(metrics, settings.VALIDATION_THRESHOLDS)
        if champion_version == version:
            champion_metrics = metrics
        elif champion_version is not None:
            champion_metrics = evaluate(
                f"models:/{name}/{champion_version}", data, f"champion version {champion_version}"
            )
            champion = predict(f"models:/{name}/{champion_version}", data)
            comparison = compare_with_champion(actual, candidate, champion)
            log_comparison(comparison)
            failures += comparison.failures
            # A metric the bootstrap does not resample is still compared on the whole hold-out.
            point_only = [
                t for t in settings.VALIDATION_THRESHOLDS if t.metric not in RESAMPLED_METRICS
            ]
            failures += check_against_champion(metrics, champion_metrics, point_only)
        slices = compare_on_slices(data, actual, candidate, champion)
        failures += [failure for result in slices for failure in result.failures]
        failures += compliance
        status = FAILED if failures else PASSED
        result = ValidationResult(
            name,
            version,
            mode,
            status,
            metrics,
            champion_version,
            champion_metrics,
            tuple(failures),
            comparison,
            tuple(slices),
            tuple(compliance),
        )
        report = log_report(build_report(result, actual, candidate, champion), REPORT_ARTIFACT)
        mlflow.log_params({"validation_mode": mode, "model_version": version})
        mlflow.set_tag(VALIDATION_STATUS_TAG, status)

    tags = {VALIDATION_STATUS_TAG: status, "validation_mode": mode, VALIDATION_REPORT_TAG: report}
    for threshold in settings.VALIDATION_THRESHOLDS:
        tags[validation_metric_tag(threshold.metric)] = f"{metrics[threshold.metric]:.6g}"
    if champion_version is not None:
        tags["validation_champion_version"] = champion_version
    if comparison is not None:
        tags |= comparison_tags(comparison)
    if failures:
        tags["validation_failures"] = "; ".join(failures)[:250]
    # The status last: until every other tag is written the version stays PENDING.
    status_tag = tags.pop(VALIDATION_STATUS_TAG)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_model_version_tag(name, version, VALIDATION_STATUS_TAG, status_tag)
    if status == PASSED:
        client.set_registered_model_alias(name, CHALLENGER, version)
    return replace(result, report=report)


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
    if result.comparison is not None:
        text += f"\n  Decided by {result.comparison.describe_rule()}:"
        for metric in result.comparison.metrics:
            text += (
                f"\n    {metric.metric}: worse than the champion by "
                f"[{metric.worsening_low:.4g}, {metric.worsening_high:.4g}] "
                f"(tolerance {metric.tolerance:.4g}), better on {metric.win_rate:.0%} of resamples"
            )
    for failure in result.failures:
        text += f"\n  - {failure}"
    if result.report:
        text += f"\n  report: {result.report}"
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
