"""The whole lifecycle, end to end on the local stack, and the mistakes a user can make."""

from pathlib import Path

import pytest
from mlflow import MlflowClient
from pyspark.sql import functions as F

from {{ cookiecutter.package_name }} import (
    deployment,
    features,
    inference,
    settings,
    training,
    validation,
)
from {{ cookiecutter.package_name }}.pipeline import LIFECYCLE_JOBS
from {{ cookiecutter.package_name }}.platform.run_rules import JobStatus, Status
from {{ cookiecutter.package_name }}.platform.runtime import get_runtime, use_mlflow
from {{ cookiecutter.package_name }}.platform.tables import is_path
from {{ cookiecutter.package_name }}.platform.task_values import get_task_value
from {{ cookiecutter.package_name }}.registry import CHALLENGER, CHAMPION, VALIDATION_STATUS_TAG
from {{ cookiecutter.package_name }}.sample_data import generate_trips

import conftest


def registry() -> MlflowClient:
    use_mlflow()
    return MlflowClient()


def test_every_job_and_step_succeeds_in_both_runs(lifecycle):
    steps = {"features", "train", "validate", "deploy", "batch_inference"}
    for jobs in lifecycle.runs:
        assert [(job.job_key, job.status) for job in jobs] == [
            (job_key, JobStatus.SUCCESS) for job_key in LIFECYCLE_JOBS
        ]
        tasks = [task for job in jobs for task in job.tasks.values()]
        assert steps <= {task.key for task in tasks if task.status is Status.SUCCESS}


def test_each_run_registers_a_new_version_and_the_second_becomes_champion(in_lifecycle):
    client = registry()
    versions = sorted(
        int(v.version) for v in client.search_model_versions(f"name='{conftest.MODEL}'")
    )
    assert versions[:2] == [1, 2]
    assert client.get_registered_model(conftest.MODEL).aliases[CHAMPION] == 2


def test_the_second_version_is_validated_against_the_first(in_lifecycle):
    first, second = (registry().get_model_version(conftest.MODEL, v).tags for v in ("1", "2"))
    assert first[VALIDATION_STATUS_TAG] == "PASSED"
    assert "validation_champion_version" not in first
    assert second[VALIDATION_STATUS_TAG] == "PASSED"
    assert second["validation_champion_version"] == "1"
    assert float(second["validation_root_mean_squared_error"]) > 0


def test_the_summary_reports_version_validation_champion_and_rows(lifecycle):
    summary = lifecycle.summaries[1]
    assert "new model version  2" in summary
    assert "PASSED" in summary and "compared with champion version 1" in summary
    assert "champion           version 2" in summary
    assert f"rows scored        {conftest.TEST_TRIPS:,} by version 2" in summary


def test_the_second_summary_shows_the_bootstrap_verdict_and_the_report_files(lifecycle):
    lines = {
        label.strip(): value.strip()
        for label, value in (
            line.strip().split("  ", 1) for line in lifecycle.summaries[1].splitlines()[1:]
        )
    }
    assert lines["bootstrap"].startswith(
        f"{settings.PROMOTION_RULE}: root_mean_squared_error worse by ["
    )
    for report in ("validation report",{% if cookiecutter.include_monitoring == "yes" %} "monitoring report"{% endif %}):
        page = Path(lines[report])
        assert page.name == "report.html" and page.is_file(), lines[report]


def test_the_lifecycle_leaves_delta_tables_in_the_local_folder(lifecycle):
    tables = {
        "trip_pickup_features",
        "trip_dropoff_features",
        "fare_predictions",
{%- if cookiecutter.include_monitoring == "yes" %}
        "fare_predictions_baseline",
        "fare_predictions_profile_metrics",
        "fare_predictions_drift_metrics",
{%- endif %}
    }
    database = lifecycle.store / "warehouse" / f"{conftest.CATALOG}__{conftest.SCHEMA}.db"
    folders = {path for path in database.iterdir() if path.is_dir()}
    # Other tests add their own tables to this store: each must be a Delta table too.
    assert all((folder / "_delta_log").is_dir() for folder in folders)
    assert tables <= {folder.name for folder in folders}
    if is_path(settings.INPUT_TABLE):  # the generated sample, where local paths go
        sample = lifecycle.store / "paths" / settings.INPUT_TABLE.lstrip("/")
        assert (sample / "_delta_log").is_dir()


def test_feature_tables_have_no_duplicate_keys_after_two_runs(in_lifecycle):
    tables = get_runtime().tables
    for table, key in (
        ("trip_pickup_features", "pickup_zip"),
        ("trip_dropoff_features", "dropoff_zip"),
    ):
        rows = tables.read(f"{conftest.CATALOG}.{conftest.SCHEMA}.{table}", fix="")
        assert rows.count() == rows.select(key, "window_end").distinct().count() > 0


def test_batch_inference_keeps_every_earlier_batch(in_lifecycle):
    predictions = get_runtime().tables.read(
        f"{conftest.CATALOG}.{conftest.SCHEMA}.fare_predictions", fix=""
    )
    batches = predictions.groupBy("batch_id", "model_version").count().orderBy("batch_id").collect()
    assert [(row["model_version"], row["count"]) for row in batches] == [
        (1, conftest.TEST_TRIPS),
        (2, conftest.TEST_TRIPS),
    ]
    assert predictions.where(F.col("prediction").isNull()).count() == 0


