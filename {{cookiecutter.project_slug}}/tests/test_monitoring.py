"""Monitoring: drift distances, quality per window, the violation rule, and the whole step."""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

import conftest
from {{ cookiecutter.package_name }} import inference, monitoring, settings
from {{ cookiecutter.package_name }}.dataset import FEATURE_COLUMNS
from {{ cookiecutter.package_name }}.monitoring import (
    _bin,
    alerts,
    js_distance,
    judge,
    metrics_table,
    psi,
    quality_by_window,
    quality_thresholds,
    with_window,
)
from {{ cookiecutter.package_name }}.platform.runtime import get_runtime
from {{ cookiecutter.package_name }}.platform.task_values import TASK_KEY_VARIABLE, get_task_value
from {{ cookiecutter.package_name }}.sample_data import generate_trips
from {{ cookiecutter.package_name }}.settings import DRIFT_THRESHOLDS, MONITORING_MIN_ROWS

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
    quality = quality_by_window(with_window(scored)).sort_values("window_start")
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


def test_the_lifecycle_writes_metrics_for_every_window_and_a_signal(in_lifecycle):
    metrics = get_runtime().tables.read(
        metrics_table(conftest.CATALOG, conftest.SCHEMA, "fare_predictions"), fix=""
    )
    latest = metrics.agg({"batch_id": "max"}).first()[0]
    rows = metrics.where(metrics.batch_id == latest).toPandas()
    assert rows.window_start.nunique() == 8  # eight weeks of trips
    assert set(rows.metric) == {
        "psi",
        "js_distance",
        "root_mean_squared_error",
        "mean_absolute_error",
    }
    assert rows[rows.metric == "psi"].rows.sum() == conftest.TEST_TRIPS * len(FEATURE_COLUMNS)
    assert rows.judged.all()
    assert get_task_value("monitor", "retrain") == "false"
    assert "retraining signal  false" in in_lifecycle.summaries[1]


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
