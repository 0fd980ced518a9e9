"""The generated Databricks bundle: strict schemas, targets as answered, one task graph everywhere.

Every resource file is parsed with `databricks-bundles` (which rejects unknown fields, bad enum
values and missing required fields); references are resolved per target with the project's own
local runner, which parses the same files the same way.
"""

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import full_answers
from databricks.bundles.experiments import MlflowExperiment
from databricks.bundles.jobs import Job
from databricks.bundles.registered_models import RegisteredModel

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
TARGETS = ["dev", "test", "staging", "prod", "local"]
# The YAML style of the CI files: yamllint's defaults, lines of up to 100 characters.
YAMLLINT_CONFIG = "{extends: default, rules: {document-start: disable, line-length: {max: 100}}}"
DEPLOYED_TARGETS = ["staging", "test", "prod"]
RESOURCE_PARSERS = {
    "jobs": Job,
    "experiments": MlflowExperiment,
    "registered_models": RegisteredModel,
}
NODE_TYPES = {"azure": "Standard_D4ds_v5", "aws": "m5d.xlarge", "gcp": "n2-standard-4"}

# The contract: each job's tasks, in order, and the console script each wheel task calls.
EXPECTED_TASKS = {
    "feature_engineering_job": [("features", "feature-engineering")],
    "model_training_job": [
        ("train", "train-model"),
        ("validate", "validate-model"),
        ("deploy", "deploy-model"),
    ],
    "batch_inference_job": [("batch_inference", "batch-inference")],
}
MONITORING_TASKS = [("monitor", "monitor-model"), ("retraining_needed", None), ("retrain", None)]


def task_value(task: str, key: str) -> str:
    """The dynamic reference to a task value, as Databricks writes it (in double braces)."""
    return "{" * 2 + f"tasks.{task}.values.{key}" + "}" * 2


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def resources_of(project: Path) -> dict[str, dict[str, dict]]:
    """{kind: {key: definition}} across resources/*.yml."""
    merged: dict[str, dict[str, dict]] = {}
    for path in sorted((project / "resources").glob("*.yml")):
        for kind, definitions in read_yaml(path).get("resources", {}).items():
            merged.setdefault(kind, {}).update(definitions)
    return merged


