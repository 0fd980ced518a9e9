"""Monitoring: drift and quality of the model's predictions, window by window, and the retraining
signal.

What is watched: a data-profiling monitor of type inference log (monitor_specs.py) on the batch
predictions table
{%- if cookiecutter.include_serving == "yes" %}, and one on the endpoint's requests, unpacked from its inference table
{%- endif %}.
Each monitored table gets two metric tables: `<table>_profile_metrics` (rows, missing values,
and RMSE and MAE where fares are known, per window and model version) and
`<table>_drift_metrics` (population stability index and Jensen-Shannon distance of every model
feature from the trips the version was trained on). On Databricks the monitor writes them; locally
this step computes tables of the same names and key columns, and so it does on Databricks until the
monitor's first refresh has written them.

The violation check reads those tables the same way on both platforms: a metric that breaks its
threshold in at least ALERT_MIN_VIOLATIONS of the last ALERT_WINDOWS windows, the latest included,
raises the retraining signal. The windows and every threshold are in settings.py.

Each run is an MLflow run in the project's experiment, with a report (monitoring_report.py) of
what it measured: the features' distributions in the latest window against the baseline, drift
and quality over time against their thresholds, and the retraining signal. The monitored model
version's tag `monitoring_report` says where the latest report is.
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

import mlflow
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
{%- if cookiecutter.include_serving == "yes" %}
from .inference_requests import unpack_requests
{%- endif %}
from .monitor_specs import (
    MODEL_ID,
    InferenceMonitorSpec,
    baseline_table,
    drift_metrics_table,
    predictions_monitor,
    profile_metrics_table,
{%- if cookiecutter.include_serving == "yes" %}
    requests_monitor,
{%- endif %}
)
from .monitoring_report import monitoring_report
from .platform.errors import UserError
from .platform.monitors import Monitors, get_monitors
from .platform.reports import log_report
from .platform.runtime import Runtime, get_runtime, use_mlflow
from .platform.tables import rewrite_fix, table_name
from .platform.task_values import get_task_value, set_task_value
from .registry import MONITORING_REPORT_TAG, ModelRef, get_version, validation_metric_tag

TASK_KEY = "monitor"
BINS = 10  # deciles of the training data
# The run's artifact folder of the report; the model version's MONITORING_REPORT_TAG says where it
# is, for the pipeline summary and `make report`.
REPORT_ARTIFACT = "monitoring_report"

# The metric tables, as Databricks' monitors write them: the key columns, and the columns of the
# metrics this project judges. Whole-table metrics (the model's quality) have column_name ':table';
# slice_key and slice_value are null for the whole table, the only slice computed here.
TABLE_ROW = ":table"
INPUT_LOG, BASELINE_DRIFT = "INPUT", "BASELINE"
# Besides `window`, a struct<start: timestamp, end: timestamp>.
KEY_FIELDS = [
    ("granularity", "string"),
    (MODEL_ID, "bigint"),
    ("slice_key", "string"),
    ("slice_value", "string"),
    ("column_name", "string"),
]
PROFILE_FIELDS = [
    *KEY_FIELDS,
    ("log_type", "string"),
    ("count", "bigint"),
    ("num_nulls", "bigint"),
    ("root_mean_squared_error", "double"),
    ("mean_average_error", "double"),
]
DRIFT_FIELDS = [
    *KEY_FIELDS,
    ("drift_type", "string"),
    ("population_stability_index", "double"),
    ("js_distance", "double"),
]
# This project's metric names and the metric tables' columns that hold them.
DRIFT_COLUMNS = {"psi": "population_stability_index", "js_distance": "js_distance"}
QUALITY_COLUMNS = {
    "root_mean_squared_error": "root_mean_squared_error",
    "mean_absolute_error": "mean_average_error",  # Databricks' name for the MAE
}
QUALITY_METRICS = tuple(QUALITY_COLUMNS)
# The rows the metrics tables hold, as this step reads them.
JUDGED_COLUMNS = ["window_start", "window_end", "metric", "subject", "value", "threshold", "rows"]


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


# Windows ----------------------------------------------------------------------------------------

_UNITS = {"1 hour": "hour", "1 day": "day", "1 week": "week", "1 month": "month", "1 year": "year"}


def window_unit(granularity: str) -> str:
    """The unit of Spark's date_trunc that makes windows of one monitor granularity."""
    if granularity not in _UNITS:
        raise UserError(
            f"settings.MONITORING_GRANULARITY is '{granularity}', which this step cannot compute "
            f"windows of. Use one of: {', '.join(_UNITS)}."
        )
    return _UNITS[granularity]


