"""Monitoring: drift distances, quality per window, the violation rule, and the whole step."""

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from {{ cookiecutter.package_name }} import inference, monitoring, settings
from {{ cookiecutter.package_name }}.dataset import FEATURE_COLUMNS
from {{ cookiecutter.package_name }}.monitor_specs import predictions_monitor
from {{ cookiecutter.package_name }}.monitoring import (
    _bin,
    alerts,
    distribution_shares,
    js_distance,
    judge,
    latest_window_distributions,
    metrics_of,
    psi,
    quality_by_window,
    quality_thresholds,
    watch,
    window_unit,
    with_window,
)
from {{ cookiecutter.package_name }}.platform.errors import UserError
from {{ cookiecutter.package_name }}.platform.monitors import LocalMonitors, Outcome
from {{ cookiecutter.package_name }}.platform.runtime import get_runtime
from {{ cookiecutter.package_name }}.platform.task_values import TASK_KEY_VARIABLE, get_task_value
from {{ cookiecutter.package_name }}.sample_data import generate_trips
from {{ cookiecutter.package_name }}.settings import DRIFT_THRESHOLDS, MONITORING_MIN_ROWS

import conftest

UNIFORM = [100] * 10


@pytest.mark.parametrize("distance", [psi, js_distance])
def test_a_distribution_does_not_drift_from_itself(distance):
    assert distance(UNIFORM, UNIFORM) == pytest.approx(0.0, abs=1e-12)
    assert distance(UNIFORM, [10] * 10) == pytest.approx(0.0, abs=1e-12)  # only shares matter


@pytest.mark.parametrize(
    ("actual", "drifted"),
    [
        pytest.param([110, 90] * 5, False, id="sampling noise"),
        pytest.param([400, 300, 200, 100, 0, 0, 0, 0, 0, 0], True, id="mass moved to low bins"),
        pytest.param([0] * 9 + [1000], True, id="everything in one bin"),
    ],
)
def test_drift_is_flagged_only_when_the_distribution_moved(actual, drifted):
    assert (psi(UNIFORM, actual) > DRIFT_THRESHOLDS["psi"]) is drifted
    assert (js_distance(UNIFORM, actual) > DRIFT_THRESHOLDS["js_distance"]) is drifted


def test_js_distance_is_at_most_one():
    assert js_distance([1000, 0], [0, 1000]) == pytest.approx(1.0, abs=1e-3)


def test_values_fall_in_decile_bins_and_missing_values_apart(spark):
    frame = spark.createDataFrame([(0.5,), (1.0,), (1.5,), (9.0,), (None,)], "x double")
    bins = [row.b for row in frame.select(_bin("x", [1.0, 2.0]).alias("b")).collect()]
    assert bins == [0, 0, 1, 2, -1]


def test_shares_per_bin_carry_their_bounds_and_missing_values_only_where_some_are():
    edges = {"x": [1.0, 2.0]}
    baseline = pd.DataFrame({"feature": "x", "bin": [0, 1, 2], "count": [5, 3, 2]})
    window = pd.DataFrame({"feature": "x", "bin": [-1, 2], "count": [1, 3]})
    shares = distribution_shares(baseline, window, edges)
    assert shares.bin.tolist() == [-1, 0, 1, 2]
    assert shares.baseline.tolist() == pytest.approx([0.0, 0.5, 0.3, 0.2])
    assert shares.current.tolist() == pytest.approx([0.25, 0.0, 0.0, 0.75])
    assert shares.lower.tolist()[1:] == [-np.inf, 1.0, 2.0]
    assert shares.upper.tolist()[1:] == [1.0, 2.0, np.inf]
    assert shares.lower.isna().tolist()[0]
    assert distribution_shares(baseline, baseline, edges).bin.tolist() == [0, 1, 2]