def walk(value, path=()):
    """Yield (path, key-or-None, value) for every node of a YAML document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), key, item
            yield from walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, (*path, index))


def bundle_loader_of(project: Path):
    """The project's bundle loader, imported from its files under a package name unique to the
    project (projects of several combinations share one test process)."""
    name = f"project_{abs(hash(str(project)))}"
    if name not in sys.modules:
        package = next((project / "src").iterdir())
        spec = importlib.util.spec_from_file_location(
            name, package / "__init__.py", submodule_search_locations=[str(package)]
        )
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return importlib.import_module(f"{name}.platform.bundle")


@pytest.fixture
def answers(combination):
    return full_answers(combination)


@pytest.fixture
def bundle(project):
    return read_yaml(project / "databricks.yml")


@pytest.fixture
def resources(project):
    return resources_of(project)


# --- Schemas -------------------------------------------------------------------------------------


def test_every_resource_parses_strictly(project):
    files = sorted((project / "resources").glob("*.yml"))
    assert files
    for path in files:
        for kind, definitions in read_yaml(path)["resources"].items():
            assert kind in RESOURCE_PARSERS, f"{path.name}: no strict parser for {kind}"
            for key, definition in definitions.items():
                try:
                    RESOURCE_PARSERS[kind].from_dict(definition)
                except (TypeError, ValueError, KeyError) as error:
                    pytest.fail(f"{path.name}: {kind}.{key} does not parse: {error}")


def test_bundle_files_pass_yamllint(project):
    resources = sorted(str(path.relative_to(project)) for path in project.glob("resources/*.yml"))
    lint = [sys.executable, "-m", "yamllint", "--strict", "-d", YAMLLINT_CONFIG]
    result = subprocess.run(
        [*lint, "databricks.yml", *resources], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_runner_loads_every_target(project):
    loader = bundle_loader_of(project)
    for target in TARGETS:
        loader.load_bundle(project, target)


def test_root_keys(bundle, answers):
    assert list(bundle) == ["bundle", "include", "artifacts", "variables", "targets"]
    assert bundle["bundle"] == {"name": answers["project_slug"]}
    assert bundle["include"] == ["resources/*.yml"]
    wheel = bundle["artifacts"]["wheel"]
    assert wheel["type"] == "whl"
    assert wheel["path"] == "."


# --- Targets -------------------------------------------------------------------------------------


def test_targets_modes_hosts_and_catalogs(bundle, answers):
    targets = bundle["targets"]
    assert sorted(targets) == sorted(TARGETS)
    expected = {
        "dev": ("development", answers["databricks_dev_workspace_host"], answers["dev_catalog"]),
        "test": (None, answers["databricks_staging_workspace_host"], answers["test_catalog"]),
        "staging": (
            "production",
            answers["databricks_staging_workspace_host"],
            answers["staging_catalog"],
        ),
        "prod": ("production", answers["databricks_prod_workspace_host"], answers["prod_catalog"]),
        "local": ("development", None, answers["dev_catalog"]),
    }
    for name, (mode, host, catalog) in expected.items():
        target = targets[name]
        assert target.get("mode") == mode, name
        assert (target.get("workspace") or {}).get("host") == (host or None), name
        assert target["variables"]["catalog"] == catalog, name
    assert [name for name, target in targets.items() if target.get("default")] == ["dev"]


@pytest.mark.parametrize("target", ["staging", "prod"])
def test_production_targets_run_as_a_service_principal_with_an_explicit_root(bundle, target):
    settings = bundle["targets"][target]
    principal = "${var.service_principal_application_id}"
    assert settings["run_as"] == {"service_principal_name": principal}
    assert settings["workspace"]["root_path"].endswith("/.bundle/${bundle.name}/${bundle.target}")
    assert {"level": "CAN_MANAGE", "service_principal_name": principal} in settings["permissions"]
    assert bundle["variables"]["service_principal_application_id"]["description"]


def test_no_target_overrides_the_shared_resources(bundle):
    assert [name for name, target in bundle["targets"].items() if "resources" in target] == []


def test_staging_test_and_prod_share_one_task_graph(project):
    loader = bundle_loader_of(project)

    def graph(target):
        loaded = loader.load_bundle(project, target)
        return {
            key: [
                (
                    task.task_key,
                    [(d.task_key, d.outcome) for d in task.depends_on],
                    task.run_if,
                    task.python_wheel_task and task.python_wheel_task.entry_point,
                    task.python_wheel_task and sorted(task.python_wheel_task.named_parameters),
                    task.condition_task and task.condition_task.as_dict(),
                    task.run_job_task and loaded.resolve(task.run_job_task.job_id, key),
                )
                for task in job.tasks
            ]
            for key, job in loaded.jobs.items()
        }

    graphs = {target: graph(target) for target in DEPLOYED_TARGETS}
    assert graphs["staging"] == graphs["test"] == graphs["prod"]


def test_deployed_schedules_are_paused_outside_production(bundle, resources):
    for key, job in resources["jobs"].items():
        assert job["schedule"]["timezone_id"] == "UTC", key
        assert "pause_status" not in job["schedule"], key
    assert bundle["targets"]["test"]["presets"] == {"trigger_pause_status": "PAUSED"}


# --- Jobs and tasks ------------------------------------------------------------------------------


def test_jobs_have_the_contract_tasks_and_entry_points(resources, answers):
    expected = dict(EXPECTED_TASKS)
    if answers["include_monitoring"] == "yes":
        expected["monitoring_job"] = MONITORING_TASKS
    actual = {
        key: [
            (task["task_key"], task.get("python_wheel_task", {}).get("entry_point"))
            for task in job["tasks"]
        ]
        for key, job in resources["jobs"].items()
    }
    assert actual == expected


def test_every_wheel_task_calls_a_console_script_of_the_project(project, resources, answers):
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    scripts = pyproject["project"].get("scripts", {})
    for key, job in resources["jobs"].items():
        for task in job["tasks"]:
            if "python_wheel_task" in task:
                wheel = task["python_wheel_task"]
                assert wheel["package_name"] == answers["package_name"], key
                assert wheel["entry_point"] in scripts, f"{key}.{task['task_key']}"


def test_every_wheel_parameter_comes_from_the_bundle(resources):
    allowed = re.compile(r"\$\{(var|resources)\.[a-z_.]+\}|" + re.escape("{" * 2) + r"tasks\.")
    for key, job in resources["jobs"].items():
        for task in job["tasks"]:
            for name, value in (
                task.get("python_wheel_task", {}).get("named_parameters", {}).items()
            ):
                assert allowed.match(value), f"{key}.{task['task_key']}: {name}={value}"


def test_the_model_version_travels_as_a_task_value(resources):
    tasks = {task["task_key"]: task for task in resources["jobs"]["model_training_job"]["tasks"]}
    reference = task_value("train", "model_version")
    assert tasks["validate"]["depends_on"] == [{"task_key": "train"}]
    assert tasks["deploy"]["depends_on"] == [{"task_key": "validate"}]
    for reader in ("validate", "deploy"):
        assert tasks[reader]["python_wheel_task"]["named_parameters"]["model-version"] == reference


def test_monitoring_starts_training_through_a_condition(resources, answers):
    if answers["include_monitoring"] == "no":
        assert "monitoring_job" not in resources["jobs"]
        return
    tasks = {task["task_key"]: task for task in resources["jobs"]["monitoring_job"]["tasks"]}
    assert tasks["retraining_needed"]["depends_on"] == [{"task_key": "monitor"}]
    assert tasks["retraining_needed"]["condition_task"] == {
        "left": task_value("monitor", "retrain"),
        "op": "EQUAL_TO",
        "right": "true",
    }
    assert tasks["retrain"]["depends_on"] == [{"task_key": "retraining_needed", "outcome": "true"}]
    assert tasks["retrain"]["run_job_task"] == {"job_id": "${resources.jobs.model_training_job.id}"}


# --- Compute -------------------------------------------------------------------------------------


# Job and task fields that say where tasks run and what every wheel task is given.
JOB_SHARED = ("environments", "job_clusters", "parameters")
TASK_COMPUTE = (
    "environment_key",
    "job_cluster_key",
    "existing_cluster_id",
    "new_cluster",
    "libraries",
)


def test_compute_is_defined_once_in_the_variables(bundle, answers):
    variables = bundle["variables"]
    if answers["compute"] == "serverless":
        assert variables["environment"]["type"] == "complex"
        assert variables["environment"]["default"] == {
            "environment_version": "5",
            "dependencies": ["./dist/*.whl"],
        }
        assert not {"job_cluster", "spark_version", "node_type_id"} & set(variables)
    else:
        assert variables["job_cluster"]["type"] == "complex"
        cluster = variables["job_cluster"]["default"]
        assert cluster["spark_version"] == "${var.spark_version}"
        assert cluster["node_type_id"] == "${var.node_type_id}"
        assert cluster["num_workers"] == 0
        assert re.fullmatch(
            r"\d+\.\d+\.x-cpu-ml-scala2\.1[23]", variables["spark_version"]["default"]
        )
        assert variables["node_type_id"]["default"] == NODE_TYPES[answers["cloud"]]
        assert "environment" not in variables


def test_every_job_and_wheel_task_runs_on_that_compute_with_catalog_and_schema(resources, answers):
    """Catalog and schema are job parameters: Databricks pushes them down to every wheel task."""
    parameters = [
        {"name": "catalog", "default": "${var.catalog}"},
        {"name": "schema", "default": "${var.schema}"},
    ]
    if answers["compute"] == "serverless":
        environment = {"environment_key": "default", "spec": "${var.environment}"}
        job_compute = {"environments": [environment], "parameters": parameters}
        task_compute = {"environment_key": "default"}
    else:
        cluster = {"job_cluster_key": "default", "new_cluster": "${var.job_cluster}"}
        job_compute = {"job_clusters": [cluster], "parameters": parameters}
        task_compute = {"job_cluster_key": "default", "libraries": [{"whl": "../dist/*.whl"}]}
    for key, job in resources["jobs"].items():
        assert {name: job[name] for name in JOB_SHARED if name in job} == job_compute, key
        for task in job["tasks"]:
            where = f"{key}.{task['task_key']}"
            compute = {name: task[name] for name in TASK_COMPUTE if name in task}
            if "python_wheel_task" not in task:
                assert compute == {}, where
                continue
            assert compute == task_compute, where
            assert not {"catalog", "schema"} & set(task["python_wheel_task"]["named_parameters"])


# --- References ----------------------------------------------------------------------------------


def test_every_reference_points_at_something_defined(project, bundle, resources):
    declared = set(bundle["variables"])
    documents = [bundle] + [read_yaml(path) for path in (project / "resources").glob("*.yml")]
    for document in documents:
        for _, _, value in walk(document):
            if not isinstance(value, str):
                continue
            for reference in re.findall(r"\$\{([^}]+)\}", value):
                parts = reference.split(".")
                if parts[0] == "var":
                    assert parts[1] in declared, reference
                elif parts[0] == "resources":
                    assert parts[2] in resources.get(parts[1], {}), reference
                else:
                    assert parts[0] in ("bundle", "workspace"), reference


def test_group_answers_appear_where_they_belong(project, bundle, resources, answers):
    local = bundle_loader_of(project).load_bundle(project, "local")
    read_group = "${var.read_user_group}"
    assert local.references["var.read_user_group"] == answers["read_user_group"]
    assert local.references["var.model_read_group"] == answers["model_read_group"]
    for key, job in resources["jobs"].items():
        assert job["permissions"] == [{"level": "CAN_VIEW", "group_name": read_group}], key
    (experiment,) = resources["experiments"].values()
    assert experiment["permissions"] == [{"level": "CAN_READ", "group_name": read_group}]
    (model,) = resources["registered_models"].values()
    assert model["grants"] == [{"principal": "${var.model_read_group}", "privileges": ["EXECUTE"]}]


def test_jobs_name_the_bundle_managed_model_and_experiment(resources):
    for job in resources["jobs"].values():
        for task in job["tasks"]:
            parameters = task.get("python_wheel_task", {}).get("named_parameters", {})
            if "model-name" in parameters:
                assert parameters["model-name"] == "${resources.registered_models.model.name}"
            if "experiment-name" in parameters:
                assert parameters["experiment-name"] == "${resources.experiments.experiment.name}"


# --- Deprecated fields ---------------------------------------------------------------------------

DEPRECATED_KEYS = {"client", "auto_capture_config", "stage", "archive_existing_versions"}


def test_no_deprecated_field(project, bundle, resources):
    documents = [bundle] + [read_yaml(path) for path in (project / "resources").glob("*.yml")]
    found = [
        path for document in documents for path, key, _ in walk(document) if key in DEPRECATED_KEYS
    ]
    assert found == []
    assert "models" not in resources, "workspace model registry (stages): use registered_models"


DEPRECATED_NAMES = ("auto_capture_config", "transition_model_version_stage")


def test_no_deprecated_api_anywhere_in_the_project(project):
    found = [
        f"{path.relative_to(project)}:{number}"
        for path in sorted(project.rglob("*"))
        if path.is_file() and path.suffix in {".py", ".yml", ".yaml", ".toml", ".md"}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if any(name in line for name in DEPRECATED_NAMES)
    ]
    assert found == []