def with_window(rows: DataFrame, timestamp: str, granularity: str) -> DataFrame:
    unit = window_unit(granularity)
    start = F.date_trunc(unit, timestamp)
    return rows.withColumn("window_start", start).withColumn(
        "window_end", start + F.expr(f"INTERVAL 1 {unit.upper()}")
    )


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


def latest_window_distributions(windowed: DataFrame, known: DataFrame) -> pd.DataFrame:
    """Shares per decile bin of every feature in the baseline rows `known` and in the latest window
    of `windowed` that has rows, in the bins the drift is measured in; empty without rows."""
    latest = windowed.agg(F.max("window_start")).first()[0]
    if latest is None:
        return distribution_shares(pd.DataFrame(), pd.DataFrame(), {}).assign(window_start=None)
    edges = decile_edges(known, FEATURE_COLUMNS)
    current = bin_counts(windowed.where(F.col("window_start") == F.lit(latest)), edges, by=[])
    shares = distribution_shares(bin_counts(known, edges, by=[]), current, edges)
    return shares.assign(window_start=pd.Timestamp(latest))


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


# The metric tables, computed: the local twin of Databricks' monitor -----------------------------


def drift_rows(baseline_counts: pd.DataFrame, window_counts: pd.DataFrame, bins: dict) -> list:
    """One drift row per window and feature, and the feature's row count and missing values."""
    drift, counts = [], []
    for (start, end, feature), group in window_counts.groupby(
        ["window_start", "window_end", "feature"]
    ):
        index = list(range(-1, len(bins[feature]) + 1))
        expected = (
            baseline_counts[baseline_counts.feature == feature].set_index("bin")["count"]
        ).reindex(index, fill_value=0)
        actual = group.set_index("bin")["count"].reindex(index, fill_value=0)
        window = {"window_start": start, "window_end": end, "column_name": feature}
        drift.append(
            {
                **window,
                "population_stability_index": psi(expected.to_numpy(), actual.to_numpy()),
                "js_distance": js_distance(expected.to_numpy(), actual.to_numpy()),
            }
        )
        counts.append({**window, "count": int(actual.sum()), "num_nulls": int(actual[-1])})
    return drift, counts


def distribution_shares(
    baseline_counts: pd.DataFrame, window_counts: pd.DataFrame, edges: dict[str, list[float]]
) -> pd.DataFrame:
    """Share of rows per feature and bin, in the baseline and in one window, with each bin's
    bounds: bin i holds the values above edge i-1 up to edge i; bin -1 the missing values, kept
    only where either side has some."""
    rows = []
    for feature, inner in edges.items():
        index = list(range(-1, len(inner) + 1))
        bounds = [-np.inf, *inner, np.inf]
        shares = {}
        for side, counts in (("baseline", baseline_counts), ("current", window_counts)):
            count = counts[counts.feature == feature].set_index("bin")["count"]
            count = count.reindex(index, fill_value=0).astype(float)
            shares[side] = count / max(count.sum(), 1.0)
        for b in index:
            if b == -1 and shares["baseline"][b] == 0 and shares["current"][b] == 0:
                continue
            lower, upper = (np.nan, np.nan) if b == -1 else (bounds[b], bounds[b + 1])
            rows.append(
                {
                    "feature": feature,
                    "bin": b,
                    "lower": lower,
                    "upper": upper,
                    "baseline": shares["baseline"][b],
                    "current": shares["current"][b],
                }
            )
    return pd.DataFrame(rows, columns=["feature", "bin", "lower", "upper", "baseline", "current"])


def quality_rows(quality: pd.DataFrame) -> list[dict]:
    """The model's quality per window (':table'), and the label's row count and missing values."""
    rows = []
    for record in quality.itertuples(index=False):
        window = {"window_start": record.window_start, "window_end": record.window_end}
        rows.append(
            {
                **window,
                "column_name": TABLE_ROW,
                "count": int(record.rows),
                "num_nulls": 0,
                **{
                    column: None if pd.isna(value) else float(value)
                    for column, value in (
                        (column, getattr(record, metric))
                        for metric, column in QUALITY_COLUMNS.items()
                    )
                },
            }
        )
        rows.append(
            {
                **window,
                "column_name": LABEL,
                "count": int(record.rows),
                "num_nulls": int(record.rows - record.labelled),
            }
        )
    return rows


