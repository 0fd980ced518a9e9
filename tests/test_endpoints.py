"""The serving endpoint of a baked project, deployed through databricks-sdk to the fake workspace.

The baked project's own code makes the endpoint serve @champion (serving.deploy_endpoint with the
Databricks platform of platform/endpoints.py), imported from its `src` folder: this environment
holds the project's dependencies. The model's aliases come from a
local MLflow registry, as the fake workspace has no Unity Catalog model versions. What the
endpoint became is read back through the serving-endpoints API.

What the fake checks: the requests' shape (unknown JSON is refused), that an endpoint exists
before its config or AI Gateway is changed and does not exist when it is created. What it does
not: that the model version exists, workload sizes, routes adding up to 100 percent, endpoint
names. It never builds anything: an endpoint is never updating (state.config_update NOT_UPDATING)
and never ready (state.ready NOT_READY), so waiting means waiting for the update to end, and the
readiness is reported as the workspace gives it. Its fault rules (POST /__testserver/fault) stand
in for refusals, failed updates, and for any write a deployment must not make.
"""

import importlib
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import bake
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.serving import (
    AiGatewayInferenceTableConfig,
    AiGatewayRateLimit,
    AiGatewayRateLimitRenewalPeriod,
)
from mlflow import MlflowClient

ANSWERS = {"project_name": "Endpoint Checks"}
PACKAGE = "endpoint_checks"
CATALOG, SCHEMA, MODEL = "test", "endpoint_checks", "fare_model"
FULL_NAME = f"{CATALOG}.{SCHEMA}.{MODEL}"
ENDPOINT = "test-endpoint-checks"
WRITE_REFUSED = "a write this deployment must not make"


@pytest.fixture(scope="module")
def baked(tmp_path_factory) -> Iterator[SimpleNamespace]:
    """The baked project's serving modules, imported from its `src` folder."""
    project = bake(tmp_path_factory.mktemp("endpoints"), ANSWERS)
    sys.path.insert(0, str(project / "src"))
    try:
        yield SimpleNamespace(
            project=project,
            **{
                name.rsplit(".", 1)[-1]: importlib.import_module(f"{PACKAGE}.{name}")
                for name in (
                    "serving",
                    "registry",
                    "platform.endpoints",
                    "platform.errors",
                    "platform.runtime",
                )
            },
        )
    finally:
        sys.path.remove(str(project / "src"))
        for module in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[module]


@dataclass
class Deployed:
    exit_code: int
    outcome: dict | None
    out: str
    err: str


@dataclass
class Workspace:
    """A fake workspace of its own (a token of its own) and a local MLflow registry of its own."""

    baked: SimpleNamespace
    client: WorkspaceClient
    store: Path
    capsys: pytest.CaptureFixture

    @property
    def model(self):
        return self.baked.registry.ModelRef(CATALOG, SCHEMA, MODEL)

    def register(self, versions: int, **aliases: str) -> None:
        """A registered model with `versions` versions, and these aliases."""
        source = self.store / "model"
        source.mkdir(exist_ok=True)
        self.baked.runtime.use_mlflow()
        MlflowClient().create_registered_model(FULL_NAME)
        for _ in range(versions):
            MlflowClient().create_model_version(FULL_NAME, source=str(source))
        self.alias(**aliases)

    def alias(self, **aliases: str) -> None:
        self.baked.runtime.use_mlflow()
        for alias, version in aliases.items():
            MlflowClient().set_registered_model_alias(FULL_NAME, alias, version)

    def try_deploy(self, split: str = "challenger=0", size: str = "Small") -> Deployed:
        """What the deploy step does once a version is champion, with the Databricks platform;
        a UserError ends it as it ends the step."""
        serving, errors = self.baked.serving, self.baked.errors
        self.capsys.readouterr()
        outcome = None
        try:
            with errors.exit_on_user_error():
                options = serving.serving_options(ENDPOINT, size, "true", split)
                endpoints = self.baked.endpoints.DatabricksEndpoints(self.client)
                deployment = serving.deploy_endpoint(self.model, options, endpoints)
                outcome = asdict(deployment.outcome)
                print(serving.describe(deployment))
            exit_code = 0
        except SystemExit as exit_:
            exit_code = exit_.code
        captured = self.capsys.readouterr()
        return Deployed(exit_code, outcome, captured.out, captured.err)

    def deploy(self, split: str = "challenger=0", size: str = "Small") -> dict:
        done = self.try_deploy(split, size)
        assert done.exit_code == 0, done.err
        return done.outcome

    def refuse(self, pattern: str, status: int, body: dict, times: int = 1, offset: int = 0):
        """Answer the next `times` requests `METHOD /path` (after `offset` of them) with this."""
        self.client.api_client.do(
            "POST",
            "/__testserver/fault",
            body={
                "pattern": pattern,
                "status_code": status,
                "body": json.dumps(body),
                "times": times,
                "offset": offset,
            },
        )

    def refuse_writes(self, *patterns: str) -> None:
        for pattern in patterns:
            self.refuse(pattern, 400, {"error_code": "INVALID_STATE", "message": WRITE_REFUSED}, 99)

    def endpoint(self) -> dict:
        return self.client.serving_endpoints.get(ENDPOINT).as_dict()


