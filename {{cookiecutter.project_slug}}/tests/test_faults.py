"""A store changed or damaged behind the project's back: each fault ends in one message that names
the table, column, file or model at fault and says how to fix it, with no stack trace on the
console and no write that refers to something lost.

Every test works on a copy of the lifecycle's store, so the faults stay out of other tests.
"""

import os
import subprocess

import pytest
from mlflow import MlflowClient

from {{ cookiecutter.package_name }} import (
    inference,
{%- if cookiecutter.include_monitoring == "yes" %}
    monitoring,
{%- endif %}
    settings,
    training,
)
from {{ cookiecutter.package_name }}.platform.environment import LOCAL_DIR_VARIABLE
from {{ cookiecutter.package_name }}.platform.runtime import SPARK_LOG, get_runtime, use_mlflow
from {{ cookiecutter.package_name }}.platform.tables import WAREHOUSE

import conftest


def table(short_name: str) -> str:
    return f"{conftest.CATALOG}.{conftest.SCHEMA}.{short_name}"


FEATURES = settings.FEATURE_TABLES[0]
FEATURE_TABLE = table(FEATURES.table)
PREDICTIONS = table(settings.PREDICTIONS_TABLE)


def the_one_error(output: str, error: str) -> str:
    """The single line a step printed on failure; nothing else may look like a crash."""
    assert "Traceback" not in output + error
    assert "\tat " not in output + error  # a Java stack frame
    assert error.startswith("error: ") and error.count("\n") == 1, error
    return error


def drop_column(name: str, column: str) -> None:
    tables = get_runtime().tables
    tables.overwrite(name, tables.read(name, fix="").drop(column))


def test_a_feature_table_missing_a_column_is_named(lifecycle_copy, capsys):
    column = list(FEATURES.columns)[-1]
    drop_column(FEATURE_TABLE, column)
    with pytest.raises(SystemExit):
        training.main(conftest.STEP_ARGS)
    error = the_one_error(*capsys.readouterr())
    assert f"Table '{FEATURE_TABLE}' has no column '{column}'" in error
    assert "drop it and run feature-engineering again" in error


def test_batch_inference_refuses_a_predictions_table_with_other_columns(lifecycle_copy, capsys):
    drop_column(PREDICTIONS, "scored_at")
    rows_before = get_runtime().tables.read(PREDICTIONS, fix="").count()
    with pytest.raises(SystemExit):
        inference.main(conftest.STEP_ARGS)
    error = the_one_error(*capsys.readouterr())
    assert f"Rows written to table '{PREDICTIONS}' do not match its columns" in error
    assert get_runtime().tables.read(PREDICTIONS, fix="").count() == rows_before
{%- if cookiecutter.include_monitoring == "yes" %}


def test_monitoring_names_a_column_missing_from_the_predictions(lifecycle_copy, capsys):
    drop_column(PREDICTIONS, "prediction")
    with pytest.raises(SystemExit):
        monitoring.main(conftest.STEP_ARGS)
    error = the_one_error(*capsys.readouterr())
    assert f"Table '{PREDICTIONS}' has no column 'prediction'" in error
    assert "drop it and run batch-inference again" in error
{%- endif %}


def test_a_registry_that_lost_its_models_is_refused_before_training(lifecycle_copy, capsys):
    # Truncated to nothing, the SQLite file reads as a new, empty store.
    (lifecycle_copy / "mlflow.db").write_bytes(b"")
    with pytest.raises(SystemExit):
        training.main(conftest.STEP_ARGS)
    error = the_one_error(*capsys.readouterr())
    assert f"Table '{PREDICTIONS}' holds predictions of '{conftest.MODEL}' version 2" in error
    assert "has no version of it" in error and "Restore the registry" in error
    use_mlflow()
    assert MlflowClient().search_model_versions(f"name='{conftest.MODEL}'") == []


def test_a_damaged_data_file_is_named_with_its_table_and_java_traces_stay_off_the_console(
    lifecycle_copy,
):
    folder = lifecycle_copy / WAREHOUSE / f"{conftest.CATALOG}__{conftest.SCHEMA}.db"
    for part in (folder / FEATURES.table).glob("part-*.parquet"):
        data = bytearray(part.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one bit pattern flipped: the file fails its checksum
        part.write_bytes(data)
    # A process of its own, as a job runs it: the console is its real stdout and stderr.
    result = subprocess.run(
        [*conftest.console_script("train-model"), *conftest.STEP_ARGS],
        env=os.environ | {LOCAL_DIR_VARIABLE: str(lifecycle_copy)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    error = the_one_error(result.stdout, result.stderr)
    assert f"A data file of table '{FEATURE_TABLE}' is damaged (Checksum error" in error
    assert "RESTORE TABLE" in error and "make clean" in error
    assert "ChecksumException" in (lifecycle_copy / SPARK_LOG).read_text()
