"""Every supported combination, deployed to each target by the real Databricks CLI.

The CLI and Databricks' own fake workspace (the test server of the CLI's acceptance tests) are
built from Go sources by `make databricks-tools` (tools/fake-workspace pins the version). Each
test deploys a copy of a baked project into a workspace of its own, reads back through the API
what the CLI created, checks that the local job runner would run exactly the deployed jobs, and
destroys the deployment again.

Identities are those of the fake workspace: a developer deploys the dev target, and CI's service
principal deploys test, staging and prod, with its application ID given as the bundle variable,
as docs/ci-cd-setup.md tells teams to do.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import full_answers, pinned_cli_version, tool

TARGETS = ["dev", "test", "staging", "prod"]

# The fake workspace's identities: tokens starting dbapi0 are a user, dbapi1 a service principal.
DEVELOPER = ("dbapi0", "tester@databricks.com", "[dev tester] ", "dev_tester_")
SERVICE_PRINCIPAL = ("dbapi1", "aaaaaaaa-bbbb-4ccc-dddd-eeeeeeeeeeee", "", "")
HOST_ANSWERS = ("databricks_dev_workspace_host", "databricks_staging_workspace_host")
HOST_ANSWERS += ("databricks_prod_workspace_host",)
CATALOG_ANSWER = {target: f"{target}_catalog" for target in TARGETS}


@dataclass
class Cli:
    """The real Databricks CLI, run in a project directory against one fake workspace."""

    project: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(tool("databricks")), *args],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if check:
            assert result.returncode == 0, f"databricks {' '.join(args)}:\n{result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)


@dataclass
class Deployment:
    cli: Cli
    target: str
    answers: dict
    user_name: str
    job_prefix: str  # what development mode puts before job and experiment names
    model_prefix: str  # ... and before registered model names

    @property
    def catalog(self) -> str:
        return self.answers[CATALOG_ANSWER[self.target]]

    @property
    def development(self) -> bool:
        return self.target == "dev"


@pytest.fixture(params=TARGETS)
def deployment(request, project, combination, fake_workspace, tmp_path) -> Deployment:
    """A copy of the baked project, pointed at a fresh fake workspace, ready to deploy."""
    target = request.param
    answers = full_answers(combination)
    copy = tmp_path / "project"
    shutil.copytree(project, copy)
    bundle_file = copy / "databricks.yml"
    text = bundle_file.read_text()
    for answer in HOST_ANSWERS:
        if answers[answer]:
            text = text.replace(f"host: {answers[answer]}\n", f"host: {fake_workspace}\n")
    bundle_file.write_text(text)
    token_prefix, user_name, job_prefix, model_prefix = (
        DEVELOPER if target == "dev" else SERVICE_PRINCIPAL
    )
    home = tmp_path / "home"  # no profile of this machine is read
    home.mkdir()
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "HOME": str(home),
        "DATABRICKS_HOST": fake_workspace,
        "DATABRICKS_TOKEN": token_prefix + uuid.uuid4().hex,  # a workspace of its own
        "DATABRICKS_BUNDLE_ENGINE": "direct",
        "BUNDLE_VAR_service_principal_application_id": SERVICE_PRINCIPAL[1],
    }
    cli = Cli(copy, env)
    return Deployment(cli, target, answers, user_name, job_prefix, model_prefix)


def test_generated_ci_installs_the_cli_version_the_tests_use(project):
    ci_files = [*project.glob(".github/workflows/*.yml"), *project.glob(".azure/**/*.yml")]
    ci_files += [*project.glob(".gitlab-ci.yml"), *project.glob("scripts/install-*.sh")]
    pins = re.compile(r'version: "(\d+\.\d+\.\d+)"|^VERSION="(\d+\.\d+\.\d+)"', re.M)
    versions = {
        "".join(match) for ci_file in ci_files for match in pins.findall(ci_file.read_text())
    }
    assert versions == {pinned_cli_version()}


def test_bundle_validates_without_warnings(deployment):
    result = deployment.cli.run("bundle", "validate", "-t", deployment.target, "-o", "json")
    assert result.stderr == ""
    config = json.loads(result.stdout)
    assert config["bundle"]["target"] == deployment.target
    assert set(config["resources"]["jobs"]) >= {
        "feature_engineering_job",
        "model_training_job",
        "batch_inference_job",
    }


def test_deploy_creates_what_the_bundle_declares_and_destroy_removes_it(deployment):
    cli, target = deployment.cli, deployment.target
    deployed = cli.run("bundle", "deploy", "-t", target)
    assert not re.search(r"^(Warning|Recommendation|Error):", deployed.stderr, re.M), (
        deployed.stderr
    )
    config = cli.json("bundle", "validate", "-t", target)
    resources = cli.json("bundle", "summary", "-t", target)["resources"]
    job_ids = {key: job["id"] for key, job in resources["jobs"].items()}
    assert set(job_ids) == set(config["resources"]["jobs"])

    jobs = {key: cli.json("jobs", "get", job_id) for key, job_id in job_ids.items()}
    for key, job in jobs.items():
        check_job(deployment, key, job, cli.json("permissions", "get", "jobs", job_ids[key]))
        check_wheel_tasks(deployment, job["settings"])
    experiment_id = resources["experiments"]["experiment"]["id"]
    check_experiment(deployment, experiment_id)
    model_name = resources["registered_models"]["model"]["id"]
    check_registered_model(deployment, model_name)
    check_jobs_name_the_deployed_model_and_experiment(jobs, model_name, experiment_id, cli)
    check_local_runner_runs_the_deployed_jobs(deployment, jobs, job_ids)

    cli.run("bundle", "destroy", "-t", target, "--auto-approve")
    for job_id in job_ids.values():
        gone = cli.run("jobs", "get", job_id, check=False)
        assert gone.returncode != 0 and "does not exist" in gone.stderr
    experiment = cli.run("experiments", "get-experiment", experiment_id, check=False)
    assert experiment.returncode != 0 or '"lifecycle_stage": "deleted"' in experiment.stdout
    assert cli.run("registered-models", "get", model_name, check=False).returncode != 0
    root_path = config["workspace"]["root_path"]  # the uploaded files, wheel and state
    assert cli.run("workspace", "get-status", root_path, check=False).returncode != 0


def check_job(deployment: Deployment, key: str, job: dict, permissions: dict) -> None:
    settings, answers = job["settings"], deployment.answers
    slug = answers["project_slug"]
    assert settings["name"].startswith(f"{deployment.job_prefix}{deployment.target}-{slug}-"), key
    assert deployment.development == settings["name"].startswith("[dev ")
    schedule = settings.get("schedule")
    if schedule:
        paused = deployment.target in ("dev", "test")  # test pauses through its presets
        assert schedule["pause_status"] == ("PAUSED" if paused else "UNPAUSED"), key
    levels = permission_levels(permissions)
    assert "CAN_VIEW" in levels[("group_name", answers["read_user_group"])], key
    if deployment.target in ("staging", "prod"):
        service_principal = SERVICE_PRINCIPAL[1]
        assert settings["run_as"] == {"service_principal_name": service_principal}, key
        assert job["run_as_user_name"] == service_principal
        assert levels[("service_principal_name", service_principal)] & {"CAN_MANAGE", "IS_OWNER"}
    else:
        assert "run_as" not in settings or deployment.user_name in json.dumps(settings["run_as"])


def permission_levels(permissions: dict) -> dict[tuple[str, str], set[str]]:
    levels: dict[tuple[str, str], set[str]] = {}
    for entry in permissions["access_control_list"]:
        kind = next(k for k in ("group_name", "user_name", "service_principal_name") if k in entry)
        granted = {p["permission_level"] for p in entry["all_permissions"]}
        levels.setdefault((kind, entry[kind]), set()).update(granted)
    return levels


def check_experiment(deployment: Deployment, experiment_id: str) -> None:
    experiment = deployment.cli.json("experiments", "get-experiment", experiment_id)["experiment"]
    name, user = deployment.answers["__experiment_name"], deployment.user_name
    expected = f"/Users/{user}/{deployment.job_prefix}{deployment.target}-{name}"
    assert experiment["name"] == expected
    assert experiment["lifecycle_stage"] == "active"
    permissions = deployment.cli.json("permissions", "get", "experiments", experiment_id)
    group = ("group_name", deployment.answers["read_user_group"])
    assert "CAN_READ" in permission_levels(permissions)[group]


def check_registered_model(deployment: Deployment, full_name: str) -> None:
    answers = deployment.answers
    model = deployment.cli.json("registered-models", "get", full_name)
    assert (model["catalog_name"], model["schema_name"]) == (
        deployment.catalog,
        answers["schema_name"],
    )
    assert model["name"] == deployment.model_prefix + answers["__model_name"]
    grants = deployment.cli.json("grants", "get", "function", full_name)
    privileges = {g["principal"]: set(g["privileges"]) for g in grants["privilege_assignments"]}
    assert privileges[answers["model_read_group"]] == {"EXECUTE"}


def check_jobs_name_the_deployed_model_and_experiment(
    jobs: dict[str, dict], model_name: str, experiment_id: str, cli: Cli
) -> None:
    """Steps get the names the CLI deployed (in development mode: the prefixed copies)."""
    model = cli.json("registered-models", "get", model_name)["name"]
    experiment = cli.json("experiments", "get-experiment", experiment_id)["experiment"]["name"]
    arguments = [
        task["python_wheel_task"]["named_parameters"]
        for job in jobs.values()
        for task in job["settings"]["tasks"]
        if "python_wheel_task" in task
    ]
    assert {a["model-name"] for a in arguments if "model-name" in a} == {model}
    assert {a["experiment-name"] for a in arguments if "experiment-name" in a} == {experiment}


def check_wheel_tasks(deployment: Deployment, settings: dict) -> None:
    """Every wheel task names a distribution and an entry point the uploaded wheel holds."""
    wheels = [d for e in settings.get("environments", []) for d in e["spec"]["dependencies"]]
    for task in settings["tasks"]:
        wheels += [library["whl"] for library in task.get("libraries", []) if "whl" in library]
    assert len(set(wheels)) == 1 and wheels[0].startswith("/Workspace/"), wheels
    archive = deployment.cli.project / Path(wheels[0]).name
    if not archive.exists():  # jobs share the wheel: download it once
        deployment.cli.run(
            "workspace", "export", wheels[0], "--format", "AUTO", "--file", str(archive)
        )
    with zipfile.ZipFile(archive) as wheel:
        names = set(wheel.namelist())
        info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
        metadata = wheel.read(f"{info}/METADATA").decode()
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
        sources = {name: wheel.read(name).decode() for name in names if name.endswith(".py")}
    distribution = re.search(r"^Name: (.+)$", metadata, re.M).group(1)
    scripts = dict(re.findall(r"^(\S+) = (\S+)$", entry_points, re.M))
    for task in settings["tasks"]:
        wheel_task = task.get("python_wheel_task")
        if wheel_task is None:
            continue
        assert normalized(wheel_task["package_name"]) == normalized(distribution), task["task_key"]
        module, function = scripts[wheel_task["entry_point"]].split(":")
        source = sources[module.replace(".", "/") + ".py"]
        assert re.search(rf"^def {function}\(", source, re.M), scripts[wheel_task["entry_point"]]


def normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


# What the local runner runs, read through its own bundle loader, for one target. The runner
# identifies jobs by key, so ${resources.jobs.<key>.id} resolves to the key.
RUNNER_VIEW = """
import importlib, json, sys
from pathlib import Path

