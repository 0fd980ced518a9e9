"""Runs at once, each in a real process of its own: every run commits its whole write or says to
run again, no batch is lost or written twice, and what each run reports is what the table holds.

The runs start from a copy of the lifecycle's local store (a champion model, the feature tables
and a predictions table), each through its console script's function, as two jobs would.
"""

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import settings
from {{ cookiecutter.package_name }}.platform.environment import LOCAL_DIR_VARIABLE
from {{ cookiecutter.package_name }}.platform.runtime import get_runtime

import conftest

PREDICTIONS = f"{conftest.CATALOG}.{conftest.SCHEMA}.{settings.PREDICTIONS_TABLE}"
FEATURE_TABLES = {
    f"{conftest.CATALOG}.{conftest.SCHEMA}.{spec.table}": spec.key
    for spec in settings.FEATURE_TABLES
}
SCORED = re.compile(
    r"Scored ([\d,]+) trips with .+; appended batch (\S+) to \S+ \(table version (\d+)\)\.$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Run:
    step: str
    exit_code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"{self.step} exited {self.exit_code}:\n{self.stdout}{self.stderr}"


def run_at_once(store: Path, *steps: str) -> list[Run]:
    """Start every step's console script, then wait for all of them."""
    env = os.environ | {LOCAL_DIR_VARIABLE: str(store)}
    outputs = [(store.parent / f"{i}.out", store.parent / f"{i}.err") for i in range(len(steps))]
    processes = []
    for step, (out, err) in zip(steps, outputs, strict=True):
        with out.open("w") as stdout, err.open("w") as stderr:
            command = [*conftest.console_script(step), *conftest.STEP_ARGS]
            processes.append(subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr))
    return [
        Run(step, process.wait(), out.read_text(), err.read_text())
        for step, process, (out, err) in zip(steps, processes, outputs, strict=True)
    ]


def assert_committed_whole_or_told_to_run_again(run: Run) -> None:
    assert "Traceback" not in run.stdout + run.stderr, run
    if run.exit_code != 0:
        assert run.exit_code == 1, run
        assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run
        assert run.stderr.rstrip().endswith("Run this step again."), run


def batches(tables, version: int | None = None) -> dict[str, int]:
    predictions = tables.read(PREDICTIONS, fix="", version=version)
    counts = predictions.groupBy("batch_id").count().collect()
    return {row["batch_id"]: row["count"] for row in counts}


def scored_batch(run: Run) -> tuple[int, str, int]:
    """Rows, batch id and table version a successful batch-inference run reported."""
    (found,) = SCORED.findall(run.stdout)
    rows, batch_id, version = found
    return int(rows.replace(",", "")), batch_id, int(version)


def assert_each_batch_whole(tables, runs: list[Run], before: dict[str, int]) -> None:
    """Every batch the runs reported is in the table, whole and once, also in the table version
    each run reported; no other batch appeared and the earlier ones are untouched."""
    after = batches(tables)
    assert {batch: after[batch] for batch in before} == before
    reported = [scored_batch(run) for run in runs]
    new = {batch: rows for batch, rows in after.items() if batch not in before}
    assert new == {batch_id: conftest.TEST_TRIPS for _, batch_id, _ in reported}
    for rows, batch_id, version in reported:
        assert rows == conftest.TEST_TRIPS
        assert batches(tables, version)[batch_id] == conftest.TEST_TRIPS


@dataclass(frozen=True)
class AtOnce:
    store: Path
    before: dict[str, int]  # rows per batch id in the predictions table before the runs
    feature_rows: dict[str, int]  # rows per feature table before the runs
    runs: list[Run]


@pytest.fixture(scope="module")
def at_once(lifecycle, tmp_path_factory) -> AtOnce:
    """Two batch-inference runs and a feature refresh, started together on one copy of the
    lifecycle's store (the lifecycle's own tables stay as its tests expect them)."""
    store = conftest.copy_of_store(lifecycle.store, tmp_path_factory.mktemp("at-once") / "store")
    with conftest.local_store_at(store):
        tables = get_runtime().tables
        before = batches(tables)
        feature_rows = {name: tables.read(name, fix="").count() for name in FEATURE_TABLES}
    runs = run_at_once(store, "batch-inference", "batch-inference", "feature-engineering")
    return AtOnce(store, before, feature_rows, runs)


def test_runs_at_once_commit_whole_or_say_to_run_again(at_once):
    for run in at_once.runs:
        assert_committed_whole_or_told_to_run_again(run)
    # Appends do not conflict in Delta, and a merge of features conflicts with neither.
    assert [run.exit_code for run in at_once.runs] == [0, 0, 0], "\n".join(map(str, at_once.runs))


def test_two_batch_inference_runs_at_once_each_append_their_whole_batch(at_once):
    scored = [run for run in at_once.runs if run.step == "batch-inference" and not run.exit_code]
    with conftest.local_store_at(at_once.store):
        assert_each_batch_whole(get_runtime().tables, scored, at_once.before)
    assert len({scored_batch(run)[1] for run in scored}) == len(scored)


def test_a_feature_refresh_during_batch_inference_keeps_each_key_once(at_once):
    with conftest.local_store_at(at_once.store):
        tables = get_runtime().tables
        for name, key in FEATURE_TABLES.items():
            rows = tables.read(name, fix="")
            keys = rows.select(key, "window_end").distinct().count()
            # The same trips again: the same keys, each once.
            assert rows.count() == keys == at_once.feature_rows[name]
