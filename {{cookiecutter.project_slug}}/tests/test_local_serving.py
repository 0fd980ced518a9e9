"""`make serve`: the deployed endpoint on 127.0.0.1, answered by MLflow's scoring server code,
with every request in the local inference table."""

import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from pyspark.sql import functions as F

from {{ cookiecutter.package_name }} import {% if cookiecutter.include_monitoring == "yes" %}monitoring, {% endif %}settings
from {{ cookiecutter.package_name }}.dataset import FEATURE_COLUMNS
{%- if cookiecutter.include_monitoring == "yes" %}
from {{ cookiecutter.package_name }}.monitor_specs import requests_table
{%- endif %}
from {{ cookiecutter.package_name }}.platform.endpoints import SERVING_DIR
from {{ cookiecutter.package_name }}.platform.environment import LOCAL_DIR_VARIABLE
from {{ cookiecutter.package_name }}.platform.errors import UserError
from {{ cookiecutter.package_name }}.platform.inference_log import (
    MAX_LOGGED_PAYLOAD_BYTES,
    PAYLOAD_SCHEMA,
    SERVED_ENTITIES_TABLE,
    Exchange,
    InferenceLog,
    payload_row,
    served_entity_id,
)
from {{ cookiecutter.package_name }}.platform.local_serving import (
    TrafficSplit,
    choose_entity,
    invocations_url,
    main,
    parse_spec,
    split_endpoint_fields,
)
from {{ cookiecutter.package_name }}.platform.runtime import get_runtime, use_mlflow
from {{ cookiecutter.package_name }}.registry import CHAMPION
from {{ cookiecutter.package_name }}.serving import inference_table
from {{ cookiecutter.package_name }}.summary import pipeline_summary

from conftest import (
    CATALOG,
    MODEL,
    MODEL_REF,
    SCHEMA,
{%- if cookiecutter.include_monitoring == "yes" %}
    STEP_ARGS,
{%- endif %}
    copy_of_store,
    local_store_at,
)
from test_serving import free_port

ENDPOINT = "fare-endpoint"
TABLE_PREFIX = "fare_endpoint"
PAYLOAD_TABLE = f"{CATALOG}.{SCHEMA}.{TABLE_PREFIX}_payload"
CHAMPION_VERSION, CHALLENGER_VERSION = "2", "1"  # the lifecycle's two versions
SEED = 7


def endpoint_spec(champion: str, challenger: str, challenger_share: int) -> dict:
    """What the deploy step writes: the body of Databricks' create-endpoint request."""

    def entity(name: str, version: str) -> dict:
        return {
            "name": name,
            "entity_name": MODEL,
            "entity_version": version,
            "workload_size": "Small",
            "scale_to_zero_enabled": True,
        }

    return {
        "name": ENDPOINT,
        "config": {
            "served_entities": [entity("champion", champion), entity("challenger", challenger)],
            "traffic_config": {
                "routes": [
                    {
                        "served_entity_name": "champion",
                        "traffic_percentage": 100 - challenger_share,
                    },
                    {"served_entity_name": "challenger", "traffic_percentage": challenger_share},
                ]
            },
        },
        "ai_gateway": {
            "inference_table_config": {
                "catalog_name": CATALOG,
                "schema_name": SCHEMA,
                "table_name_prefix": TABLE_PREFIX,
                "enabled": True,
            }
        },
    }


def write_spec(store: Path, spec: dict) -> Path:
    path = store / SERVING_DIR / f"{spec['name']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec))
    return path


# The specification, the split and the log rows: pure functions ---------------------------------