def test_the_latest_window_with_rows_is_binned_like_the_baseline(spark):
    monday = datetime(2016, 1, 4)
    columns = ", ".join(f"`{c}` double" for c in FEATURE_COLUMNS)
    known = spark.createDataFrame([[float(i)] * len(FEATURE_COLUMNS) for i in range(100)], columns)
    # A week like the baseline, then a week of values above all of it.
    rows = [(monday, *[float(i)] * len(FEATURE_COLUMNS)) for i in range(100)]
    rows += [(monday + timedelta(days=7), *[500.0] * len(FEATURE_COLUMNS)) for _ in range(20)]
    scored = spark.createDataFrame(rows, f"at timestamp, {columns}")
    shares = latest_window_distributions(with_window(scored, "at", "1 week"), known)
    assert set(shares.window_start) == {pd.Timestamp(monday + timedelta(days=7))}
    assert set(shares.feature) == set(FEATURE_COLUMNS)
    for _, feature in shares.groupby("feature"):
        assert feature.baseline.sum() == pytest.approx(1.0)
        assert feature.baseline.tolist() == pytest.approx([0.1] * 10, abs=0.02)
        assert feature.current.tolist() == [0.0] * 9 + [1.0]
    empty = latest_window_distributions(with_window(scored, "at", "1 week").limit(0), known)
    assert empty.empty


def test_quality_is_measured_only_where_labels_arrived(spark):
    monday = datetime(2016, 1, 4, 9)
    rows = [
        (monday, 10.0, 12.0),
        (monday + timedelta(hours=1), 20.0, 16.0),
        (monday + timedelta(days=7), 15.0, None),
    ]
    scored = spark.createDataFrame(
        rows, "tpep_pickup_datetime timestamp, prediction double, fare_amount double"
    )
    windows = with_window(scored, "tpep_pickup_datetime", "1 week")
    quality = quality_by_window(windows).sort_values("window_start")
    first, second = quality.to_dict("records")
    assert (first["rows"], first["labelled"]) == (2, 2)
    assert first["root_mean_squared_error"] == pytest.approx(np.sqrt((4 + 16) / 2))
    assert first["mean_absolute_error"] == pytest.approx(3.0)
    assert (second["rows"], second["labelled"]) == (1, 0)
    assert pd.isna(second["root_mean_squared_error"])


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        pytest.param(
            {"validation_root_mean_squared_error": "2.0", "validation_mean_absolute_error": "1.2"},
            {"root_mean_squared_error": 2.5, "mean_absolute_error": 1.5},
            id="a quarter worse than at validation",
        ),
        pytest.param(
            {},
            {
                t.metric: t.limit
                for t in settings.VALIDATION_THRESHOLDS
                if t.metric in ("root_mean_squared_error", "mean_absolute_error")
            },
            id="not validated: the gate's limits",
        ),
    ],
)
def test_quality_thresholds_follow_what_validation_measured(tags, expected):
    assert quality_thresholds(tags) == pytest.approx(expected)


def series(
    values: list[float | None], threshold: float = 1.0, rows: int = MONITORING_MIN_ROWS
) -> pd.DataFrame:
    starts = pd.date_range("2016-01-04", periods=len(values), freq="7D")
    return judge(
        pd.DataFrame(
            {
                "window_start": starts,
                "metric": "psi",
                "subject": "trip_distance",
                "value": values,
                "threshold": threshold,
                "rows": rows,
            }
        )
    )


@pytest.mark.parametrize(
    ("values", "signal"),
    [
        pytest.param([0, 0, 0, 0], False, id="never broken"),
        pytest.param([0, 0, 0, 2], False, id="only the latest window"),
        pytest.param([0, 2, 2, 0], False, id="broken before but not in the latest"),
        pytest.param([0, 0, 2, 2], True, id="two of the last four, the latest included"),
        pytest.param([2, 2, 0, 0, 0, 2], False, id="older breaks fall out of the last four"),
        pytest.param([0, 2, None, 2], True, id="a window without a value is not judged"),
    ],
)
def test_retraining_is_signalled_when_broken_in_k_of_the_last_n_windows(values, signal):
    assert bool(alerts(series(values), last=4, at_least=2)) is signal


def test_windows_with_too_few_rows_are_not_judged():
    assert not alerts(series([2, 2, 2, 2], rows=MONITORING_MIN_ROWS - 1), last=4, at_least=2)


def test_the_alert_says_what_broke():
    (alert,) = alerts(series([0, 2, 2, 2]), last=4, at_least=2)
    assert str(alert) == (
        "psi of trip_distance broke its threshold in 3 of the last 4 windows, the latest included"
    )


