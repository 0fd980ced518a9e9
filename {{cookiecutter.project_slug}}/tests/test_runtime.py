"""The runtime layer: local state folder, task values, Java and MLflow checks, the local sample."""

import json
import os
import subprocess
import sys
from functools import partial

import delta
import pyspark
import pytest
from delta import configure_spark_with_delta_pip
from pyspark.sql import SparkSession

from {{ cookiecutter.package_name }} import sample_data, settings
from {{ cookiecutter.package_name }}.platform import environment, runtime, task_values
from {{ cookiecutter.package_name }}.platform.errors import UserError


def test_the_local_folder_is_the_projects_dot_local_unless_overridden(monkeypatch, tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "src" / "deep").mkdir(parents=True)
    monkeypatch.delenv(environment.LOCAL_DIR_VARIABLE)
    monkeypatch.chdir(tmp_path / "src" / "deep")
    assert environment.local_dir() == tmp_path / ".local"
    monkeypatch.setenv(environment.LOCAL_DIR_VARIABLE, str(tmp_path / "elsewhere"))
    assert environment.local_dir() == tmp_path / "elsewhere"


def test_task_values_are_handed_over_through_a_json_file(fresh_store, monkeypatch):
    monkeypatch.delenv(task_values.TASK_KEY_VARIABLE, raising=False)
    task_values.set_task_value("model_version", "3", task_key="train")
    monkeypatch.setenv(task_values.TASK_KEY_VARIABLE, "validate_again")
    task_values.set_task_value("validation_status", "PASSED", task_key="validate")
    assert task_values.get_task_value("train", "model_version") == "3"
    assert task_values.get_task_value("validate_again", "validation_status") == "PASSED"
    assert task_values.get_task_value("validate", "validation_status") is None
    assert json.loads((fresh_store / "task_values.json").read_text()) == {
        "train": {"model_version": "3"},
        "validate_again": {"validation_status": "PASSED"},
    }


def test_a_corrupt_task_values_file_is_reported(fresh_store):
    (fresh_store / "task_values.json").write_text("{")
    with pytest.raises(UserError, match="task_values.json is not valid JSON"):
        task_values.get_task_value("train", "model_version")


@pytest.mark.parametrize(
    ("java_home", "path", "found"),
    [
        pytest.param(None, "", "no `java` on PATH", id="no JAVA_HOME and no java on PATH"),
        pytest.param(
            "/nowhere/jdk", "", "JAVA_HOME=/nowhere/jdk has no bin/java", id="bad JAVA_HOME"
        ),
    ],
)
def test_missing_java_is_reported_before_spark_starts(monkeypatch, java_home, path, found):
    if java_home is None:
        monkeypatch.delenv("JAVA_HOME", raising=False)
    else:
        monkeypatch.setenv("JAVA_HOME", java_home)
    monkeypatch.setenv("PATH", path)
    with pytest.raises(UserError) as error:
        runtime.check_java()
    assert found in str(error.value)
    assert "Install a JDK" in str(error.value)


def test_local_mode_is_chosen_without_the_databricks_runtime(monkeypatch):
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    assert not environment.on_databricks()
    assert runtime.get_runtime().is_local


def test_locally_the_default_input_is_generated_when_a_step_first_reads_it(
    fresh_store, monkeypatch
):
    monkeypatch.setattr(sample_data, "write_sample", partial(sample_data.write_sample, trips=200))
    tables = runtime.get_runtime().tables
    assert not tables.exists(settings.TAXI_SAMPLE)
    assert tables.read(settings.TAXI_SAMPLE, fix="").count() == 200
    assert (fresh_store / "paths" / settings.TAXI_SAMPLE.lstrip("/") / "_delta_log").is_dir()


def test_the_delta_jars_are_those_delta_spark_asks_for_this_spark(monkeypatch):
    settings = {}

    def record(builder, key, value):
        settings[key] = value
        return builder

    monkeypatch.setattr(SparkSession.Builder, "config", record)
    configure_spark_with_delta_pip(SparkSession.Builder())
    expected = settings["spark.jars.packages"]
    assert runtime.delta_package(delta.__version__, pyspark.__version__) == expected
    assert runtime.delta_package("4.4.0", "4.2.0") == "io.delta:delta-spark_4.2_2.13:4.4.0"


def test_the_local_session_runs_delta_lake(spark):
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert spark.conf.get("spark.sql.catalog.spark_catalog").endswith("DeltaCatalog")


IVY_REPORT = """\
:: problems summary ::
:::: ERRORS
\tServer access error at url https://repo1.maven.org/maven2/io/delta/delta-spark_4.2_2.13/4.4.0/\
delta-spark_4.2_2.13-4.4.0.pom (java.net.ConnectException: Connection refused)

:: USE VERBOSE OR DEBUG MESSAGE LEVEL FOR MORE DETAILS
Exception in thread "main" java.lang.RuntimeException: [unresolved dependency: \
io.delta#delta-spark_4.2_2.13;4.4.0: not found]
"""


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        pytest.param(IVY_REPORT, "java.net.ConnectException: Connection refused", id="offline"),
        pytest.param(
            IVY_REPORT.replace("\tServer access error", "\tother"),
            "unresolved dependency: io.delta#delta-spark_4.2_2.13;4.4.0: not found",
            id="not found",
        ),
        pytest.param("WARNING: Using incubator modules\n", None, id="no download problem"),
    ],
)
def test_a_failed_jar_download_is_read_from_sparks_output(output, reason):
    assert runtime.download_failure(output) == reason


def test_an_unreachable_maven_central_is_one_clear_message(tmp_path):
    """A first start with an empty jar cache and no way out: one line, no stack trace."""
    home = tmp_path / "home"
    home.mkdir()
    no_network = " ".join(
        f"-D{scheme}.proxyHost=127.0.0.1 -D{scheme}.proxyPort=9" for scheme in ("http", "https")
    )
    env = os.environ | {
        "HOME": str(home),
        environment.LOCAL_DIR_VARIABLE: str(tmp_path / "local"),
        "JAVA_TOOL_OPTIONS": f"{no_network} -Duser.home={home}",
    }
    started = subprocess.run(
        [sys.executable, "-m", runtime.__name__],
        env=env,
        capture_output=True,
        text=True,
    )
    package = runtime.delta_package(delta.__version__, pyspark.__version__)
    assert started.returncode == 1
    assert started.stdout == ""
    assert started.stderr.startswith(
        f"error: Local Spark needs Delta Lake's jars ({package}) and could not download them "
        "from Maven Central (java.net.ConnectException: Connection refused)."
    )
    assert started.stderr.count("\n") == 1
    assert f"into {home / '.ivy2.5.2'}" in started.stderr
    assert "make install" in started.stderr
    log = tmp_path / "local" / "spark.log"
    assert "UNRESOLVED DEPENDENCIES" in log.read_text()
