"""Shared fixtures: one local Spark session, a private local store, and one full lifecycle run.

Nothing here touches the project's own `.local/` folder: every test runs against a local store in
a temporary folder (MLOPS_LOCAL_DIR).
"""

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import settings
from {{ cookiecutter.package_name }}.pipeline import run_lifecycle, summary_of
from {{ cookiecutter.package_name }}.platform.environment import LOCAL_DIR_VARIABLE
from {{ cookiecutter.package_name }}.platform.job_runner import JobRun
from {{ cookiecutter.package_name }}.platform.runtime import get_runtime, local_spark
from {{ cookiecutter.package_name }}.platform.wheel_tasks import find_entry_point
from {{ cookiecutter.package_name }}.registry import ModelRef
from {{ cookiecutter.package_name }}.sample_data import write_sample

# Small enough to be quick, large enough for every week of trips to hold hundreds of them.
TEST_TRIPS = 4_000
PROJECT_DIR = Path(__file__).resolve().parents[1]
# The names of the bundle's local target, which the lifecycle runs with.
CATALOG, SCHEMA = settings.CATALOG, settings.SCHEMA
MODEL_REF = ModelRef(CATALOG, SCHEMA, settings.MODEL_NAME)
MODEL = MODEL_REF.full_name
STEP_ARGS = ["--catalog", CATALOG, "--schema", SCHEMA]


@contextmanager
def local_store_at(path: Path) -> Iterator[Path]:
    previous = os.environ.get(LOCAL_DIR_VARIABLE)
    os.environ[LOCAL_DIR_VARIABLE] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            del os.environ[LOCAL_DIR_VARIABLE]
        else:
            os.environ[LOCAL_DIR_VARIABLE] = previous


@pytest.fixture(scope="session", autouse=True)
def session_store(tmp_path_factory) -> Iterator[Path]:
    """A local store for the whole session, so no test writes to the project's .local/."""
    with local_store_at(tmp_path_factory.mktemp("session-store")) as path:
        yield path


@pytest.fixture(scope="session")
def spark():
    return local_spark()


@pytest.fixture
def fresh_store(tmp_path, monkeypatch) -> Path:
    """An empty local store for one test."""
    monkeypatch.setenv(LOCAL_DIR_VARIABLE, str(tmp_path))
    return tmp_path


@dataclass(frozen=True)
class Lifecycle:
    store: Path
    runs: list[list[JobRun]]  # the jobs of each pass
    summaries: list[str]


@pytest.fixture(scope="session")
def lifecycle(tmp_path_factory, spark) -> Lifecycle:
    """The bundle's lifecycle jobs, run twice in order on a small sample, in a store of its own."""
    with local_store_at(tmp_path_factory.mktemp("lifecycle")) as store:
        write_sample(get_runtime(), settings.INPUT_TABLE, trips=TEST_TRIPS)
        runs, summaries = [], []
        for _ in range(2):
            jobs, variables = run_lifecycle(PROJECT_DIR)
            runs.append(jobs)
            summaries.append(summary_of(variables))
    return Lifecycle(store, runs, summaries)


@pytest.fixture
def in_lifecycle(lifecycle, monkeypatch) -> Lifecycle:
    """Inspect (or add to) the store the lifecycle ran in."""
    monkeypatch.setenv(LOCAL_DIR_VARIABLE, str(lifecycle.store))
    return lifecycle


def copy_of_store(store: Path, to: Path) -> Path:
    """A copy of a local store, for runs that change or damage it."""
    shutil.copytree(store, to, ignore=shutil.ignore_patterns("spark.log"))
    return to


@pytest.fixture
def lifecycle_copy(lifecycle, tmp_path, monkeypatch) -> Path:
    """A copy of the lifecycle's store, for one test to change (the original stays as it is)."""
    store = copy_of_store(lifecycle.store, tmp_path / "store")
    monkeypatch.setenv(LOCAL_DIR_VARIABLE, str(store))
    return store


def console_script(step: str) -> list[str]:
    """The command of this project's console script `step`.

    Found through the project's own metadata and run with this Python: projects installed side by
    side in one environment (the template's tests do that) share the scripts' names on PATH.
    """
    entry_point = find_entry_point(settings.PROJECT_SLUG, step, where=step)
    module, function = entry_point.value.split(":")
    return [sys.executable, "-c", f"from {module} import {function}; {function}()"]