def test_the_spec_gives_entities_routes_and_the_payload_table(tmp_path):
    spec = parse_spec(endpoint_spec("3", "2", 10), tmp_path / "spec.json")
    assert spec.name == ENDPOINT
    assert [(e.name, e.entity_version) for e in spec.entities] == [
        ("champion", "3"),
        ("challenger", "2"),
    ]
    assert spec.routes == (("champion", 90), ("challenger", 10))
    assert spec.inference_table == PAYLOAD_TABLE


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param(lambda s: s.pop("config"), "KeyError: 'config'", id="no config"),
        pytest.param(
            lambda s: s["config"]["traffic_config"]["routes"][1].update(traffic_percentage=20),
            "do not add up to 100",
            id="shares over 100",
        ),
        pytest.param(
            lambda s: s["config"]["traffic_config"]["routes"][1].update(served_entity_name="x"),
            "served entity 'x'",
            id="unknown route",
        ),
    ],
)
def test_a_broken_spec_is_named_with_the_fix(tmp_path, change, reason):
    spec = endpoint_spec("3", "2", 10)
    change(spec)
    with pytest.raises(UserError, match="Delete it and run the deploy step again") as error:
        parse_spec(spec, tmp_path / "spec.json")
    assert reason in str(error.value) and str(tmp_path / "spec.json") in str(error.value)


def test_inference_tables_off_means_no_payload_table(tmp_path):
    spec = endpoint_spec("3", "2", 10)
    spec["ai_gateway"]["inference_table_config"]["enabled"] = False
    assert parse_spec(spec, tmp_path / "spec.json").inference_table is None


def test_each_route_gets_its_share_of_the_draws():
    routes = (("champion", 90), ("challenger", 10))
    assert choose_entity(routes, 0.0) == "champion"
    assert choose_entity(routes, 0.8999) == "champion"
    assert choose_entity(routes, 0.9) == "challenger"
    assert choose_entity(routes, 0.9999) == "challenger"


def test_the_split_is_reproducible_and_near_its_percentages():
    routes = (("champion", 90), ("challenger", 10))
    split, again = TrafficSplit(routes, SEED), TrafficSplit(routes, SEED)
    first = [split() for _ in range(10_000)]
    assert [again() for _ in range(10_000)] == first
    assert abs(first.count("challenger") / len(first) - 0.10) < 0.01


def test_the_client_request_id_is_the_endpoints_not_the_models():
    body = json.dumps({"client_request_id": "abc", "dataframe_records": [{"a": 1}]}).encode()
    forwarded, client_request_id = split_endpoint_fields(body, "application/json")
    assert client_request_id == "abc"
    assert json.loads(forwarded) == {"dataframe_records": [{"a": 1}]}
    unchanged = b'{"dataframe_records": [{"a": 1}]}'
    assert split_endpoint_fields(unchanged, "application/json") == (unchanged, None)


def exchange(request: bytes, response: bytes = b"{}", status: int = 200) -> Exchange:
    return Exchange(
        request_id="r-1",
        client_request_id=None,
        received_at=datetime(2026, 5, 4, 23, 59, 59, tzinfo=UTC),
        status_code=status,
        duration_ms=3,
        request=request,
        response=response,
        served_entity_id=served_entity_id(ENDPOINT, "champion", MODEL, "2"),
        requester="me",
    )


def test_a_row_has_the_inference_table_columns_in_order():
    row = payload_row(exchange(b'{"inputs": [1]}'))
    assert len(row) == len(PAYLOAD_SCHEMA.fields)
    values = dict(zip(PAYLOAD_SCHEMA.fieldNames(), row, strict=True))
    assert values["request_date"] == datetime(2026, 5, 4).date()  # the UTC date
    assert values["request"] == '{"inputs": [1]}' and values["logging_error_codes"] == []
    assert values["sampling_fraction"] == 1.0


def test_an_oversized_payload_is_logged_as_null_with_its_error_code():
    huge = b"x" * (MAX_LOGGED_PAYLOAD_BYTES + 1)
    values = dict(zip(PAYLOAD_SCHEMA.fieldNames(), payload_row(exchange(b"{}", huge)), strict=True))
    assert values["response"] is None
    assert values["logging_error_codes"] == ["MAX_RESPONSE_SIZE_EXCEEDED"]


