"""The generated project's own test suite passes, for the default answers and the leanest ones.

Each project is baked, installed into this environment (editable, without dependencies: they are
the template's test dependencies) and tested with its own pytest configuration, in a subprocess.
That suite runs every step on local Spark and MLflow, the lifecycle twice end to end, and checks
the mistakes a user can make.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import bake

ANSWER_SETS = {
    "default answers": {"project_name": "Generated Default"},
    "no monitoring, no serving, classic compute": {
        "project_name": "Generated Classic",
        "include_monitoring": "no",
        "include_serving": "no",
        "compute": "classic",
    },
}


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--quiet", *args], check=True)


@pytest.mark.parametrize("answers", ANSWER_SETS.values(), ids=ANSWER_SETS.keys())
def test_the_generated_test_suite_passes(tmp_path: Path, answers: dict) -> None:
    project = bake(tmp_path, answers)
    distribution = project.name
    pip("install", "--no-deps", "--no-build-isolation", "--editable", str(project))
    try:
        # The generated suite must not see this session's pytest settings.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )
    finally:
        pip("uninstall", "--yes", distribution)
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-60:])
    assert result.returncode == 0, f"the tests of {project.name} failed:\n{tail}"
    assert " passed" in result.stdout