def compute_metric_tables(
    runtime: Runtime, spec: InferenceMonitorSpec, monitored: DataFrame, baseline: DataFrame
) -> tuple[DataFrame, DataFrame]:
    """Profile and drift metrics of `monitored` at the judged granularity, for every model version
    the baseline knows: what the monitor writes, for the columns the check reads."""
    granularity = settings.MONITORING_GRANULARITY
    windowed = with_window(monitored, spec.timestamp_col, granularity)
    profile, drift = [], []
    versions = {row[0] for row in baseline.select(MODEL_ID).distinct().collect()}
    for version in sorted(versions):
        rows = windowed.where(F.col(MODEL_ID) == F.lit(version))
        known = baseline.where(F.col(MODEL_ID) == F.lit(version))
        edges = decile_edges(known, FEATURE_COLUMNS)
        window_counts = bin_counts(rows, edges, by=["window_start", "window_end"])
        if window_counts.empty:
            continue
        version_drift, feature_counts = drift_rows(
            bin_counts(known, edges, by=[]), window_counts, edges
        )
        common = {"granularity": granularity, MODEL_ID: int(version)}
        drift += [{**row, **common, "drift_type": BASELINE_DRIFT} for row in version_drift]
        profile += [
            {**row, **common, "log_type": INPUT_LOG}
            for row in feature_counts + quality_rows(quality_by_window(rows))
        ]
    return _metric_table(runtime, profile, PROFILE_FIELDS), _metric_table(
        runtime, drift, DRIFT_FIELDS
    )


