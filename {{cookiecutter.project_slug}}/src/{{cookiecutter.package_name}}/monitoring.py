"""Monitoring: drift and quality of the latest batch of predictions, window by window.

For each time window (by pickup time) of the latest batch: the drift of every model feature from
the trips the model was trained on (population stability index and Jensen-Shannon distance over
the training deciles), and the model's RMSE and MAE on the trips whose fare is known. The metrics
are written to `<predictions table>_monitoring`. A metric that breaks its threshold in at least
ALERT_MIN_VIOLATIONS of the last ALERT_WINDOWS windows, the latest included, raises the retraining
signal. The window and every threshold are in settings.py.
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from . import cli, settings
from .dataset import (
    BOOKING_COLUMNS,
    FEATURE_COLUMNS,
    LABEL,
    PICKUP_TIME,
    TRIP_ID,
    model_inputs,
    read_trips,
    with_trip_id,
)
from .inference import PREDICTION, PREDICTIONS_COLUMNS
from .platform.errors import UserError
from .platform.runtime import Runtime, get_runtime, use_mlflow
from .platform.tables import rewrite_fix, table_name
from .platform.task_values import get_task_value, set_task_value
from .registry import ModelRef, get_version, validation_metric_tag

TASK_KEY = "monitor"
BINS = 10  # deciles of the training data
QUALITY_METRICS = ("root_mean_squared_error", "mean_absolute_error")
METRICS_KEYS = ["batch_id", "window_start", "metric", "subject"]
METRICS_COLUMNS = [
    *METRICS_KEYS,
    "window_end",
    "model_version",
    "monitored_at",
    "value",
    "threshold",
    "rows",
    "judged",
    "violated",
]


def metrics_table(catalog: str, schema: str, predictions_table: str) -> str:
    return table_name(catalog, schema, f"{predictions_table}_monitoring")


# Distances between binned distributions --------------------------------------------------------


def _proportions(counts: Sequence[float]) -> np.ndarray:
    array = np.asarray(counts, dtype=float)
    # A small floor keeps empty bins from dividing by zero.
    return np.maximum(array / max(array.sum(), 1.0), 1e-4)


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of `actual` against `expected` (bin counts)."""
    e, a = _proportions(expected), _proportions(actual)
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Jensen-Shannon distance (base 2, between 0 and 1) of two binned distributions."""
    e, a = _proportions(expected), _proportions(actual)
    e, a = e / e.sum(), a / a.sum()
    middle = (e + a) / 2
    divergence = (np.sum(e * np.log2(e / middle)) + np.sum(a * np.log2(a / middle))) / 2
    return float(np.sqrt(max(divergence, 0.0)))


# Spark aggregations -----------------------------------------------------------------------------


def decile_edges(baseline: DataFrame, features: list[str]) -> dict[str, list[float]]:
    """Inner bin edges of each feature: its deciles in the baseline, without repeats."""
    probabilities = [i / BINS for i in range(1, BINS)]
    quantiles = baseline.approxQuantile(features, probabilities, 0.001)
    return {feature: sorted(set(q)) for feature, q in zip(features, quantiles, strict=True)}


def _bin(column: str, edges: list[float]) -> Column:
    """Bin index: how many edges lie below the value; -1 for a missing value."""
    above = sum((F.col(column) > F.lit(edge)).cast("int") for edge in edges) if edges else F.lit(0)
    return F.when(F.col(column).isNull() | F.isnan(column), F.lit(-1)).otherwise(above)


def bin_counts(rows: DataFrame, edges: dict[str, list[float]], by: list[str]) -> pd.DataFrame:
    """Rows per (`by`..., feature, bin), collected: small whatever the number of rows."""
    stacked = F.explode(
        F.array(
            *(
                F.struct(F.lit(feature).alias("feature"), _bin(feature, e).alias("bin"))
                for feature, e in edges.items()
            )
        )
    )
    counts = rows.select(*by, stacked.alias("b")).groupBy(*by, "b.feature", "b.bin").count()
    return counts.toPandas()


def with_window(rows: DataFrame) -> DataFrame:
    start = F.date_trunc(settings.MONITORING_WINDOW, PICKUP_TIME)
    return rows.withColumn("window_start", start).withColumn(
        "window_end", start + F.expr(f"INTERVAL 1 {settings.MONITORING_WINDOW.upper()}")
    )


def quality_by_window(scored: DataFrame) -> pd.DataFrame:
    """Trips, labelled trips, RMSE and MAE per window; metrics are null where no label arrived."""
    error = F.col(PREDICTION) - F.col(LABEL)
    return (
        scored.groupBy("window_start", "window_end")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.count(LABEL).alias("labelled"),
            F.sqrt(F.avg(error * error)).alias("root_mean_squared_error"),
            F.avg(F.abs(error)).alias("mean_absolute_error"),
        )
        .toPandas()
    )


# Metrics and the violation rule -----------------------------------------------------------------


def drift_metrics(
    baseline_counts: pd.DataFrame, window_counts: pd.DataFrame, bins: dict
) -> list[dict]:
    """One row per window, feature and distance."""
    rows = []
    for (start, end, feature), group in window_counts.groupby(
        ["window_start", "window_end", "feature"]
    ):
        index = list(range(-1, len(bins[feature]) + 1))
        expected = (
            baseline_counts[baseline_counts.feature == feature].set_index("bin")["count"]
        ).reindex(index, fill_value=0)
        actual = group.set_index("bin")["count"].reindex(index, fill_value=0)
        for metric, distance in (("psi", psi), ("js_distance", js_distance)):
            rows.append(
                {
                    "window_start": start,
                    "window_end": end,
                    "metric": metric,
                    "subject": feature,
                    "value": distance(expected.to_numpy(), actual.to_numpy()),
                    "threshold": settings.DRIFT_THRESHOLDS[metric],
                    "rows": int(actual.sum()),
                }
            )
    return rows


def quality_thresholds(version_tags: dict[str, str]) -> dict[str, float]:
    """The error a window may reach: settings.QUALITY_TOLERANCE above what validation measured or,
    for a version that was not validated, the validation gate's own limit."""
    limits = {threshold.metric: threshold.limit for threshold in settings.VALIDATION_THRESHOLDS}
    thresholds = {}
    for metric in QUALITY_METRICS:
        measured = version_tags.get(validation_metric_tag(metric))
        thresholds[metric] = limits[metric]
        if measured:
            thresholds[metric] = float(measured) * (1 + settings.QUALITY_TOLERANCE)
    return thresholds