loader = importlib.import_module(sys.argv[1] + ".platform.bundle")
bundle = loader.load_bundle(Path(sys.argv[2]), sys.argv[3])


def resolved(value, where):
    if isinstance(value, dict):
        return {key: resolved(item, where) for key, item in value.items()}
    if isinstance(value, list):
        return [resolved(item, where) for item in value]
    return bundle.resolve(value, where) if isinstance(value, str) else value


print(json.dumps({key: resolved(job.as_dict(), key) for key, job in bundle.jobs.items()}))
"""


def check_local_runner_runs_the_deployed_jobs(
    deployment: Deployment, jobs: dict[str, dict], job_ids: dict[str, str]
) -> None:
    """The task graph, parameters and conditions the runner executes are the deployed ones."""
    project = deployment.cli.project
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "LOGNAME": deployment.user_name}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            RUNNER_VIEW,
            deployment.answers["package_name"],
            project,
            deployment.target,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    local = json.loads(result.stdout)
    key_of_id = {str(job_id): key for key, job_id in job_ids.items()}

    def without_development_prefix(text: str) -> str:
        # Development mode renames what it deploys; the runner keeps the declared names.
        if not deployment.development:
            return text
        return text.replace(deployment.job_prefix, "").replace(deployment.model_prefix, "")

    assert set(local) == set(jobs)
    for key, job in jobs.items():
        deployed = json.loads(without_development_prefix(json.dumps(job["settings"])))
        assert executed(local[key], str) == executed(deployed, lambda i: key_of_id[str(i)]), key


def executed(settings: dict, job_key: Callable[[Any], str]) -> dict:
    """The parts of a job's settings that decide what runs, with what, and when."""

    def task(definition: dict) -> dict:
        view = {
            "depends_on": sorted(
                (d["task_key"], d.get("outcome")) for d in definition.get("depends_on", [])
            ),
            "run_if": definition.get("run_if", "ALL_SUCCESS"),
        }
        for kind in ("condition_task", "python_wheel_task"):
            if kind in definition:
                view[kind] = definition[kind]
        if "run_job_task" in definition:
            run_job = definition["run_job_task"]
            view["run_job_task"] = {
                "job": job_key(run_job["job_id"]),
                "job_parameters": run_job.get("job_parameters", {}),
            }
        return view

    return {
        "parameters": {p["name"]: p["default"] for p in settings.get("parameters", [])},
        "tasks": {t["task_key"]: task(t) for t in settings["tasks"]},
    }
