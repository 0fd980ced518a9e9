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
from monorepo import PROJECTS, build_monorepo, git

MONOREPO_ANSWERS = {"project_name": "ML Monorepo"}


def run(command: list[str], cwd: Path, **options) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, **options)


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--quiet", *args], check=True)


@pytest.fixture(scope="module")
def monorepo(tmp_path_factory) -> Path:
    return build_monorepo(tmp_path_factory.mktemp("monorepo"), MONOREPO_ANSWERS)


def test_the_ci_selects_both_projects_of_the_monorepo(monorepo):
    result = run([sys.executable, "scripts/changed_projects.py"], monorepo)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"path": "demand-forecast", "name": "demand-forecast", "key": "DEMAND_FORECAST"},
        {"path": "fraud-detection", "name": "fraud-detection", "key": "FRAUD_DETECTION"},
    ]


@pytest.mark.parametrize("folder", PROJECTS)
def test_the_generated_test_suite_and_pipeline_pass_in_the_monorepo(monorepo, folder):
    project = monorepo / folder
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