def test_a_served_entity_id_changes_with_the_version_it_serves():
    champion_v2 = served_entity_id(ENDPOINT, "champion", MODEL, "2")
    assert champion_v2 == served_entity_id(ENDPOINT, "champion", MODEL, "2")
    assert champion_v2 != served_entity_id(ENDPOINT, "champion", MODEL, "3")
    assert len(champion_v2) == 32 and int(champion_v2, 16) >= 0  # hexadecimal, as on Databricks


# Errors before serving --------------------------------------------------------------------------


def test_without_a_deployed_endpoint_serve_says_to_run_the_pipeline(fresh_store, capsys):
    with pytest.raises(SystemExit) as exit_status:
        main(["--port", str(free_port())])
    assert exit_status.value.code == 1
    message = capsys.readouterr().err
    assert str(fresh_store / SERVING_DIR) in message and "run `make pipeline`" in message.lower()


def test_a_missing_named_endpoint_names_its_file(fresh_store, capsys):
    with pytest.raises(SystemExit):
        main(["--endpoint", "nope", "--port", str(free_port())])
    message = capsys.readouterr().err
    assert str(fresh_store / SERVING_DIR / "nope.json") in message and "make pipeline" in message


def test_a_corrupt_spec_file_is_named(fresh_store, capsys):
    path = fresh_store / SERVING_DIR / f"{ENDPOINT}.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"name": ')
    with pytest.raises(SystemExit):
        main(["--port", str(free_port())])
    message = capsys.readouterr().err
    assert str(path) in message and "run the deploy step again" in message


# The inference log writes batches while serving -------------------------------------------------


def test_buffered_requests_are_written_after_the_flush_interval(fresh_store, spark):
    tables = get_runtime().tables
    log = InferenceLog(tables, PAYLOAD_TABLE, batch_rows=1_000, flush_seconds=0.5)
    try:
        for _ in range(3):
            log.add(exchange(b'{"inputs": [1]}'))
        deadline = time.monotonic() + 300
        while log.written < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert log.written == 3  # without close(): the timer wrote them
        assert tables.read(PAYLOAD_TABLE, fix="").schema == PAYLOAD_SCHEMA
    finally:
        log.close()


# The server -------------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    store: Path
    log: Path
    sent: Counter = field(default_factory=Counter)  # status code -> requests sent

    @property
    def endpoint_url(self) -> str:
        return f"{self.url}/serving-endpoints/{ENDPOINT}"


@pytest.fixture(scope="module")
def server(lifecycle, tmp_path_factory) -> Iterator[Server]:
    """`make serve` against a copy of the lifecycle's store: champion version 2, challenger 1 at
    10 %; the log is written every 50 requests, and on shutdown (never by its timer here)."""
    store = copy_of_store(lifecycle.store, tmp_path_factory.mktemp("serving") / "store")
    write_spec(store, endpoint_spec(CHAMPION_VERSION, CHALLENGER_VERSION, 10))
    port = free_port()
    command = [sys.executable, "-m", f"{settings.__package__}.platform.local_serving"]
    command += ["--endpoint", ENDPOINT, "--port", str(port), "--seed", str(SEED)]
    command += ["--log-batch-rows", "50", "--log-flush-seconds", "3600"]
    log = store / "serve.log"
    env = {**os.environ, LOCAL_DIR_VARIABLE: str(store)}
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    running = Server(f"http://127.0.0.1:{port}", process, store, log)
    try:
        wait_until_ready(running)
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)