def test_a_worse_model_fails_validation_and_is_never_promoted(in_lifecycle, capsys):
    champion_before = registry().get_registered_model(conftest.MODEL).aliases[CHAMPION]
    worse = training.train(
        get_runtime(),
        settings.INPUT_TABLE,
        conftest.MODEL_REF,
        "worse-models",
        params={"max_iter": 1, "learning_rate": 0.01, "random_state": 0},
    )
    validation.main(
        [*conftest.STEP_ARGS, f"--model-version={worse.version}", "--validation-mode=dry_run"]
    )
    assert "FAILED" in capsys.readouterr().out  # reported, but the task does not fail
    with pytest.raises(SystemExit) as exit:
        validation.main([*conftest.STEP_ARGS, f"--model-version={worse.version}"])
    assert exit.value.code == 1
    assert "failed validation" in capsys.readouterr().err

    deployment.main([*conftest.STEP_ARGS, f"--model-version={worse.version}"])
    assert "not promoted" in capsys.readouterr().out

    client = registry()
    tags = client.get_model_version(conftest.MODEL, worse.version).tags
    assert tags[VALIDATION_STATUS_TAG] == "FAILED"
    assert "worse than the champion" in tags["validation_failures"]
    aliases = client.get_registered_model(conftest.MODEL).aliases
    assert aliases[CHAMPION] == champion_before
    assert aliases[CHALLENGER] != int(worse.version)
    assert get_task_value("validate", "validation_status") == "FAILED"


def test_a_version_whose_validation_is_disabled_is_not_promoted(in_lifecycle, capsys):
    client = registry()
    champion_before = client.get_registered_model(conftest.MODEL).aliases[CHAMPION]
    first = client.get_model_version(conftest.MODEL, "1")
    version = client.create_model_version(conftest.MODEL, first.source, first.run_id).version
    validation.main(
        [*conftest.STEP_ARGS, f"--model-version={version}", "--validation-mode=disabled"]
    )
    assert "SKIPPED" in capsys.readouterr().out
    deployment.main([*conftest.STEP_ARGS, f"--model-version={version}"])
    assert "has not passed validation (status SKIPPED); not promoted" in capsys.readouterr().out
    assert client.get_registered_model(conftest.MODEL).aliases[CHAMPION] == champion_before


def test_deployment_twice_changes_nothing(in_lifecycle, capsys):
    deployment.main([*conftest.STEP_ARGS, "--model-version=2"])
    assert "already @champion" in capsys.readouterr().out
    assert registry().get_registered_model(conftest.MODEL).aliases[CHAMPION] == 2


def _write_trips_without(column: str, table: str) -> None:
    runtime = get_runtime()
    trips = generate_trips(200).drop(columns=[column])
    runtime.tables.overwrite(table, runtime.spark.createDataFrame(trips))


@pytest.mark.parametrize(
    ("step", "argv", "expected"),
    [
        pytest.param(
            features.main,
            ["--input-table=main.raw.no_such_trips"],
            ["'main.raw.no_such_trips' does not exist", "--input-table"],
            id="missing input table",
        ),
        pytest.param(
            features.main,
            ["--input-table=main.raw.not a table"],
            ["'main.raw.not a table' is not a table name"],
            id="malformed table name",
        ),
        pytest.param(
            training.main,
            [*conftest.STEP_ARGS, "--input-table=main.raw.trips"],
            [
                f"{conftest.SCHEMA}.trip_pickup_features' does not exist",
                "feature-engineering",
            ],
            id="feature tables not computed yet",
        ),
        pytest.param(
            inference.main,
            conftest.STEP_ARGS,
            [f"Model '{conftest.MODEL}' is not registered yet", "train-model"],
            id="no model registered",
        ),
        pytest.param(
            validation.main,
            conftest.STEP_ARGS,
            ["No --model-version given and no version handed over by the train task"],
            id="nothing to validate",
        ),
    ],
)
def test_a_mistake_ends_with_one_clear_message(fresh_store, spark, capsys, step, argv, expected):
    get_runtime().tables.overwrite("main.raw.trips", spark.createDataFrame(generate_trips(200)))
    with pytest.raises(SystemExit) as exit:
        step(argv)
    assert exit.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1
    for text in expected:
        assert text in error
    assert "Traceback" not in error


def test_a_missing_column_is_named(fresh_store, spark, capsys):
    _write_trips_without("fare_amount", "main.raw.trips_without_fares")
    with pytest.raises(SystemExit):
        features.main(["--input-table=main.raw.trips_without_fares"])
    error = capsys.readouterr().err
    assert "Table 'main.raw.trips_without_fares' has no column 'fare_amount'" in error


@pytest.mark.parametrize(
    ("step", "alias"),
    [
        pytest.param(inference.main, CHAMPION, id="batch inference needs a champion"),
        pytest.param(deployment.main, CHALLENGER, id="deployment needs a challenger"),
    ],
)
def test_an_absent_alias_is_named(fresh_store, capsys, step, alias):
    registry().create_registered_model(conftest.MODEL)
    with pytest.raises(SystemExit):
        step(conftest.STEP_ARGS)
    assert f"Model '{conftest.MODEL}' has no alias '@{alias}'" in capsys.readouterr().err


def test_a_corrupt_local_mlflow_store_is_reported(fresh_store, capsys):
    (fresh_store / "mlflow.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(SystemExit):
        deployment.main([*conftest.STEP_ARGS, "--model-version=1"])
    error = capsys.readouterr().err
    assert f"The local MLflow store {fresh_store / 'mlflow.db'} cannot be read" in error
    assert "make clean" in error
