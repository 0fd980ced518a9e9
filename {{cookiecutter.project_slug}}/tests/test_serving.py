"""The champion, served by MLflow's own scoring server, takes what its signature promises."""

import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from {{ cookiecutter.package_name }}.dataset import FEATURE_COLUMNS
from {{ cookiecutter.package_name }}.platform.runtime import use_mlflow
from {{ cookiecutter.package_name }}.registry import CHAMPION
from {{ cookiecutter.package_name }}.settings import TRIP_FEATURES

from conftest import MODEL

# A trip booked in a quiet hour (2 miles at 2 am on a Monday): the feature tables knew nothing of
# its pickup or dropoff area.
QUIET_TRIP = dict.fromkeys(TRIP_FEATURES, 2.0)
ACTIVITY_FEATURES = [column for column in FEATURE_COLUMNS if column not in TRIP_FEATURES]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def scoring_server(lifecycle) -> Iterator[str]:
    """`mlflow models serve` of @champion from the lifecycle's registry, on 127.0.0.1."""
    store, port = Path(lifecycle.store), free_port()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
    }
    champion = f"models:/{MODEL}@{CHAMPION}"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", champion]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    log = store / "scoring-server.log"
    with log.open("w") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(server, url, log)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=60)


def wait_until_ready(server: subprocess.Popen, url: str, log: Path) -> None:
    for _ in range(600):  # a start-up that never ends fails here, not by hanging the suite
        if server.poll() is not None:
            pytest.fail(f"the scoring server exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail(f"the scoring server did not answer /ping:\n{log.read_text()}")


def invoke(url: str, rows: list[dict]) -> tuple[int, dict]:
    columns = sorted({column for row in rows for column in row})
    data = [[row.get(column) for column in columns] for row in rows]
    body = {"dataframe_split": {"columns": columns, "data": data}}
    request = urllib.request.Request(
        f"{url}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_signature_requires_every_feature_and_allows_missing_values(in_lifecycle):
    use_mlflow()  # the lifecycle's registry, whatever store an earlier test pointed MLflow at
    model_info = mlflow.models.get_model_info(f"models:/{MODEL}@{CHAMPION}")
    inputs = model_info.signature.inputs
    assert inputs.input_names() == FEATURE_COLUMNS
    assert all(column.required for column in inputs.inputs)


def test_a_trip_with_unknown_area_activity_is_scored(scoring_server):
    quiet = {**QUIET_TRIP, **dict.fromkeys(ACTIVITY_FEATURES)}  # null: nothing was known
    busy = {**QUIET_TRIP, **dict.fromkeys(ACTIVITY_FEATURES, 12.0)}
    status, answer = invoke(scoring_server, [quiet, busy])
    assert status == 200, answer
    predictions = answer["predictions"]
    assert len(predictions) == 2 and all(math.isfinite(p) and p > 0 for p in predictions)


def test_a_request_without_the_activity_columns_is_refused_by_name(scoring_server):
    status, answer = invoke(scoring_server, [QUIET_TRIP])
    assert status == 400
    message = answer["message"]
    assert all(column in message for column in ACTIVITY_FEATURES), message