def _plain(value: object) -> object:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if value is None or pd.isna(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _metric_table(runtime: Runtime, rows: list[dict], fields: list[tuple[str, str]]) -> DataFrame:
    """Rows with window_start and window_end as a table of `fields` with a `window` struct."""
    flat = [("window_start", "timestamp"), ("window_end", "timestamp"), *fields]
    frame = pd.DataFrame(rows).reindex(columns=[name for name, _ in flat])
    records = [
        # Spark takes Python's own values: datetimes, ints, floats and None.
        [_plain(value) for value in record]
        for record in frame.astype(object).itertuples(index=False)
    ]
    schema = ", ".join(f"`{name}` {kind}" for name, kind in flat)
    table = runtime.spark.createDataFrame(records, schema)
    window = F.struct(F.col("window_start").alias("start"), F.col("window_end").alias("end"))
    return table.select(window.alias("window"), *(name for name, _ in fields))


# Reading the metric tables and the violation rule -----------------------------------------------


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


def metrics_of(
    profile: pd.DataFrame, drift: pd.DataFrame, quality_limits: dict[str, float]
) -> pd.DataFrame:
    """The metric tables' rows of one model version and granularity, whole table, as one row per
    window, metric and subject with its threshold and the rows it was measured on: every drift
    distance of a feature over the feature's rows, the model's errors over the labelled rows."""
    window = ["window_start", "window_end"]
    counts = profile.set_index([*window, "column_name"])[["count", "num_nulls"]]
    rows = []
    for record in drift.itertuples(index=False):
        key = (record.window_start, record.window_end, record.column_name)
        measured = int(counts.loc[key, "count"]) if key in counts.index else 0
        for metric, column in DRIFT_COLUMNS.items():
            value = getattr(record, column)
            rows.append(
                (*key[:2], metric, record.column_name, value, settings.DRIFT_THRESHOLDS[metric])
                + (measured,)
            )
    tables = profile[profile.column_name == TABLE_ROW]
    for record in tables.itertuples(index=False):
        key = (record.window_start, record.window_end, LABEL)
        labelled = 0
        if key in counts.index:
            labelled = int(counts.loc[key, "count"] - counts.loc[key, "num_nulls"])
        for metric, column in QUALITY_COLUMNS.items():
            value = getattr(record, column)
            rows.append((*key[:2], metric, PREDICTION, value, quality_limits[metric], labelled))
    metrics = pd.DataFrame(rows, columns=JUDGED_COLUMNS)
    metrics["value"] = pd.to_numeric(metrics["value"], errors="coerce").astype(float)
    return metrics


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


def _whole_table(rows: DataFrame, version: str, kind: str, value: str) -> pd.DataFrame:
    """Rows of one model version at the judged granularity, whole table, windows unpacked."""
    selected = rows.where(
        (F.col("granularity") == settings.MONITORING_GRANULARITY)
        & (F.col(MODEL_ID).cast("string") == str(version))
        & F.col("slice_key").isNull()
        & (F.col(kind) == value)
    )
    return selected.select(
        F.col("window.start").alias("window_start"),
        F.col("window.end").alias("window_end"),
        *(c for c in selected.columns if c not in ("window", "window_start", "window_end")),
    ).toPandas()


def judged_metrics(
    profile: DataFrame, drift: DataFrame, version: str, quality_limits: dict[str, float]
) -> pd.DataFrame:
    """The violation check's input, read from the metric tables however they were written."""
    metrics = metrics_of(
        _whole_table(profile, version, "log_type", INPUT_LOG),
        _whole_table(drift, version, "drift_type", BASELINE_DRIFT),
        quality_limits,
    )
    return judge(metrics).sort_values(["window_start", "metric", "subject"], ignore_index=True)


# The step ---------------------------------------------------------------------------------------


# What a monitored table holds: the batch predictions
{%- if cookiecutter.include_serving == "yes" %}, or the endpoint's requests{% endif %}.
PREDICTIONS = "predictions"
{%- if cookiecutter.include_serving == "yes" %}
REQUESTS = "requests"
{%- endif %}


@dataclass(frozen=True)
class Watched:
    """One monitored table: where its metrics are, what they say, and what broke."""

    table: str
    kind: str  # PREDICTIONS{% if cookiecutter.include_serving == "yes" %} or REQUESTS{% endif %}
    metric_tables: tuple[str, str]
    monitor: str  # what happened to its Databricks monitor, or that this step computed them
    metrics: pd.DataFrame
    alerts: list[Alert]
    # Shares per decile bin of each feature: the baseline and the latest window with rows.
    distributions: pd.DataFrame

    @property
    def prefix(self) -> str:
        """Of the names of its figures and run metrics: none for the predictions table."""
        return "" if self.kind == PREDICTIONS else f"{self.kind}_"


def retraining_needed(watched: Sequence[Watched]) -> bool:
    return any(table.alerts for table in watched)


@dataclass(frozen=True)
class MonitoringResult:
    batch_id: str
    model_version: str
    watched: list[Watched]
    report: str  # where the report's page is: a local path, or the artifact's URI

    @property
    def alerts(self) -> list[Alert]:
        return [alert for watched in self.watched for alert in watched.alerts]

    @property
    def retrain(self) -> bool:
        return retraining_needed(self.watched)


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


def ensure_baseline(
    runtime: Runtime, model_ref: ModelRef, predictions_table: str, version: ModelVersion
) -> DataFrame:
    """The baseline table, holding the training rows of `version` (added once per version)."""
    name = baseline_table(model_ref.catalog, model_ref.schema, predictions_table)
    columns = [*FEATURE_COLUMNS, LABEL, MODEL_ID]
    fix = rewrite_fix("monitor-model")
    if runtime.tables.exists(name):
        baseline = runtime.tables.read(name, fix="", columns=columns, column_fix=fix)
        if not baseline.where(F.col(MODEL_ID) == int(version.version)).isEmpty():
            return baseline
    rows = training_rows(runtime, model_ref, version)
    rows = rows.withColumn(MODEL_ID, F.lit(int(version.version))).select(*columns)
    runtime.tables.append(name, rows)
    return runtime.tables.read(name, fix="", columns=columns)


def fill_labels(runtime: Runtime, input_table: str, predictions_name: str) -> None:
    """Write the fares that arrived in the input table into the predictions still without one,
    so the monitors measure quality from the predictions table alone."""
    predictions = runtime.tables.read(predictions_name, fix="", columns=PREDICTIONS_COLUMNS)
    labels = read_trips(runtime, input_table, columns=[*BOOKING_COLUMNS, LABEL])
    labels = with_trip_id(labels).select(TRIP_ID, F.col(LABEL).alias("arrived"))
    arrived = (
        predictions.where(F.col(LABEL).isNull())
        .join(labels.dropDuplicates([TRIP_ID]), on=TRIP_ID)
        .withColumn(LABEL, F.col("arrived"))
        .select(*predictions.columns)
        # A trip booked twice alike is one row to Delta's MERGE: both targets get its fare.
        .dropDuplicates([TRIP_ID, "batch_id"])
    )
    if not arrived.isEmpty():
        runtime.tables.upsert(predictions_name, arrived, keys=[TRIP_ID, "batch_id"])


def watch(
    runtime: Runtime,
    monitors: Monitors,
    spec: InferenceMonitorSpec,
    baseline: DataFrame,
    version: str,
    quality_limits: dict[str, float],
    kind: str = PREDICTIONS,
) -> Watched:
    """Apply the table's monitor, get its metric tables, judge the version's windows, and bin the
    latest window's features for the report."""
    outcome = monitors.apply(spec)
    tables = (spec.profile_metrics_table, spec.drift_metrics_table)
    written = all(runtime.tables.exists(name) for name in tables)
    monitored = runtime.tables.read(spec.table_name, fix="")
    if monitors.writes_metric_tables or not written:
        profile, drift = compute_metric_tables(runtime, spec, monitored, baseline)
        if monitors.writes_metric_tables:
            # Recomputed whole, as a monitor's refresh recomputes its windows.
            runtime.tables.overwrite(spec.profile_metrics_table, profile)
            runtime.tables.overwrite(spec.drift_metrics_table, drift)
    else:
        profile, drift = (runtime.tables.read(name, fix="") for name in tables)
    metrics = judged_metrics(profile, drift, version, quality_limits)
    of_version = F.col(MODEL_ID).cast("string") == str(version)
    windowed = with_window(monitored, spec.timestamp_col, settings.MONITORING_GRANULARITY)
    distributions = latest_window_distributions(
        windowed.where(of_version), baseline.where(of_version)
    )
    return Watched(
        spec.table_name, kind, tables, outcome.value, metrics, alerts(metrics), distributions
    )


def largest_drift(metrics: pd.DataFrame) -> dict[str, pd.Series]:
    """The judged row of each drift metric with the largest value."""
    judged = metrics[metrics.judged]
    largest = {}
    for metric in DRIFT_COLUMNS:
        rows = judged[judged.metric == metric]
        if not rows.empty:
            largest[metric] = rows.loc[rows.value.idxmax()]
    return largest


def log_outcome(watched: Sequence[Watched], report: str) -> None:
    """The run's figures: the largest drift of each table and the retraining signal."""
    for table in watched:
        for metric, row in largest_drift(table.metrics).items():
            mlflow.log_metric(f"{table.prefix}largest_{metric}", float(row.value))
            mlflow.set_tag(f"{table.prefix}largest_{metric}_feature", row.subject)
        mlflow.log_metric(f"{table.prefix}alerts", len(table.alerts))
    retrain = retraining_needed(watched)
    mlflow.log_metric("retrain", int(retrain))
    mlflow.set_tag("retrain", "true" if retrain else "false")
    mlflow.set_tag(MONITORING_REPORT_TAG, report)


def monitor(
    runtime: Runtime,
    input_table: str,
    model_ref: ModelRef,
    predictions_table: str,
{%- if cookiecutter.include_serving == "yes" %}
    endpoint_name: str,
{%- endif %}
    experiment_name: str,
    monitors: Monitors | None = None,
) -> MonitoringResult:
    monitors = monitors or get_monitors()
    catalog, schema = model_ref.catalog, model_ref.schema
    name = table_name(catalog, schema, predictions_table)
    predictions = runtime.tables.read(
        name,
        fix="Run batch inference (batch-inference) first.",
        columns=PREDICTIONS_COLUMNS,
        column_fix=rewrite_fix("batch-inference"),
    )
    batch_id, version = latest_batch(predictions)

    use_mlflow(experiment_name)
    client = MlflowClient()
    model_version = get_version(client, model_ref.full_name, version)
    # A crash ends the run FAILED and leaves the version's tag on the previous report.
    with mlflow.start_run(run_name=f"monitor version {version}"):
        mlflow.log_params({"model_version": version, "batch_id": batch_id})
        baseline = ensure_baseline(runtime, model_ref, predictions_table, model_version)
        limits = quality_thresholds(model_version.tags)
        fill_labels(runtime, input_table, name)
        spec = predictions_monitor(catalog, schema, predictions_table)
        watched = [watch(runtime, monitors, spec, baseline, version, limits)]
{%- if cookiecutter.include_serving == "yes" %}
        # The endpoint's requests, once it has logged some; they carry no fare: only drift counts.
        if unpack_requests(runtime, catalog, schema, endpoint_name) is not None:
            spec = requests_monitor(catalog, schema, predictions_table, endpoint_name)
            watched.append(watch(runtime, monitors, spec, baseline, version, limits, REQUESTS))
{%- endif %}
        report = monitoring_report(
            model_ref.full_name, version, batch_id, watched, retraining_needed(watched)
        )
        location = log_report(report, REPORT_ARTIFACT)
        log_outcome(watched, location)
    client.set_model_version_tag(model_ref.full_name, version, MONITORING_REPORT_TAG, location)
    return MonitoringResult(batch_id, version, watched, location)


def describe(result: MonitoringResult) -> str:
    unit = window_unit(settings.MONITORING_GRANULARITY)
    lines = []
    for watched in result.watched:
        metrics = watched.metrics[watched.metrics.judged]
        windows = watched.metrics.window_start.nunique()
        lines.append(
            f"Monitored {watched.table} (model version {result.model_version}, latest batch "
            f"{result.batch_id}) over {windows} windows of one {unit}; monitor: "
            f"{watched.monitor}; metrics in {' and '.join(watched.metric_tables)}."
        )
        for metric, worst in largest_drift(watched.metrics).items():
            lines.append(
                f"  largest {metric}: {worst.value:.3f} ({worst.subject}, {unit} of "
                f"{worst.window_start:%Y-%m-%d}; threshold {worst.threshold:g})"
            )
        quality = metrics[metrics.subject == PREDICTION]
        if not quality.empty:
            latest = quality[quality.window_start == quality.window_start.max()]
            shown = ", ".join(f"{r.metric} {r.value:.3f}" for r in latest.itertuples())
            lines.append(f"  quality in the latest judged window: {shown}")
        lines.extend(f"  - {alert}" for alert in watched.alerts)
    lines.append(f"  retraining signal: {'true' if result.retrain else 'false'}")
    lines.append(f"  report: {result.report}")
    return "\n".join(lines)


@cli.entry_point(
    "Measure drift and quality of the latest predictions; signal retraining.",
    cli.add_input_table,
    cli.add_model_name,
    cli.add_predictions_table,
{%- if cookiecutter.include_serving == "yes" %}
    cli.add_endpoint_name,
{%- endif %}
    cli.add_experiment_name,
)
def main(args: argparse.Namespace) -> None:
    result = monitor(
        get_runtime(),
        args.input_table,
        ModelRef(args.catalog, args.schema, args.model_name),
        args.predictions_table,
{%- if cookiecutter.include_serving == "yes" %}
        args.endpoint_name,
{%- endif %}
        args.experiment_name,
    )
    set_task_value("retrain", "true" if result.retrain else "false", task_key=TASK_KEY)
    print(describe(result))


def summary_lines(
    runtime: Runtime, model_ref: ModelRef, predictions_table: str
) -> list[tuple[str, str]]:
    """Drift and the retraining signal of the latest monitoring run, for the pipeline summary."""
    name = table_name(model_ref.catalog, model_ref.schema, predictions_table)
    tables = (profile_metrics_table(name), drift_metrics_table(name))
    if not all(runtime.tables.exists(table) for table in (name, *tables)):
        return [
            ("drift", "not measured yet"),
            ("retraining signal", "none"),
            ("monitoring report", "none"),
        ]
    predictions = runtime.tables.read(
        name, fix="", columns=PREDICTIONS_COLUMNS, column_fix=rewrite_fix("batch-inference")
    )
    _, version = latest_batch(predictions)
    tags = get_version(MlflowClient(), model_ref.full_name, version).tags
    profile, drift = (runtime.tables.read(table, fix="") for table in tables)
    metrics = judged_metrics(profile, drift, version, quality_thresholds(tags))
    judged = metrics[metrics.judged]
    shown = [
        f"largest {metric} {worst.value:.3f} ({worst.subject})"
        for metric, worst in largest_drift(metrics).items()
    ]
    breaking = judged[judged.violated & (judged.window_start == judged.window_start.max())]
    shown.append(f"{len(breaking)} metric(s) over threshold in the latest window")
    retrain = get_task_value(TASK_KEY, "retrain") or "not computed"
    return [
        ("drift", "; ".join(shown)),
        ("retraining signal", retrain),
        ("monitoring report", tags.get(MONITORING_REPORT_TAG, "none")),
    ]
