"""Download Delta Lake's jars into Ivy's cache once, before the tests start Spark in parallel.

The generated projects' test suites start local Spark with Delta Lake in several processes at
once; two first downloads into one Ivy cache at the same moment break each other. This starts one
session the way delta-spark itself configures it, with the Ivy folder the generated projects use,
and reports in one line. Spark's own output goes to build/fetch-delta-jars.log.
"""

import os
import sys
from pathlib import Path

from delta import configure_spark_with_delta_pip
from pyspark.sql import SparkSession

LOG = Path(__file__).resolve().parents[1] / "build" / "fetch-delta-jars.log"
IVY_HOME = Path.home() / ".ivy2.5.2"  # as in the generated projects' runtime.py


def main() -> int:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    builder = (
        SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.jars.ivy", str(IVY_HOME))
    )
    builder = configure_spark_with_delta_pip(builder)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(2)
    try:
        with LOG.open("wb") as log:
            os.dup2(log.fileno(), 2)  # the JVM inherits it: Ivy's report goes to the log
            try:
                spark = builder.getOrCreate()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
    except Exception as error:  # a failed JVM start arrives as a bare exception
        print(
            f"error: Delta Lake's jars could not be downloaded from Maven Central ({error}); "
            f"Spark's report is in {LOG}.",
            file=sys.stderr,
        )
        return 1
    print(f"Delta Lake's jars are in {IVY_HOME} ({spark.conf.get('spark.jars.packages')}).")
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
