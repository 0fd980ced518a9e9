"""The monitoring report: its figures, drawn from small frames, and the report the step logs."""

{% if cookiecutter.include_serving == "yes" -%}
from datetime import datetime, timedelta
{% endif -%}
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from {{ cookiecutter.package_name }} import monitoring, settings
{%- if cookiecutter.include_serving == "yes" %}
from {{ cookiecutter.package_name }}.dataset import FEATURE_COLUMNS
{%- endif %}
from {{ cookiecutter.package_name }}.monitoring import Watched
from {{ cookiecutter.package_name }}.monitoring_report import (
    bin_label,
    feature_distributions,
    monitoring_report,
    over_time,
    verdict,
)
from {{ cookiecutter.package_name }}.platform.bundle import load_bundle
from {{ cookiecutter.package_name }}.platform.reports import location
from {{ cookiecutter.package_name }}.platform.runtime import {% if cookiecutter.include_serving == "yes" %}get_runtime, {% endif %}use_mlflow
from {{ cookiecutter.package_name }}.registry import MONITORING_REPORT_TAG
from {{ cookiecutter.package_name }}.settings import DRIFT_THRESHOLDS, MONITORING_MIN_ROWS

import conftest
{%- if cookiecutter.include_serving == "yes" %}
from test_inference_requests import logged, write_inference_table
{%- endif %}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WINDOWS = list(pd.date_range("2016-01-04", periods=4, freq="7D"))


def distributions() -> pd.DataFrame:
    """Two features: three bins each, one with missing values."""
    inf = np.inf
    return pd.DataFrame(
        [
            ["trip_distance", -1, np.nan, np.nan, 0.0, 0.1],
            ["trip_distance", 0, -inf, 1.0, 0.5, 0.2],
            ["trip_distance", 1, 1.0, 2.5, 0.3, 0.3],
            ["trip_distance", 2, 2.5, inf, 0.2, 0.4],
            ["pickup_hour", 0, -inf, 8.0, 0.4, 0.4],
            ["pickup_hour", 1, 8.0, 17.0, 0.6, 0.6],
        ],
        columns=["feature", "bin", "lower", "upper", "baseline", "current"],
    ).assign(window_start=WINDOWS[-1])


def test_bins_read_as_their_bounds():
    assert bin_label(np.nan, np.nan) == "missing"
    assert bin_label(-np.inf, 1.0) == "≤ 1"
    assert bin_label(1.0, 2.5) == "1 – 2.5"
    assert bin_label(2.5, np.inf) == "> 2.5"


def test_each_feature_gets_a_panel_of_baseline_and_window_shares():
    figure = feature_distributions(distributions(), "1 week from 2016-01-25")
    assert [ax.get_title() for ax in figure.axes] == ["trip_distance", "pickup_hour"]
    trips = figure.axes[0]
    baseline, window = trips.containers
    assert (baseline.get_label(), window.get_label()) == ("baseline", "1 week from 2016-01-25")
    assert [bar.get_height() for bar in baseline] == [0.0, 0.5, 0.3, 0.2]
    assert [bar.get_height() for bar in window] == [0.1, 0.2, 0.3, 0.4]
    ticks = [label.get_text() for label in trips.get_xticklabels()]
    assert ticks == ["missing", "≤ 1", "1 – 2.5", "> 2.5"]
    assert len(figure.axes[1].containers[0]) == 2  # no bin of missing values where none are


def metrics(rows: list[tuple]) -> pd.DataFrame:
    """Judged metric rows (window index, metric, subject, value, threshold), as monitoring makes."""
    frame = pd.DataFrame(rows, columns=["window", "metric", "subject", "value", "threshold"])
    frame["window_start"] = [WINDOWS[i] for i in frame.pop("window")]
    frame["rows"] = MONITORING_MIN_ROWS
    frame["judged"] = frame.value.notna()
    frame["violated"] = frame.judged & (frame.value > frame.threshold)
    return frame


def drift() -> pd.DataFrame:
    psi, js = DRIFT_THRESHOLDS["psi"], DRIFT_THRESHOLDS["js_distance"]
    return metrics(
        [(i, "psi", "trip_distance", v, psi) for i, v in enumerate([0.01, 0.05, 0.3, 0.4])]
        + [(i, "psi", "pickup_hour", v, psi) for i, v in enumerate([0.02, 0.01, 0.03, 0.02])]
        + [(i, "js_distance", "trip_distance", v, js) for i, v in enumerate([0.0, 0.1, 0.2, 0.1])]
    )


def lines_of(ax) -> dict[str, list[float]]:
    return {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}