def wait_until_ready(server: Server) -> None:
    for _ in range(3000):  # a start-up that never ends fails here, not by hanging the suite
        if server.process.poll() is not None:
            pytest.fail(f"serve exited with {server.process.returncode}:\n{server.log.read_text()}")
        try:
            with urllib.request.urlopen(f"{server.url}/ping", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail(f"serve did not answer /ping:\n{server.log.read_text()}")


def post(server: Server, path: str, body: dict) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        f"{server.endpoint_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status, headers, answer = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, answer = error.code, dict(error.headers), error.read()
    server.sent[status] += 1
    return status, headers, json.loads(answer)


@pytest.fixture(scope="module")
def trips(lifecycle) -> pd.DataFrame:
    """Model inputs of trips the lifecycle scored: some have no activity features (null)."""
    with local_store_at(lifecycle.store):
        scored = get_runtime().tables.read(f"{CATALOG}.{SCHEMA}.{settings.PREDICTIONS_TABLE}", "")
        return scored.select(*FEATURE_COLUMNS).orderBy("trip_id").limit(40).toPandas()


def split_body(frame: pd.DataFrame, **extra) -> dict:
    data = [[None if pd.isna(v) else float(v) for v in row] for row in frame.to_numpy()]
    return {"dataframe_split": {"columns": list(frame.columns), "data": data}, **extra}


def own_predictions(store: Path, version: str, frame: pd.DataFrame) -> list[float]:
    with local_store_at(store):
        use_mlflow()
        return list(mlflow.pyfunc.load_model(f"models:/{MODEL}/{version}").predict(frame))


def test_the_champion_answers_with_its_own_predictions(server, trips):
    status, headers, answer = post(server, "/served-models/champion/invocations", split_body(trips))
    assert status == 200, answer
    assert headers["served-model-name"] == "champion"
    expected = own_predictions(server.store, CHAMPION_VERSION, trips)
    assert answer["predictions"] == pytest.approx(expected, rel=1e-12)
    with local_store_at(server.store):
        use_mlflow()
        champion = mlflow.MlflowClient().get_model_version_by_alias(MODEL, CHAMPION).version
    assert str(champion) == CHAMPION_VERSION


def test_each_answer_comes_from_the_entity_its_header_names(server, trips):
    """(The lifecycle trains both versions on the same trips: which version served a request is
    checked through the inference table, by test_the_served_version_joins_...)"""
    answers = [post(server, "/invocations", split_body(trips.head(5))) for _ in range(30)]
    by_entity = {"champion": CHAMPION_VERSION, "challenger": CHALLENGER_VERSION}
    own = {name: own_predictions(server.store, v, trips.head(5)) for name, v in by_entity.items()}
    for status, headers, answer in answers:
        assert status == 200, answer
        assert answer["predictions"] == pytest.approx(own[headers["served-model-name"]])


def test_traffic_goes_to_the_challenger_by_its_share(server, trips):
    served = Counter(
        post(server, "/invocations", split_body(trips.head(1)))[1]["served-model-name"]
        for _ in range(200)
    )
    assert served["champion"] + served["challenger"] == 200
    assert 8 <= served["challenger"] <= 36, served  # 10 % of 200, give or take the draw


def test_a_request_without_the_activity_columns_is_refused_by_name(server, trips):
    trip_only = trips[list(settings.TRIP_FEATURES)].head(1)
    status, headers, answer = post(server, "/invocations", split_body(trip_only))
    assert status == 400
    assert "pickup_trip_count_1h" in answer["message"]
    assert headers["served-model-name"] in ("champion", "challenger")


def test_the_databricks_sdk_queries_the_local_endpoint(server, trips):
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.serving import DataframeSplitInput

    client = WorkspaceClient(host=server.url, token="dapi-local", auth_type="pat")
    body = split_body(trips.head(3))["dataframe_split"]
    answer = client.serving_endpoints.query(
        ENDPOINT, dataframe_split=DataframeSplitInput.from_dict(body), client_request_id="sdk-1"
    )
    server.sent[200] += 1
    assert answer.served_model_name in ("champion", "challenger")
    assert len(answer.predictions) == 3 and all(math.isfinite(p) for p in answer.predictions)


def test_the_endpoint_reports_itself_ready_as_databricks_does(server):
    with urllib.request.urlopen(f"{server.url}/api/2.0/serving-endpoints/{ENDPOINT}") as response:
        endpoint = json.loads(response.read())
    assert endpoint["state"]["ready"] == "READY"
    routes = endpoint["config"]["traffic_config"]["routes"]
    assert {r["served_entity_name"]: r["traffic_percentage"] for r in routes} == {
        "champion": 90,
        "challenger": 10,
    }


@pytest.fixture(scope="module")
def stopped(server) -> str:
    """The server stopped by Ctrl-C (SIGINT), with requests still buffered; its output."""
    assert sum(server.sent.values()) % 50 != 0  # so some wait for the shutdown to be written
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=600) == 0
    return server.log.read_text()


