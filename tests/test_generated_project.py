"""The generated projects' own test suites and local pipelines pass, inside a monorepo.

The monorepo is what the README builds: a `setup_mode=cicd_only` bake, committed to git, with two
`setup_mode=project_only` projects added to it, one with the default answers (serverless,
monitoring, serving) and one with the leanest (classic compute, neither). A project_only bake is
the default bake without its CI/CD files (tests/test_setup_modes.py), so these two suites are
also the suites of the default and the leanest standalone projects.

Each project is installed into this environment (editable, without dependencies: they are the
template's test dependencies) and tested with its own pytest configuration, in a subprocess.
That suite runs every step on local Spark and MLflow, the lifecycle twice end to end, and checks
the mistakes a user can make. Then the project's `make pipeline` command runs in its folder.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import bake

MONOREPO_ANSWERS = {"setup_mode": "cicd_only", "project_name": "ML Monorepo"}
PROJECTS = {
    "default answers": {"project_name": "Fraud Detection"},
    "no monitoring, no serving, classic compute": {
        "project_name": "Demand Forecast",
        "include_monitoring": "no",
        "include_serving": "no",
        "compute": "classic",
    },
}


def run(command: list[str], cwd: Path, **options) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, **options)


def git(repository: Path, *args: str) -> str:
    identity = ["-c", "user.name=CI", "-c", "user.email=ci@example.com"]
    result = run(["git", *identity, *args], repository)
    assert result.returncode == 0, result.stderr
    return result.stdout


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--quiet", *args], check=True)


@pytest.fixture(scope="module")
def monorepo(tmp_path_factory) -> Path:
    root = bake(tmp_path_factory.mktemp("monorepo"), MONOREPO_ANSWERS)
    git(root, "init", "-qb", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "CI/CD")
    for answers in PROJECTS.values():
        project = bake(root, {"setup_mode": "project_only", **answers})
        git(root, "add", "-A")
        git(root, "commit", "-qm", f"Add {project.name}")
    return root


def project_in(monorepo: Path, answers: dict) -> Path:
    return monorepo / answers["project_name"].lower().replace(" ", "-")


def test_the_ci_selects_both_projects_of_the_monorepo(monorepo):
    result = run([sys.executable, "scripts/changed_projects.py"], monorepo)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"path": "demand-forecast", "name": "demand-forecast", "key": "DEMAND_FORECAST"},
        {"path": "fraud-detection", "name": "fraud-detection", "key": "FRAUD_DETECTION"},
    ]


@pytest.mark.parametrize("answers", PROJECTS.values(), ids=PROJECTS.keys())
def test_the_generated_test_suite_and_pipeline_pass_in_the_monorepo(monorepo, answers):
    project = project_in(monorepo, answers)
    package = project.name.replace("-", "_")
    pip("install", "--no-deps", "--no-build-isolation", "--editable", str(project))
    try:
        # The generated suite must not see this session's pytest settings.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        pytest_command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        tests = run(pytest_command, project, env=env)
        # What `make pipeline` runs, with this environment's Python instead of the project's venv.
        pipeline = run([sys.executable, "-m", f"{package}.pipeline"], project, env=env)
    finally:
        pip("uninstall", "--yes", project.name)
    tail = "\n".join((tests.stdout + tests.stderr).splitlines()[-60:])
    assert tests.returncode == 0, f"the tests of {project.name} failed:\n{tail}"
    assert " passed" in tests.stdout
    assert pipeline.returncode == 0, pipeline.stdout[-3000:] + pipeline.stderr[-3000:]
    assert "validation " in pipeline.stdout
    # What the runs leave behind (local stores, caches) is ignored by the project's .gitignore.
    assert git(monorepo, "status", "--porcelain") == ""
