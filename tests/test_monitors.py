"""The generated project's data-profiling monitors, applied through databricks-sdk to Databricks'
own fake workspace (the test server of the CLI's acceptance tests): create, no-op, update, and
the refresh the fake does not serve, reported in one line."""

import dataclasses
import importlib
import importlib.util
import sys
import uuid
from pathlib import Path

import pytest
from conftest import bake
from databricks.sdk import WorkspaceClient

USER = "tester@databricks.com"  # who the fake workspace says a dbapi0 token belongs to


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> str:
    """The default project's package, imported under a name of its own."""
    project = bake(tmp_path_factory.mktemp("monitors"))
    source = next((project / "src").iterdir())
    name = f"monitors_project_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(
        name, source / "__init__.py", submodule_search_locations=[str(source)]
    )
    sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[name])
    return name


@pytest.fixture
def platform(package):
    return importlib.import_module(f"{package}.platform.monitors")


@pytest.fixture
def spec(package):
    specs = importlib.import_module(f"{package}.monitor_specs")
    return specs.predictions_monitor("dev_catalog", "fares", "fare_predictions")


@pytest.fixture
def client(fake_workspace, tmp_path, monkeypatch) -> WorkspaceClient:
    """A workspace of its own (one per token); no profile of this machine is read."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for variable in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    return WorkspaceClient(host=fake_workspace, token=f"dbapi0{uuid.uuid4().hex}")


def test_a_missing_monitor_is_created_as_specified(platform, spec, client):
    outcome = platform.DatabricksMonitors(client).ensure(spec)
    assert outcome is platform.Outcome.CREATED
    info = client.quality_monitors.get(spec.table_name)
    assert info.output_schema_name == "dev_catalog.fares"
    assert info.baseline_table_name == "dev_catalog.fares.fare_predictions_baseline"
    log = info.inference_log
    assert log.problem_type.value == "PROBLEM_TYPE_REGRESSION"
    assert (log.timestamp_col, log.prediction_col, log.label_col, log.model_id_col) == (
        "tpep_pickup_datetime",
        "prediction",
        "fare_amount",
        "model_version",
    )
    assert "1 day" in log.granularities
    assert info.assets_dir == (
        f"/Workspace/Users/{USER}/my-mlops-project/monitors/dev_catalog.fares.fare_predictions"
    )
    assert info.drift_metrics_table_name == spec.drift_metrics_table
    assert info.profile_metrics_table_name == spec.profile_metrics_table


def test_a_monitor_as_specified_is_left_alone(platform, spec, client):
    monitors = platform.DatabricksMonitors(client)
    monitors.ensure(spec)
    before = client.quality_monitors.get(spec.table_name)
    assert monitors.ensure(spec) is platform.Outcome.UNCHANGED
    assert client.quality_monitors.get(spec.table_name) == before


def test_a_monitor_that_differs_is_updated_in_place(platform, spec, client):
    monitors = platform.DatabricksMonitors(client)
    monitors.ensure(spec)
    created = client.quality_monitors.get(spec.table_name)
    weekly = dataclasses.replace(spec, granularities=("1 week",), label_col="fare")
    assert monitors.ensure(weekly) is platform.Outcome.UPDATED
    updated = client.quality_monitors.get(spec.table_name)
    assert updated.inference_log.granularities == ["1 week"]
    assert updated.inference_log.label_col == "fare"
    # Where its dashboard lives cannot change (the fake workspace also mints a new dashboard id on
    # every update, which Databricks does not; so that is not compared).
    assert updated.assets_dir == created.assets_dir
    assert monitors.ensure(weekly) is platform.Outcome.UNCHANGED


def test_a_new_monitor_is_not_asked_for_a_second_first_refresh(platform, spec, client):
    assert platform.DatabricksMonitors(client).apply(spec) is platform.Outcome.CREATED


def test_a_refused_refresh_is_one_line_that_names_the_table(platform, spec, client):
    """The fake workspace serves no refreshes (`.../monitor/refreshes`): a real refusal."""
    monitors = platform.DatabricksMonitors(client)
    monitors.ensure(spec)
    errors = importlib.import_module(platform.__name__.replace(".monitors", ".errors"))
    with pytest.raises(errors.UserError) as refused:
        monitors.apply(spec)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(
        f"Could not start a refresh of the monitor of table '{spec.table_name}' ("
    )
    assert "Run the monitoring job again" in message


def test_locally_no_workspace_is_called(platform, spec, monkeypatch):
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    monitors = platform.get_monitors()
    assert monitors.writes_metric_tables
    assert monitors.apply(spec) is platform.Outcome.LOCAL
    assert "databricks.sdk" not in repr(type(monitors))


def test_the_project_names_one_api(package):
    source = Path(sys.modules[package].__file__).parent
    users = [p.name for p in source.rglob("*.py") if "quality_monitors" in p.read_text()]
    assert users == ["monitors.py"]