def test_windows_are_those_of_databricks_granularities():
    assert [window_unit(g) for g in ("1 hour", "1 day", "1 week")] == ["hour", "day", "week"]
    with pytest.raises(UserError, match="'5 minutes'.*Use one of: 1 hour, 1 day"):
        window_unit("5 minutes")


WEEK = [pd.Timestamp("2016-01-04"), pd.Timestamp("2016-01-11")]


def test_the_check_reads_drift_over_feature_rows_and_quality_over_labelled_rows():
    """The metric tables' rows, as Databricks' monitor writes them, become the judged metrics."""
    profile = pd.DataFrame(
        [
            [*WEEK, "trip_distance", 500, 3, None, None],
            [*WEEK, "fare_amount", 500, 420, None, None],
            [*WEEK, ":table", 500, 0, 9.0, 4.5],
        ],
        columns=["window_start", "window_end", "column_name", "count", "num_nulls"]
        + ["root_mean_squared_error", "mean_average_error"],
    )
    drift = pd.DataFrame(
        [[*WEEK, "trip_distance", 0.31, None]],
        columns=["window_start", "window_end", "column_name"]
        + ["population_stability_index", "js_distance"],
    )
    limits = {"root_mean_squared_error": 8.0, "mean_absolute_error": 4.0}
    metrics = judge(metrics_of(profile, drift, limits)).set_index(["metric", "subject"])
    assert metrics.loc[("psi", "trip_distance")].to_dict() == {
        **metrics.loc[("psi", "trip_distance")].to_dict(),
        "value": 0.31,
        "rows": 500,
        "judged": True,
        "violated": True,
    }
    # Databricks leaves js_distance empty for numeric columns: such a row is not judged.
    assert not metrics.loc[("js_distance", "trip_distance"), "judged"]
    # 80 fares arrived: too few to judge the model's errors on.
    quality = metrics.loc[("root_mean_squared_error", "prediction")]
    assert (quality["value"], quality["rows"], quality["judged"]) == (9.0, 80, False)
    assert metrics.loc[("mean_absolute_error", "prediction"), "value"] == 4.5


def metric_tables(name: str):
    runtime = get_runtime()
    return (
        runtime.tables.read(f"{name}_profile_metrics", fix="").toPandas(),
        runtime.tables.read(f"{name}_drift_metrics", fix="").toPandas(),
    )


def test_the_lifecycle_writes_databricks_metric_tables_and_a_signal(in_lifecycle):
    name = f"{conftest.CATALOG}.{conftest.SCHEMA}.fare_predictions"
    profile, drift = metric_tables(name)
    keys = ["window", "granularity", "model_version", "slice_key", "slice_value", "column_name"]
    assert set(keys + ["log_type", "count", "num_nulls"]) <= set(profile.columns)
    assert {"root_mean_squared_error", "mean_average_error"} <= set(profile.columns)
    assert set(keys + ["drift_type", "population_stability_index", "js_distance"]) <= set(
        drift.columns
    )
    assert set(drift.drift_type) == {"BASELINE"} and set(profile.log_type) == {"INPUT"}
    assert set(profile.granularity) == set(drift.granularity) == {"1 week"}
    assert profile.slice_key.isna().all() and drift.slice_key.isna().all()
    assert set(drift.column_name) == set(FEATURE_COLUMNS)
    assert set(profile.column_name) == {*FEATURE_COLUMNS, "fare_amount", ":table"}

    predictions = get_runtime().tables.read(name, fix="").toPandas()
    version = predictions.sort_values("scored_at").model_version.iloc[-1]
    latest = drift[drift.model_version == version]
    assert len({row["start"] for row in latest.window}) == 8  # eight weeks of trips
    trips = profile[(profile.model_version == version) & (profile.column_name == "trip_distance")]
    assert trips["count"].sum() == (predictions.model_version == version).sum()
    # Every fare has arrived in the input table: the predictions carry them all.
    assert predictions.fare_amount.notna().all()
    fares = profile[(profile.model_version == version) & (profile.column_name == "fare_amount")]
    assert fares.num_nulls.sum() == 0
    assert get_task_value("monitor", "retrain") == "false"
    assert "retraining signal  false" in in_lifecycle.summaries[1]


