"""The platform a step runs on, chosen at run time, and what differs between platforms.

On Databricks (DATABRICKS_RUNTIME_VERSION is set): the job's Spark session, MLflow tracking on
the workspace, the Unity Catalog model registry, Delta tables in Unity Catalog and job task values.
Locally: a `local[*]` Spark session with Delta Lake, MLflow tracking and registry in a SQLite file,
Delta tables in Spark's own catalog and task values in a JSON file, all under the project's
`.local/` folder (or MLOPS_LOCAL_DIR). Local mode needs no credentials and never creates a workspace
client; its only download is Delta Lake's jars, once, from Maven Central (`make install` does it).

Everything here is get-or-create, so steps called one after another in one process share one Spark
session and one MLflow set-up.
"""

import logging
import os
import re
import shutil
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import delta
import pyspark
from pyspark.sql import DataFrame, SparkSession

from .. import settings
from .environment import local_dir, on_databricks
from .errors import UserError, exit_on_user_error, first_line
from .tables import WAREHOUSE, LocalCatalog, TableStore, UnityCatalog

_LOG_CONFIG = Path(__file__).with_name("log4j2.properties").as_uri()
SPARK_LOG = "spark.log"  # in the local folder: the JVM's own output, Ivy's download report included
IVY_HOME = ".ivy2.5.2"  # in the home folder: Spark 4's cache of downloaded jars
_DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


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
    root = local_dir()
    root.mkdir(parents=True, exist_ok=True)
    spark = local_spark()
    catalog = LocalCatalog(spark, root)
    catalog.attach()
    return Runtime("local", spark, LocalTableStore(spark, catalog), root)


class LocalTableStore(TableStore):
    """Local tables, where the NYC taxi sample of every Databricks workspace is a generated
    stand-in, written the first time a step reads it."""

    def read(
        self,
        name: str,
        fix: str,
        columns: Sequence[str] = (),
        version: int | None = None,
        column_fix: str | None = None,
    ) -> DataFrame:
        if name == settings.TAXI_SAMPLE and not self.exists(name):
            from ..sample_data import write_sample  # it builds on this module

            write_sample(get_runtime(), name)
        return super().read(name, fix, columns, version, column_fix)


@cache
def _databricks_runtime() -> Runtime:
    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    return Runtime("databricks", spark, TableStore(spark, UnityCatalog()), None)


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


def delta_package(delta_version: str, spark_version: str) -> str:
    """The Maven coordinate of Delta Lake's jars: Delta builds them for each Spark minor version."""
    spark_minor = ".".join(spark_version.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{delta_version}"


def download_failure(spark_output: str) -> str | None:
    """Why Ivy could not download a jar, read from Spark's start-up output; None if it did."""
    if "unresolved dependency" not in spark_output and "download failed" not in spark_output:
        return None
    unreachable = re.search(r"Server access error at url \S+ \((.+)\)", spark_output)
    if unreachable:
        return unreachable.group(1)
    failed = re.search(r"\[((?:unresolved dependency|download failed)[^\]]*)\]", spark_output)
    return failed.group(1) if failed else "see Spark's output"


@contextmanager
def _jvm_output_to(log: Path) -> Iterator[None]:
    """Send the console output of a JVM started inside to `log`, for the JVM's whole life.

    That output is Ivy's report of the jars it resolved, Java's warnings and Spark's errors with
    their Java stack traces: the steps report their own errors in one line each.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with log.open("ab") as output:
            os.dup2(output.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@cache
def local_spark() -> SparkSession:
    """A small `local[*]` session with Delta Lake, quiet on the console; one per process.

    Delta's jars come from Maven Central through Ivy on the first start and from Ivy's cache in
    the home folder afterwards. Tables go to `<local folder>/warehouse`.
    """
    check_java()
    root = local_dir()
    root.mkdir(parents=True, exist_ok=True)
    # Workers must run this interpreter, or they cannot import pandas, pyarrow and mlflow.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # never look up the network
    package = delta_package(delta.__version__, pyspark.__version__)
    builder = (
        SparkSession.builder.master("local[*]")
        .appName(f"{__name__.split('.')[0]}-local")  # the project's package
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={_LOG_CONFIG}")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")  # small data: few partitions are faster
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "2g")
        .config("spark.jars.packages", package)
        # Spark's default, named so that `make install` and every run share one download.
        .config("spark.jars.ivy", str(Path.home() / IVY_HOME))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", _DELTA_CATALOG)
        .config("spark.sql.warehouse.dir", str(root / WAREHOUSE))
        .config("spark.databricks.delta.snapshotPartitions", "2")  # small tables: one per core
    )
    log = root / SPARK_LOG
    already_logged = log.stat().st_size if log.exists() else 0
    try:
        with _jvm_output_to(log):
            spark = builder.getOrCreate()
    except Exception as error:  # the gateway reports a failed JVM start as a bare exception
        with log.open(errors="replace") as output:
            output.seek(already_logged)
            reason = download_failure(output.read())
        if reason:
            raise UserError(
                f"Local Spark needs Delta Lake's jars ({package}) and could not download them "
                f"from Maven Central ({reason}). Check that this machine reaches Maven Central "
                "(repo1.maven.org) and run `make install` again: the jars are downloaded once, "
                f"into {Path.home() / IVY_HOME}. Spark's own report is in {log}."
            ) from error
        raise UserError(
            f"Local Spark did not start ({first_line(error)}). Check that Java 17 or newer works "
            f"(`java -version`) and that JAVA_HOME points to it; Spark's own output is in {log}."
        ) from error
    spark.sparkContext.setLogLevel("ERROR")
    # PySpark warns before it re-raises a failed Arrow transfer; the step reports the error itself.
    warnings.filterwarnings("ignore", "toPandas attempted Arrow optimization", UserWarning)
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


def main() -> None:
    """Start local Spark once, so that Delta Lake's jars are downloaded (`make install` runs it)."""
    with exit_on_user_error():
        spark = local_spark()
        package = delta_package(delta.__version__, pyspark.__version__)
        print(f"Local Spark {spark.version} with Delta Lake ({package}) is ready.")


if __name__ == "__main__":
    main()