@pytest.fixture
def workspace(baked, fake_workspace, tmp_path, monkeypatch, capsys) -> Workspace:
    monkeypatch.setenv("HOME", str(tmp_path))  # no profile of this machine is read
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path / "local"))
    client = WorkspaceClient(host=fake_workspace, token="dbapi0" + uuid.uuid4().hex)
    return Workspace(baked, client, tmp_path, capsys)


def served(endpoint: dict) -> list[tuple[str, str, str]]:
    return [
        (entity["name"], entity["entity_name"], entity["entity_version"])
        for entity in endpoint["config"]["served_entities"]
    ]


def traffic(endpoint: dict) -> dict[str, int]:
    return {
        route["served_entity_name"]: route["traffic_percentage"]
        for route in endpoint["config"]["traffic_config"]["routes"]
    }


def test_the_first_deployment_creates_the_endpoint_with_its_inference_table(workspace):
    workspace.register(1, champion="1")
    outcome = workspace.deploy()
    assert outcome["action"] == "created"
    host = workspace.client.config.host
    assert outcome["location"] == f"{host}/serving-endpoints/{ENDPOINT}/invocations"
    assert outcome["ready"] == "NOT_READY"  # the fake never builds an endpoint

    endpoint = workspace.endpoint()
    assert served(endpoint) == [("champion", FULL_NAME, "1")]
    (entity,) = endpoint["config"]["served_entities"]
    assert (entity["workload_size"], entity["scale_to_zero_enabled"]) == ("Small", True)
    assert traffic(endpoint) == {"champion": 100}
    assert endpoint["ai_gateway"] == {
        "inference_table_config": {
            "catalog_name": CATALOG,
            "schema_name": SCHEMA,
            "table_name_prefix": "test_endpoint_checks",
            "enabled": True,
        }
    }
    assert "auto_capture_config" not in endpoint["config"]


def test_deploying_again_sends_nothing(workspace):
    workspace.register(1, champion="1")
    workspace.deploy()
    before = workspace.endpoint()
    workspace.refuse_writes(
        "POST /api/2.0/serving-endpoints",
        f"PUT /api/2.0/serving-endpoints/{ENDPOINT}/config",
        f"PUT /api/2.0/serving-endpoints/{ENDPOINT}/ai-gateway",
    )
    assert workspace.deploy()["action"] == "unchanged"
    assert workspace.endpoint() == before  # timestamps included


def test_a_new_champion_updates_the_config_only(workspace):
    workspace.register(2, champion="1")
    workspace.deploy()
    created = workspace.endpoint()
    workspace.alias(champion="2")
    workspace.refuse_writes(f"PUT /api/2.0/serving-endpoints/{ENDPOINT}/ai-gateway")
    outcome = workspace.deploy()
    assert (outcome["action"], outcome["changed"]) == ("updated", ("config",))
    endpoint = workspace.endpoint()
    assert served(endpoint) == [("champion", FULL_NAME, "2")]
    assert endpoint["last_updated_timestamp"] >= created["last_updated_timestamp"]
    assert endpoint["ai_gateway"] == created["ai_gateway"]


