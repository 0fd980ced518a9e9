"""The endpoint's logged requests, unpacked into rows the monitor watches, then monitored."""

import json
from datetime import datetime, timedelta

import pytest

from {{ cookiecutter.package_name }} import monitoring, settings
from {{ cookiecutter.package_name }}.dataset import FEATURE_COLUMNS
from {{ cookiecutter.package_name }}.inference_requests import (
    SERVED_ENTITIES,
    unpack_payload,
    unpack_requests,
)
from {{ cookiecutter.package_name }}.monitor_specs import requests_table
from {{ cookiecutter.package_name }}.platform.runtime import get_runtime
from {{ cookiecutter.package_name }}.serving import inference_table

import conftest

TRIP = {column: float(i + 1) for i, column in enumerate(FEATURE_COLUMNS)}
OTHER = {column: value * 2 for column, value in TRIP.items()}
ENDPOINT = settings.ENDPOINT_NAME  # what monitor-model watches when run with its defaults


def split(*rows: dict) -> str:
    return json.dumps(
        {"dataframe_split": {"columns": list(rows[0]), "data": [list(r.values()) for r in rows]}}
    )


def test_a_split_request_gives_one_row_per_trip_with_its_prediction():
    rows = unpack_payload(split(TRIP, OTHER), json.dumps({"predictions": [11.5, 23.0]}))
    assert rows == [{**TRIP, "prediction": 11.5}, {**OTHER, "prediction": 23.0}]


def test_records_are_read_too_and_missing_features_are_null():
    partial = {key: value for key, value in TRIP.items() if key != "trip_distance"}
    request = json.dumps({"dataframe_records": [partial]})
    (row,) = unpack_payload(request, json.dumps({"predictions": [9.0]}))
    assert row["trip_distance"] is None and row["pickup_hour"] == TRIP["pickup_hour"]


@pytest.mark.parametrize(
    ("request_text", "response_text"),
    [
        pytest.param("not json", '{"predictions": [1.0]}', id="request not JSON"),
        pytest.param(split(TRIP), '{"error_code": "BAD_REQUEST"}', id="an error response"),
        pytest.param(split(TRIP, OTHER), '{"predictions": [1.0]}', id="fewer predictions"),
        pytest.param('{"inputs": [[1, 2]]}', '{"predictions": [1.0]}', id="another format"),
        pytest.param(None, None, id="nothing logged"),
    ],
)
def test_a_payload_that_cannot_be_read_gives_no_rows(request_text, response_text):
    assert unpack_payload(request_text, response_text) == []


def write_inference_table(spark, requests: list[tuple], version: int) -> None:
    """The AI Gateway table's columns, as the local server writes them, and a served entity."""
    runtime = get_runtime()
    payload = spark.createDataFrame(
        requests,
        "request_date date, databricks_request_id string, client_request_id string, "
        "request_time timestamp, status_code int, sampling_fraction double, "
        "execution_duration_ms bigint, request string, response string, "
        "served_entity_id string, logging_error_codes array<string>, requester string",
    )
    runtime.tables.append(inference_table(conftest.CATALOG, conftest.SCHEMA, ENDPOINT), payload)
    entities = spark.createDataFrame(
        [("entity-1", "fare-endpoint", conftest.MODEL, str(version))],
        "served_entity_id string, endpoint_name string, entity_name string, entity_version string",
    )
    runtime.tables.overwrite(SERVED_ENTITIES, entities)


def logged(request_id: str, at: datetime, trips: list[dict], status: int = 200) -> tuple:
    response = json.dumps({"predictions": [12.0] * len(trips)})
    request = split(*trips)
    gateway = (at.date(), request_id, None, at, status, 1.0, 5, request, response, "entity-1")
    return (*gateway, None, "tester")


def test_requests_are_unpacked_once_and_monitored_for_drift(lifecycle_copy, spark, capsys):
    from {{ cookiecutter.package_name }}.platform.task_values import get_task_value

    runtime = get_runtime()
    predictions = runtime.tables.read(
        f"{conftest.CATALOG}.{conftest.SCHEMA}.fare_predictions", fix=""
    ).toPandas()
    version = int(predictions.sort_values("scored_at").model_version.iloc[-1])
    # A week of requests, the trips the model knows, one failed request among them.
    known = predictions[FEATURE_COLUMNS].head(400).to_dict("records")
    start = datetime(2026, 5, 4, 8)
    requests = [
        logged(f"r{i}", start + timedelta(minutes=10 * i), known[4 * i : 4 * i + 4])
        for i in range(100)
    ]
    requests.append(logged("failed", start, [TRIP], status=400))
    write_inference_table(spark, requests, version)

    target = unpack_requests(runtime, conftest.CATALOG, conftest.SCHEMA, ENDPOINT)
    assert target == requests_table(conftest.CATALOG, conftest.SCHEMA, ENDPOINT)
    rows = runtime.tables.read(target, fix="").toPandas()
    assert len(rows) == 400 and set(rows.model_version) == {version}
    assert rows.fare_amount.isna().all() and "failed" not in set(rows.databricks_request_id)
    unpack_requests(runtime, conftest.CATALOG, conftest.SCHEMA, ENDPOINT)  # nothing new to add
    assert runtime.tables.read(target, fix="").count() == 400

    monitoring.main([*conftest.STEP_ARGS])
    report = capsys.readouterr().out
    assert f"Monitored {target}" in report
    profile = runtime.tables.read(f"{target}_profile_metrics", fix="").toPandas()
    quality = profile[profile.column_name == ":table"]
    assert quality["count"].sum() == 400 and quality.root_mean_squared_error.isna().all()
    drift = runtime.tables.read(f"{target}_drift_metrics", fix="").toPandas()
    assert set(drift.column_name) == set(FEATURE_COLUMNS)
    assert get_task_value("monitor", "retrain") == "false"