def test_drift_over_time_shows_each_feature_its_threshold_and_the_breaks():
    figure = over_time(drift(), "Drift")
    assert [ax.get_title() for ax in figure.axes] == ["psi", "js_distance"]
    psi_lines = lines_of(figure.axes[0])
    assert psi_lines["trip_distance"] == [0.01, 0.05, 0.3, 0.4]
    assert psi_lines["pickup_hour"] == [0.02, 0.01, 0.03, 0.02]
    assert psi_lines[f"threshold {DRIFT_THRESHOLDS['psi']:.3g}"] == [DRIFT_THRESHOLDS["psi"]] * 2
    assert psi_lines["over threshold"] == [0.3, 0.4]
    js_lines = lines_of(figure.axes[1])
    assert js_lines["over threshold"] == [0.2]
    assert figure._suptitle.get_text() == "Drift"


def test_a_metric_without_values_gets_no_panel_and_no_breaks_no_marks():
    frame = drift()
    no_value = frame.metric == "js_distance"
    frame.loc[no_value, "value"] = np.nan
    frame.loc[no_value, "judged"] = frame.loc[no_value, "violated"] = False
    frame = frame[(frame.metric == "js_distance") | (frame.subject == "pickup_hour")]
    figure = over_time(frame, "Drift")
    assert [ax.get_title() for ax in figure.axes] == ["psi"]
    assert "over threshold" not in lines_of(figure.axes[0])
    with pytest.raises(ValueError, match="no metric has a value"):
        over_time(frame[frame.metric == "js_distance"], "Drift")


def test_quality_over_time_shows_each_error_against_its_threshold():
    frame = metrics(
        [(i, "root_mean_squared_error", "prediction", v, 5.0) for i, v in enumerate([4, 4, 6])]
        + [(i, "mean_absolute_error", "prediction", v, 3.0) for i, v in enumerate([2, 2, 2])]
        + [(3, "root_mean_squared_error", "prediction", None, 5.0)]  # no fares yet
    )
    figure = over_time(frame, "Quality")
    rmse, mae = figure.axes
    assert (rmse.get_title(), mae.get_title()) == ("root_mean_squared_error", "mean_absolute_error")
    errors = lines_of(rmse)["prediction"]
    assert errors[:3] == [4, 4, 6] and np.isnan(errors[3])
    assert lines_of(rmse)["threshold 5"] == [5.0, 5.0]
    assert lines_of(rmse)["over threshold"] == [6]
    assert set(lines_of(mae)) == {"prediction", "threshold 3"}


def test_the_verdict_is_the_latest_judged_window():
    frame = drift()
    latest = frame.window_start == WINDOWS[-1]
    frame.loc[latest, "rows"] = MONITORING_MIN_ROWS - 1  # too few rows: not judged
    frame.loc[latest, "judged"] = frame.loc[latest, "violated"] = False
    shown = verdict(frame).set_index(["metric", "subject"])
    assert shown.value.to_dict() == {
        ("js_distance", "trip_distance"): 0.2,
        ("psi", "pickup_hour"): 0.03,
        ("psi", "trip_distance"): 0.3,
    }
    assert shown["over threshold"].tolist() == ["yes", "no", "yes"]


def watched(kind: str, with_quality: bool) -> Watched:
    # A table without fares has no errors to draw.
    error = 2.0 if with_quality else np.nan
    quality = metrics([(i, "mean_absolute_error", "prediction", error, 3.0) for i in range(4)])
    frame = pd.concat([drift(), quality], ignore_index=True)
    found = monitoring.alerts(frame.sort_values("window_start"))
    tables = (f"main.fares.{kind}_profile_metrics", f"main.fares.{kind}_drift_metrics")
    return Watched(f"main.fares.{kind}", kind, tables, "computed", frame, found, distributions())


def test_the_page_names_its_figures_the_signal_and_the_alerts(tmp_path):
    tables = [watched("predictions", True), watched("requests", False)]
    report = monitoring_report("main.fares.model", "3", "batch-7", tables, retrain=True)
    page = report.write(tmp_path).read_text()
    drawn = {path.name for path in tmp_path.glob("*.png")}
    assert drawn == {
        "feature_distributions.png",
        "drift_over_time.png",
        "quality_over_time.png",
        "requests_feature_distributions.png",
        "requests_drift_over_time.png",
    }
    for name in drawn:
        assert f'src="{name}"' in page
        assert (tmp_path / name).read_bytes().startswith(PNG_SIGNATURE)
    assert "Monitoring of main.fares.model version 3" in page
    assert '<p class="failed">Retraining signal: true</p>' in page
    assert "psi of trip_distance broke its threshold in 2 of the last 4 windows" in page
    assert "Requests: main.fares.requests" in page
    assert "No fares in this table" in page


