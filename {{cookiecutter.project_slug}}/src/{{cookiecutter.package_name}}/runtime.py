"""The platform a step runs on, chosen at run time, and what differs between platforms.

On Databricks (DATABRICKS_RUNTIME_VERSION is set): the job's Spark session, MLflow tracking on
the workspace, the Unity Catalog model registry, Delta tables and job task values.
Locally: a `local[*]` Spark session, MLflow tracking and registry in a SQLite file, Parquet tables
and task values in a JSON file, all under the project's `.local/` folder (or MLOPS_LOCAL_DIR).
Local mode needs no credentials and no network and never creates a workspace client.

Everything here is get-or-create, so steps called one after another in one process share one Spark
session and one MLflow set-up.
"""

import json
import logging
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pyspark.sql import SparkSession

from .errors import UserError, first_line
from .tables import DeltaTableStore, LocalTableStore, TableStore

LOCAL_DIR_VARIABLE = "MLOPS_LOCAL_DIR"
TASK_KEY_VARIABLE = "MLOPS_TASK_KEY"
_LOG_CONFIG = Path(__file__).with_name("log4j2.properties").as_uri()


def on_databricks() -> bool:
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def local_dir() -> Path:
    """MLOPS_LOCAL_DIR, or `.local/` in the project folder (the nearest holding pyproject.toml)."""
    if os.environ.get(LOCAL_DIR_VARIABLE):
        return Path(os.environ[LOCAL_DIR_VARIABLE]).resolve()
    cwd = Path.cwd().resolve()
    project = next((p for p in (cwd, *cwd.parents) if (p / "pyproject.toml").is_file()), cwd)
    return project / ".local"


@dataclass(frozen=True)
class Runtime:
    platform: str  # "databricks" or "local"
    spark: SparkSession
    tables: TableStore
    local_dir: Path | None  # None on Databricks

    @property
    def is_local(self) -> bool:
        return self.platform == "local"


def get_runtime() -> Runtime:
    """The runtime of this process: the same Spark session for every call."""
    if on_databricks():
        return _databricks_runtime()
    return _local_runtime(local_dir())


@cache
def _databricks_runtime() -> Runtime:
    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    return Runtime("databricks", spark, DeltaTableStore(spark), None)


@cache
def _local_runtime(root: Path) -> Runtime:
    root.mkdir(parents=True, exist_ok=True)
    spark = local_spark()
    return Runtime("local", spark, LocalTableStore(spark, root), root)


def check_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return
    if not java_home and shutil.which("java"):
        return
    found = f"JAVA_HOME={java_home} has no bin/java" if java_home else "no `java` on PATH"
    raise UserError(
        f"Local Spark needs Java 17 or newer, and {found}. Install a JDK (for example "
        "`sudo apt install openjdk-17-jre-headless` or `brew install openjdk@17`) and set "
        "JAVA_HOME to it, then run again."
    )


@cache
def local_spark() -> SparkSession:
    """A small `local[*]` session, quiet on the console; one per process."""
    check_java()
    # Workers must run this interpreter, or they cannot import pandas, pyarrow and mlflow.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # never look up the network
    builder = (
        SparkSession.builder.master("local[*]")
        .appName(f"{__package__}-local")
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={_LOG_CONFIG}")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")  # small data: few partitions are faster
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "2g")
    )
    try:
        spark = builder.getOrCreate()
    except Exception as error:  # the gateway reports a failed JVM start as a bare exception
        raise UserError(
            f"Local Spark did not start ({first_line(error)}). Check that Java 17 or newer works "
            "(`java -version`) and that JAVA_HOME points to it."
        ) from error
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# MLflow ------------------------------------------------------------------------------------------


def use_mlflow(experiment_name: str | None = None) -> None:
    """Point MLflow at this platform's tracking server and registry, and select the experiment."""
    import mlflow

    if on_databricks():
        mlflow.set_tracking_uri("databricks")
        mlflow.set_registry_uri("databricks-uc")
        if experiment_name:
            mlflow.set_experiment(experiment_name)
        return
    root = local_dir()
    _configure_local_mlflow(root)
    if experiment_name:
        experiment = mlflow.get_experiment_by_name(experiment_name)
        if experiment is None:
            artifacts = (root / "mlflow-artifacts").as_uri()
            mlflow.create_experiment(experiment_name, artifact_location=artifacts)
        mlflow.set_experiment(experiment_name)


def _configure_local_mlflow(root: Path) -> None:
    import mlflow

    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    for quiet in ("alembic", "mlflow.store.db.utils"):  # schema creation chatter on first use
        logging.getLogger(quiet).setLevel(logging.WARNING)
    root.mkdir(parents=True, exist_ok=True)
    database = root / "mlflow.db"
    uri = f"sqlite:///{database}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        mlflow.MlflowClient().search_experiments(max_results=1)
    except Exception as error:  # sqlite, SQLAlchemy and alembic each raise their own types
        raise UserError(
            f"The local MLflow store {database} cannot be read ({first_line(error)}). Move it "
            "away, or run `make clean` to start afresh (it deletes local runs, models and tables)."
        ) from error


@contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Show only errors from these loggers for a while: for warnings about deliberate choices."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# Task values -------------------------------------------------------------------------------------


def set_task_value(key: str, value: str, task_key: str) -> None:
    """Hand a value to later tasks; locally it is filed under MLOPS_TASK_KEY, or else `task_key`."""
    if on_databricks():
        from databricks.sdk.runtime import dbutils

        dbutils.jobs.taskValues.set(key=key, value=value)
        return
    values = _read_task_values()
    values.setdefault(os.environ.get(TASK_KEY_VARIABLE) or task_key, {})[key] = value
    path = _task_values_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    staged.write_text(json.dumps(values, indent=2, sort_keys=True))
    os.replace(staged, path)


def get_task_value(task_key: str, key: str) -> str | None:
    """The value task `task_key` handed over, or None."""
    if on_databricks():
        from databricks.sdk.runtime import dbutils

        # Neither default may be None; "" stands for "not handed over" (also outside a job run).
        value = dbutils.jobs.taskValues.get(taskKey=task_key, key=key, default="", debugValue="")
        return str(value) if value != "" else None
    return _read_task_values().get(task_key, {}).get(key)


def _task_values_path() -> Path:
    return local_dir() / "task_values.json"


def _read_task_values() -> dict:
    path = _task_values_path()
    if not path.exists():
        return {}
    try:
        values = json.loads(path.read_text())
    except ValueError as error:
        raise UserError(
            f"The local task values file {path} is not valid JSON ({error}). Delete it and run the "
            "pipeline's steps again from the training step."
        ) from error
    if not isinstance(values, dict):
        raise UserError(f"The local task values file {path} is not a JSON object. Delete it.")
    return values