class MonitorService:
    """A platform whose monitor service writes the metric tables (as Databricks does)."""

    writes_metric_tables = False

    def __init__(self):
        self.applied = []

    def apply(self, spec):
        self.applied.append(spec)
        return Outcome.UNCHANGED


LOOSE = {"root_mean_squared_error": 99.0, "mean_absolute_error": 99.0}


def latest_version(spec) -> str:
    predictions = get_runtime().tables.read(spec.table_name, fix="").toPandas()
    return str(predictions.sort_values("scored_at").model_version.iloc[-1])


def test_where_a_monitor_writes_the_tables_the_check_reads_them(lifecycle_copy):
    """The check judges what the metric tables say, not a computation of its own."""
    runtime = get_runtime()
    spec = predictions_monitor(conftest.CATALOG, conftest.SCHEMA, "fare_predictions")
    baseline = runtime.tables.read(spec.baseline_table_name, fix="")
    drift = runtime.tables.read(spec.drift_metrics_table, fix="")
    # As if the monitor had measured the pickup hour drifting in every window.
    psi_column = F.col("population_stability_index")
    moved = F.when(F.col("column_name") == "pickup_hour", 0.9).otherwise(psi_column)
    drifted = drift.withColumn("population_stability_index", moved).localCheckpoint()
    runtime.tables.overwrite(spec.drift_metrics_table, drifted)
    service = MonitorService()
    watched = watch(runtime, service, spec, baseline, latest_version(spec), LOOSE)
    assert service.applied == [spec]
    assert [str(alert).split(" broke")[0] for alert in watched.alerts] == ["psi of pickup_hour"]


def test_before_the_first_refresh_the_check_computes_the_tables(lifecycle_copy):
    """On Databricks, until the monitor has written its tables, the step measures as locally
    (and leaves the tables to the monitor)."""
    runtime = get_runtime()
    spec = predictions_monitor(conftest.CATALOG, conftest.SCHEMA, "fare_predictions")
    baseline = runtime.tables.read(spec.baseline_table_name, fix="")
    version = latest_version(spec)
    local = watch(runtime, LocalMonitors(), spec, baseline, version, LOOSE)
    # The same predictions in a table no monitor has refreshed yet.
    fresh = predictions_monitor(conftest.CATALOG, conftest.SCHEMA, "fresh_predictions")
    runtime.tables.overwrite(fresh.table_name, runtime.tables.read(spec.table_name, fix=""))
    computed = watch(runtime, MonitorService(), fresh, baseline, version, LOOSE)
    assert not runtime.tables.exists(fresh.drift_metrics_table)
    assert not runtime.tables.exists(fresh.profile_metrics_table)
    pd.testing.assert_frame_equal(computed.metrics, local.metrics)


def test_drifted_trips_raise_the_retraining_signal(in_lifecycle, spark, monkeypatch, capsys):
    """Longer trips, billed at a new tariff: the inputs drift and the model's error grows."""
    trips = generate_trips(conftest.TEST_TRIPS)
    trips["trip_distance"] = (trips.trip_distance * 2.5).round(2)
    trips["fare_amount"] = (5.0 + trips.fare_amount * 3).round(1)
    get_runtime().tables.overwrite("main.raw.drifted_trips", spark.createDataFrame(trips))
    argv = [
        *conftest.STEP_ARGS,
        "--input-table=main.raw.drifted_trips",
        "--predictions-table=drifted_predictions",
    ]
    monkeypatch.setenv(TASK_KEY_VARIABLE, "monitor_drifted")  # keep the lifecycle's values
    inference.main(argv)
    monitoring.main(argv)
    assert get_task_value("monitor_drifted", "retrain") == "true"
    report = capsys.readouterr().out
    assert "retraining signal: true" in report
    assert "psi of trip_distance broke its threshold in 4 of the last 4 windows" in report
    assert "root_mean_squared_error of prediction broke its threshold" in report
    (page,) = [line.split(": ", 1)[1] for line in report.splitlines() if "  report: " in line]
    html = Path(page).read_text(encoding="utf-8")
    assert '<p class="failed">Retraining signal: true</p>' in html
    assert "psi of trip_distance broke its threshold in 4 of the last 4 windows" in html