def the_monitoring_run(version: str) -> mlflow.entities.Run:
    runs = MlflowClient().search_runs(
        [mlflow.get_experiment_by_name(settings.EXPERIMENT_NAME).experiment_id],
        filter_string=f"tags.`mlflow.runName` = 'monitor version {version}'",
        order_by=["attributes.start_time DESC"],
    )
    return runs[0]


def summary_value(summary: str, label: str) -> str:
    return next(
        line.strip()[len(label) :].strip()
        for line in summary.splitlines()
        if line.strip().startswith(f"{label}  ")
    )


def test_monitoring_logs_its_report_and_tags_the_version_with_it(in_lifecycle):
    use_mlflow()
    client = MlflowClient()
    # The lifecycle's second pass monitored version 2, and its summary names that report. Other
    # tests monitor this store later, so the run is found by its report, not as the latest.
    page = Path(summary_value(in_lifecycle.summaries[1], "monitoring report"))
    assert page.name == "report.html" and page.is_file()
    (run,) = MlflowClient().search_runs(
        [mlflow.get_experiment_by_name(settings.EXPERIMENT_NAME).experiment_id],
        filter_string=f"tags.{MONITORING_REPORT_TAG} = '{page}'",
    )
    assert run.info.run_name == "monitor version 2"
    assert page.parent == Path(location(run.info.artifact_uri)) / "monitoring_report"
    # The job ran in the experiment the bundle names.
    bundle = load_bundle(conftest.PROJECT_DIR)
    experiment = bundle.resolve("${resources.experiments.experiment.name}", "test")
    assert client.get_experiment(run.info.experiment_id).name == experiment
    assert run.data.tags["retrain"] == "false" and run.data.metrics["retrain"] == 0
    assert {"largest_psi", "largest_js_distance", "alerts"} <= set(run.data.metrics)
    # The version points at the report of the latest monitoring run of its predictions.
    latest = the_monitoring_run("2").data.tags[MONITORING_REPORT_TAG]
    assert client.get_model_version(conftest.MODEL, "2").tags[MONITORING_REPORT_TAG] == latest

    html = page.read_text(encoding="utf-8")
    for name in ("feature_distributions", "drift_over_time", "quality_over_time"):
        assert f'src="{name}.png"' in html
        assert (page.parent / f"{name}.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "Retraining signal: false" in html
    assert "Verdict on the latest judged window" in html


def test_a_failed_run_leaves_the_version_on_its_last_report(lifecycle_copy, capsys):
    use_mlflow()
    client = MlflowClient()
    before = client.get_model_version(conftest.MODEL, "2").tags[MONITORING_REPORT_TAG]
    with pytest.raises(SystemExit):
        monitoring.main([*conftest.STEP_ARGS, "--input-table=main.raw.no_such_trips"])
    out, err = capsys.readouterr()
    assert "main.raw.no_such_trips" in err and "Traceback" not in out + err
    assert the_monitoring_run("2").info.status == "FAILED"
    assert client.get_model_version(conftest.MODEL, "2").tags[MONITORING_REPORT_TAG] == before
{%- if cookiecutter.include_serving == "yes" %}


def test_the_endpoints_requests_get_figures_of_their_own(lifecycle_copy, spark, capsys):
    """A week of requests to the endpoint: their features are drawn, and no quality (no fares)."""
    table = f"{conftest.CATALOG}.{conftest.SCHEMA}.fare_predictions"
    predictions = get_runtime().tables.read(table, fix="").toPandas()
    version = int(predictions.sort_values("scored_at").model_version.iloc[-1])
    known = predictions[FEATURE_COLUMNS].head(400).to_dict("records")
    start = datetime(2026, 5, 4, 8)
    requests = [
        logged(f"r{i}", start + timedelta(minutes=10 * i), known[4 * i : 4 * i + 4])
        for i in range(100)
    ]
    write_inference_table(spark, requests, version)
    monitoring.main(conftest.STEP_ARGS)
    out = capsys.readouterr().out
    (page,) = [line.split(": ", 1)[1] for line in out.splitlines() if "  report: " in line]
    folder = Path(page).parent
    html = Path(page).read_text(encoding="utf-8")
    for name in ("requests_feature_distributions", "requests_drift_over_time"):
        assert f'src="{name}.png"' in html
        assert (folder / f"{name}.png").read_bytes().startswith(PNG_SIGNATURE)
    assert not (folder / "requests_quality_over_time.png").exists()
    assert "No fares in this table" in html
{%- endif %}