def test_a_traffic_split_serves_the_challenger_and_a_zero_split_removes_it(workspace):
    workspace.register(3, champion="2", challenger="3")
    workspace.deploy()
    outcome = workspace.deploy(split="challenger=10", size="Medium")
    assert (outcome["action"], outcome["changed"]) == ("updated", ("config",))
    endpoint = workspace.endpoint()
    assert served(endpoint) == [("champion", FULL_NAME, "2"), ("challenger", FULL_NAME, "3")]
    assert traffic(endpoint) == {"champion": 90, "challenger": 10}
    sizes = {entity["workload_size"] for entity in endpoint["config"]["served_entities"]}
    assert sizes == {"Medium"}

    assert workspace.deploy(split="challenger=10", size="Medium")["action"] == "unchanged"
    assert workspace.deploy(split="challenger=0", size="Medium")["action"] == "updated"
    assert served(workspace.endpoint()) == [("champion", FULL_NAME, "2")]


def test_a_challenger_that_is_the_champion_gets_no_share(workspace):
    workspace.register(2, champion="2", challenger="2")
    done = workspace.try_deploy(split="challenger=10")
    assert done.exit_code == 0, done.err
    assert "no @challenger other than @champion" in done.out
    assert traffic(workspace.endpoint()) == {"champion": 100}


def test_a_changed_inference_table_is_put_back_and_other_gateway_settings_kept(workspace):
    workspace.register(1, champion="1")
    workspace.deploy()
    limit = AiGatewayRateLimit(calls=100, renewal_period=AiGatewayRateLimitRenewalPeriod.MINUTE)
    workspace.client.serving_endpoints.put_ai_gateway(
        ENDPOINT,
        inference_table_config=AiGatewayInferenceTableConfig(
            catalog_name=CATALOG, schema_name=SCHEMA, table_name_prefix="elsewhere", enabled=False
        ),
        rate_limits=[limit],
    )
    workspace.refuse_writes(f"PUT /api/2.0/serving-endpoints/{ENDPOINT}/config")
    outcome = workspace.deploy()
    assert (outcome["action"], outcome["changed"]) == ("updated", ("ai_gateway",))
    gateway = workspace.endpoint()["ai_gateway"]
    assert gateway["inference_table_config"]["table_name_prefix"] == "test_endpoint_checks"
    assert gateway["inference_table_config"]["enabled"] is True
    assert gateway["rate_limits"] == [limit.as_dict()]


@pytest.mark.parametrize(
    ("versions", "aliases", "message"),
    [
        (1, {"challenger": "1"}, f"Model '{FULL_NAME}' has no alias '@champion'. Run the training"),
        (0, {}, f"Model '{FULL_NAME}' is not registered yet. Run the training job"),
    ],
    ids=["no champion", "no model"],
)
def test_without_a_champion_nothing_is_created_and_the_error_says_why(
    workspace, versions, aliases, message
):
    if versions:
        workspace.register(versions, **aliases)
    done = workspace.try_deploy()
    assert done.exit_code == 1
    assert done.err.startswith(f"error: {message}")
    assert len(done.err.strip().splitlines()) == 1  # no traceback
    with pytest.raises(NotFound):
        workspace.client.serving_endpoints.get(ENDPOINT)


def test_a_refusal_of_the_workspace_is_one_line_naming_the_endpoint_and_the_fix(workspace):
    workspace.register(1, champion="1")
    denied = {"error_code": "PERMISSION_DENIED", "message": "User may not create endpoints."}
    workspace.refuse("POST /api/2.0/serving-endpoints", 403, denied)
    done = workspace.try_deploy()
    assert done.exit_code == 1
    assert done.err.strip().splitlines() == [
        f"error: Serving endpoint '{ENDPOINT}': permission denied (User may not create "
        "endpoints.). The identity the job runs as needs to be allowed to create serving "
        "endpoints and CAN_MANAGE on this one."
    ]


def test_a_failed_update_is_reported_with_where_to_look(workspace):
    workspace.register(1, champion="1")
    failed = {"name": ENDPOINT, "state": {"config_update": "UPDATE_FAILED", "ready": "NOT_READY"}}
    # The first GET finds no endpoint; the one that waits for the new endpoint sees it fail.
    workspace.refuse(f"GET /api/2.0/serving-endpoints/{ENDPOINT}", 200, failed, offset=1)
    done = workspace.try_deploy()
    assert done.exit_code == 1
    (line,) = done.err.strip().splitlines()
    assert line.startswith(f"error: Serving endpoint '{ENDPOINT}' did not take its new config")
    assert "UPDATE_FAILED" in line and "Serving page" in line