def test_stopping_writes_every_request_to_the_inference_table(server, stopped, spark):
    sent = sum(server.sent.values())
    assert f"Stopped: {sent} request(s) written to {PAYLOAD_TABLE}." in stopped
    with local_store_at(server.store):
        logged = get_runtime().tables.read(PAYLOAD_TABLE, fix="")
        assert logged.schema == PAYLOAD_SCHEMA
        statuses = Counter(dict(logged.groupBy("status_code").count().collect()))
        assert statuses == server.sent
        refused = logged.where("status_code = 400").first()
        assert "pickup_trip_count_1h" in json.loads(refused["response"])["message"]
        assert logged.where("client_request_id = 'sdk-1'").count() == 1


def test_the_served_version_joins_from_the_served_entities_table(server, stopped, spark):
    with local_store_at(server.store):
        tables = get_runtime().tables
        logged = tables.read(PAYLOAD_TABLE, fix="")
        entities = tables.read(SERVED_ENTITIES_TABLE, fix="")
        versions = (
            logged.join(entities, "served_entity_id")
            .groupBy("served_entity_name", "entity_name", "entity_version")
            .agg(F.count("*").alias("requests"))
            .collect()
        )
    found = {(r["served_entity_name"], r["entity_name"], r["entity_version"]) for r in versions}
    assert found == {
        ("champion", MODEL, CHAMPION_VERSION),
        ("challenger", MODEL, CHALLENGER_VERSION),
    }
    assert sum(r["requests"] for r in versions) == sum(server.sent.values())


# The whole path: `make pipeline`, then `make serve` --------------------------------------------


def test_the_endpoint_the_pipeline_deployed_is_served_and_logged(
    lifecycle, tmp_path, trips, capsys
):
    """The lifecycle's deploy step wrote the endpoint's specification; serving it with the
    defaults of `make serve` answers on 127.0.0.1 and logs every request{% if cookiecutter.include_monitoring == "yes" %}, which monitoring
    then watches{% endif %}."""
    store = copy_of_store(lifecycle.store, tmp_path / "store")
    port = free_port()
    command = [sys.executable, "-m", f"{settings.__package__}.platform.local_serving"]
    log = store / "serve.log"
    env = {**os.environ, LOCAL_DIR_VARIABLE: str(store)}
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    served = Server(f"http://127.0.0.1:{port}", process, store, log)
    try:
        wait_until_ready(served)
        for row in range(len(trips)):
            request = urllib.request.Request(
                invocations_url(settings.ENDPOINT_NAME, port),
                data=json.dumps(split_body(trips.iloc[[row]])).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=120) as response:
                assert response.status == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=600) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)
    assert f"Serving endpoint '{settings.ENDPOINT_NAME}'" in log.read_text()
    with local_store_at(store):
        payload = inference_table(CATALOG, SCHEMA, settings.ENDPOINT_NAME)
        assert get_runtime().tables.read(payload, fix="").count() == len(trips)
{%- if cookiecutter.include_monitoring == "yes" %}
        monitoring.main(STEP_ARGS)
        watched = requests_table(CATALOG, SCHEMA, settings.ENDPOINT_NAME)
        assert f"Monitored {watched}" in capsys.readouterr().out
        assert get_runtime().tables.read(watched, fix="").count() == len(trips)
{%- endif %}
        summary = pipeline_summary(MODEL_REF)
    assert f"{payload} ({len(trips):,} requests logged)" in summary
    assert invocations_url(settings.ENDPOINT_NAME) in summary