def quality_metrics(quality: pd.DataFrame, thresholds: dict[str, float]) -> list[dict]:
    rows = []
    for record in quality.itertuples(index=False):
        for metric, threshold in thresholds.items():
            value = getattr(record, metric)
            rows.append(
                {
                    "window_start": record.window_start,
                    "window_end": record.window_end,
                    "metric": metric,
                    "subject": PREDICTION,
                    "value": None if pd.isna(value) else float(value),
                    "threshold": threshold,
                    "rows": int(record.labelled),
                }
            )
    return rows


def judge(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mark each metric row: judged (enough rows and a value) and violated (above its threshold)."""
    judged = (metrics["rows"] >= settings.MONITORING_MIN_ROWS) & metrics["value"].notna()
    return metrics.assign(
        judged=judged, violated=judged & (metrics["value"] > metrics["threshold"])
    )


@dataclass(frozen=True)
class Alert:
    metric: str
    subject: str
    violations: int
    windows: int

    def __str__(self) -> str:
        return (
            f"{self.metric} of {self.subject} broke its threshold in {self.violations} of the "
            f"last {self.windows} windows, the latest included"
        )


def alerts(
    judged: pd.DataFrame,
    last: int = settings.ALERT_WINDOWS,
    at_least: int = settings.ALERT_MIN_VIOLATIONS,
) -> list[Alert]:
    """Series that broke their threshold in at least `at_least` of the `last` judged windows,
    the latest of them included."""
    found = []
    for (metric, subject), series in judged[judged.judged].groupby(["metric", "subject"]):
        recent = series.sort_values("window_start").tail(last)
        violations = int(recent.violated.sum())
        if violations >= at_least and bool(recent.violated.iloc[-1]):
            found.append(Alert(metric, subject, violations, len(recent)))
    return found


# The step ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitoringResult:
    metrics_table: str
    batch_id: str
    model_version: str
    metrics: pd.DataFrame
    alerts: list[Alert]

    @property
    def retrain(self) -> bool:
        return bool(self.alerts)


def latest_batch(predictions: DataFrame) -> tuple[str, str]:
    latest = predictions.orderBy(F.desc("scored_at"), F.desc("batch_id")).first()
    if latest is None:
        raise UserError(
            "The predictions table is empty. Run batch inference (batch-inference) first."
        )
    return latest["batch_id"], str(latest["model_version"])


def training_rows(runtime: Runtime, model_ref: ModelRef, version: ModelVersion) -> DataFrame:
    """Model inputs of the trips `version` was trained on: the baseline of 'no drift'."""
    params = MlflowClient().get_run(version.run_id).data.params
    if "holdout_start" not in params or "input_table" not in params:
        raise UserError(
            f"Version {version.version} of '{model_ref.full_name}' was not trained by "
            "train-model, so its training data, the baseline of drift, is unknown."
        )
    trips = read_trips(runtime, params["input_table"])
    trained_on = trips.where(F.col(PICKUP_TIME) < F.lit(params["holdout_start"]).cast("timestamp"))
    return model_inputs(runtime, trained_on, model_ref.catalog, model_ref.schema)


def monitor(
    runtime: Runtime, input_table: str, model_ref: ModelRef, predictions_table: str
) -> MonitoringResult:
    name = model_ref.full_name
    predictions = runtime.tables.read(
        table_name(model_ref.catalog, model_ref.schema, predictions_table),
        fix="Run batch inference (batch-inference) first.",
        columns=PREDICTIONS_COLUMNS,
        column_fix=rewrite_fix("batch-inference"),
    )
    batch_id, version = latest_batch(predictions)
    batch = with_window(predictions.where(F.col("batch_id") == batch_id))

    use_mlflow()
    model_version = get_version(MlflowClient(), name, version)
    baseline = training_rows(runtime, model_ref, model_version)
    edges = decile_edges(baseline, FEATURE_COLUMNS)
    baseline_counts = bin_counts(baseline, edges, by=[])
    window_counts = bin_counts(batch, edges, by=["window_start", "window_end"])

    # Labels arrive in the input table; a trip without a fare yet is not judged.
    labels = read_trips(runtime, input_table, columns=[*BOOKING_COLUMNS, LABEL])
    labels = with_trip_id(labels).select(TRIP_ID, LABEL)
    labelled = batch.join(labels.dropDuplicates([TRIP_ID]), on=TRIP_ID, how="left")
    quality = quality_by_window(labelled)
    rows = drift_metrics(baseline_counts, window_counts, edges) + quality_metrics(
        quality, quality_thresholds(model_version.tags)
    )
    metrics = judge(pd.DataFrame(rows)).sort_values(["window_start", "metric", "subject"])
    found = alerts(metrics)

    stamped = metrics.assign(
        batch_id=batch_id,
        model_version=int(version),
        monitored_at=datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None),
    )[METRICS_COLUMNS]
    rows = runtime.spark.createDataFrame(stamped).withColumn(
        "value", F.nanvl("value", F.lit(None).cast("double"))
    )
    target = metrics_table(model_ref.catalog, model_ref.schema, predictions_table)
    runtime.tables.upsert(target, rows, keys=METRICS_KEYS)
    return MonitoringResult(target, batch_id, version, metrics, found)


def describe(result: MonitoringResult) -> str:
    metrics = result.metrics[result.metrics.judged]
    windows, unit = result.metrics.window_start.nunique(), settings.MONITORING_WINDOW
    lines = [
        f"Monitored batch {result.batch_id} (model version {result.model_version}) "
        f"over {windows} windows of one {unit}; metrics in {result.metrics_table}."
    ]
    for metric in ("psi", "js_distance"):
        drift = metrics[metrics.metric == metric]
        if not drift.empty:
            worst = drift.loc[drift.value.idxmax()]
            lines.append(
                f"  largest {metric}: {worst.value:.3f} ({worst.subject}, {unit} of "
                f"{worst.window_start:%Y-%m-%d}; threshold {worst.threshold:g})"
            )
    quality = metrics[metrics.subject == PREDICTION]
    if not quality.empty:
        latest = quality[quality.window_start == quality.window_start.max()]
        shown = ", ".join(f"{r.metric} {r.value:.3f}" for r in latest.itertuples())
        lines.append(f"  quality in the latest judged window: {shown}")
    lines.append(f"  retraining signal: {'true' if result.retrain else 'false'}")
    lines.extend(f"  - {alert}" for alert in result.alerts)
    return "\n".join(lines)


@cli.entry_point(
    "Measure drift and quality of the latest predictions; signal retraining.",
    cli.add_input_table,
    cli.add_model_name,
    cli.add_predictions_table,
)
def main(args: argparse.Namespace) -> None:
    result = monitor(
        get_runtime(),
        args.input_table,
        ModelRef(args.catalog, args.schema, args.model_name),
        args.predictions_table,
    )
    set_task_value("retrain", "true" if result.retrain else "false", task_key=TASK_KEY)
    print(describe(result))


def summary_lines(
    runtime: Runtime, catalog: str, schema: str, predictions_table: str
) -> list[tuple[str, str]]:
    """Drift and the retraining signal of the latest monitoring run, for the pipeline summary."""
    name = metrics_table(catalog, schema, predictions_table)
    if not runtime.tables.exists(name):
        return [("drift", "not measured yet"), ("retraining signal", "none")]
    metrics = runtime.tables.read(
        name, fix="", columns=METRICS_COLUMNS, column_fix=rewrite_fix("monitor-model")
    )
    latest = metrics.orderBy(F.desc("monitored_at"), F.desc("batch_id")).first()["batch_id"]
    judged = metrics.where((F.col("batch_id") == latest) & F.col("judged")).toPandas()
    drift = []
    for metric in settings.DRIFT_THRESHOLDS:
        rows = judged[judged.metric == metric]
        if not rows.empty:
            worst = rows.loc[rows.value.idxmax()]
            drift.append(f"largest {metric} {worst.value:.3f} ({worst.subject})")
    breaking = judged[judged.violated & (judged.window_start == judged.window_start.max())]
    drift.append(f"{len(breaking)} metric(s) over threshold in the latest window")
    retrain = get_task_value(TASK_KEY, "retrain") or "not computed"
    return [("drift", "; ".join(drift)), ("retraining signal", retrain)]
