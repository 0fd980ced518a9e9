"""The monitors' specifications: what Databricks' data-profiling monitors watch, and how."""

from {{ cookiecutter.package_name }} import settings
from {{ cookiecutter.package_name }}.monitor_specs import (
    predictions_monitor,
{%- if cookiecutter.include_serving == "yes" %}
    requests_monitor,
{%- endif %}
)
from {{ cookiecutter.package_name }}.platform.monitors import inference_log, settings_of_spec


def test_the_batch_predictions_are_watched_as_a_regression_inference_log():
    spec = predictions_monitor("dev", "fares", "fare_predictions")
    assert spec.table_name == "dev.fares.fare_predictions"
    assert spec.output_schema_name == "dev.fares"
    assert spec.baseline_table_name == "dev.fares.fare_predictions_baseline"
    assert (spec.timestamp_col, spec.prediction_col, spec.label_col, spec.model_id_col) == (
        "tpep_pickup_datetime",
        "prediction",
        "fare_amount",
        "model_version",
    )
    assert spec.problem_type == "PROBLEM_TYPE_REGRESSION"
    assert "1 day" in spec.granularities
    assert settings.MONITORING_GRANULARITY in spec.granularities
    assert spec.profile_metrics_table == "dev.fares.fare_predictions_profile_metrics"
    assert spec.drift_metrics_table == "dev.fares.fare_predictions_drift_metrics"


def test_the_spec_becomes_the_sdk_request_and_compares_by_value():
    spec = predictions_monitor("dev", "fares", "fare_predictions")
    log = inference_log(spec).as_dict()
    assert log == {
        "problem_type": "PROBLEM_TYPE_REGRESSION",
        "timestamp_col": "tpep_pickup_datetime",
        "granularities": list(settings.MONITOR_GRANULARITIES),
        "prediction_col": "prediction",
        "model_id_col": "model_version",
        "label_col": "fare_amount",
    }
    assert settings_of_spec(spec) == settings_of_spec(
        predictions_monitor("dev", "fares", "fare_predictions")
    )
    assert settings_of_spec(spec) != settings_of_spec(
        predictions_monitor("prod", "fares", "fare_predictions")
    )
{%- if cookiecutter.include_serving == "yes" %}


def test_the_served_requests_are_watched_against_the_same_baseline():
    requests = requests_monitor("dev", "fares", "fare_predictions", "dev-fare-endpoint")
    batch = predictions_monitor("dev", "fares", "fare_predictions")
    assert requests.table_name == "dev.fares.dev_fare_endpoint_requests"
    assert requests.timestamp_col == "request_time"
    assert requests.baseline_table_name == batch.baseline_table_name
    assert (requests.label_col, requests.model_id_col) == (batch.label_col, batch.model_id_col)
{%- endif %}
