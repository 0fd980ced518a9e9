"""Local tables: Unity Catalog names on Delta tables in Spark's catalog, appends, upserts,
overwrites, what another process wrote, and writes that fail or conflict."""

import shutil
import threading
import time
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from {{ cookiecutter.package_name }}.platform.errors import UserError
from {{ cookiecutter.package_name }}.platform.runtime import get_runtime
from {{ cookiecutter.package_name }}.platform.tables import check_table_name, damaged_file, local_table_name

NAME = "main.sales.orders"
LOCAL_NAME = "main__sales.orders"


@pytest.fixture
def store(fresh_store, spark):
    return get_runtime().tables


def rows(store, name=NAME, version=None):
    return sorted(tuple(row) for row in store.read(name, fix="", version=version).collect())


def frame(spark, data, schema="id int, value string"):
    return spark.createDataFrame(data, schema)


@pytest.mark.parametrize(
    "name", ["main.sales.orders", "dev.my_project.trip_pickup_features", "_a.b2.C_3"]
)
def test_three_part_names_are_accepted(name):
    assert check_table_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["orders", "sales.orders", "a.b.c.d", "main.sales.order-lines", "main..orders", "1a.b.c"],
)
def test_other_names_are_refused_with_the_expected_shape(name):
    with pytest.raises(UserError, match="use catalog.schema.table"):
        check_table_name(name)


@pytest.mark.parametrize(
    ("name", "local"),
    [
        ("main.sales.orders", "main__sales.orders"),
        ("Dev.My_Project.Trips", "dev__my_project.trips"),
        ("dev_2.s.t", "dev_2__s.t"),
        ("dev._private.t", "dev___private.t"),
    ],
)
def test_each_catalog_and_schema_is_one_local_database(name, local):
    assert local_table_name(name) == local


@pytest.mark.parametrize("name", ["a__b.c.t", "dev_.s.t"])
def test_a_catalog_that_could_share_a_local_database_is_refused(name):
    with pytest.raises(UserError, match="may not contain '__' or end with '_'. Pass another"):
        local_table_name(name)


def test_tables_are_delta_tables_in_the_local_warehouse(store, spark, fresh_store):
    store.append(NAME, frame(spark, [(1, "a")]))
    location = fresh_store / "warehouse" / "main__sales.db" / "orders"
    assert (location / "_delta_log").is_dir()
    (table,) = spark.catalog.listTables("main__sales")
    assert (table.name, table.tableType) == ("orders", "EXTERNAL")
    detail = DeltaTable.forName(spark, LOCAL_NAME).detail().first()
    assert detail["location"].endswith(str(location))


def test_paths_are_delta_tables_under_the_local_folder(store, spark, fresh_store):
    store.overwrite("/databricks-datasets/x/y", frame(spark, [(1, "a")]))
    assert (fresh_store / "paths" / "databricks-datasets" / "x" / "y" / "_delta_log").is_dir()
    assert rows(store, "/databricks-datasets/x/y") == [(1, "a")]
    assert store.exists("dbfs:/databricks-datasets/x/y")


def test_a_missing_table_names_itself_its_location_and_the_fix(store, fresh_store):
    with pytest.raises(UserError) as error:
        store.read(NAME, fix="Run the step that writes it.")
    assert str(error.value) == (
        f"Table '{NAME}' does not exist (looked in {fresh_store}/warehouse/main__sales.db/orders)."
        " Run the step that writes it."
    )


def test_append_keeps_what_was_there_and_returns_the_version_it_committed(store, spark):
    first = store.append(NAME, frame(spark, [(1, "a")]))
    second = store.append(NAME, frame(spark, [(2, "b")]))
    assert second == first + 1
    assert rows(store) == [(1, "a"), (2, "b")]
    assert rows(store, version=first) == [(1, "a")]


def test_append_refuses_other_columns(store, spark):
    store.append(NAME, frame(spark, [(1, "a")]))
    with pytest.raises(UserError, match="do not match its columns \\(id int, value string\\)"):
        store.append(NAME, frame(spark, [(2, 2.0)], "id int, value double"))
    assert rows(store) == [(1, "a")]


def test_upsert_replaces_rows_by_key_and_adds_new_keys(store, spark):
    schema = "zip int, day string, trips int"
    store.upsert(NAME, frame(spark, [(1, "mon", 5), (2, "mon", 7)], schema), ["zip", "day"])
    store.upsert(NAME, frame(spark, [(2, "mon", 8), (2, "tue", 1)], schema), ["zip", "day"])
    assert rows(store) == [(1, "mon", 5), (2, "mon", 8), (2, "tue", 1)]


def test_upsert_twice_with_the_same_rows_duplicates_nothing(store, spark):
    same = frame(spark, [(1, "mon", 5), (2, "mon", 7)], "zip int, day string, trips int")
    store.upsert(NAME, same, ["zip", "day"])
    store.upsert(NAME, same, ["zip", "day"])
    assert rows(store) == [(1, "mon", 5), (2, "mon", 7)]


def test_overwrite_replaces_rows_and_columns(store, spark):
    store.append(NAME, frame(spark, [(1, "a")]))
    store.overwrite(NAME, frame(spark, [(9, 9.5)], "id int, score double"))
    assert rows(store) == [(9, 9.5)]


def test_a_write_that_fails_midway_leaves_the_table_as_it_was(store, spark):
    store.append(NAME, frame(spark, [(1, "a")]))
    failing = frame(spark, [(2, "b")]).withColumn(
        "value", F.when(F.col("id") > 0, F.raise_error(F.lit("disk full"))).otherwise("value")
    )
    with pytest.raises(Exception, match="disk full"):
        store.upsert(NAME, failing, ["id"])
    assert rows(store) == [(1, "a")]
    store.append(NAME, frame(spark, [(3, "c")]))
    assert rows(store) == [(1, "a"), (3, "c")]


def test_a_table_another_process_created_is_found(store, spark, fresh_store):
    assert not store.exists(NAME)
    # What another process leaves: a Delta table in the warehouse that this catalog never saw.
    location = fresh_store / "warehouse" / "main__sales.db" / "orders"
    frame(spark, [(7, "g")]).write.format("delta").save(str(location))
    assert store.exists(NAME)
    assert rows(store) == [(7, "g")]


def test_each_local_folder_shows_its_own_tables(spark, tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(first))
    get_runtime().tables.append(NAME, frame(spark, [(1, "a")]))
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(second))
    assert not get_runtime().tables.exists(NAME)
    get_runtime().tables.append(NAME, frame(spark, [(2, "b")]))
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(first))
    assert rows(get_runtime().tables) == [(1, "a")]
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(second))
    assert rows(get_runtime().tables) == [(2, "b")]


def test_an_unreadable_table_folder_is_reported_with_the_fix(store, spark, fresh_store):
    # Written elsewhere and copied: Spark never read this folder before it was spoilt.
    frame(spark, [(1, "a")]).write.format("delta").save(str(fresh_store / "elsewhere"))
    location = fresh_store / "warehouse" / "main__sales.db" / "orders"
    shutil.copytree(fresh_store / "elsewhere", location)
    for checksum in (location / "_delta_log").glob("*.crc"):
        checksum.unlink()
    for commit in (location / "_delta_log").glob("*.json"):
        commit.write_text("{not json")
    with pytest.raises(UserError, match="orders cannot be read as a Delta table") as error:
        store.exists(NAME)
    assert "00000000000000000000.json" in str(error.value)  # Spark's reason, not py4j's
    assert str(error.value).endswith("or start afresh with `make clean`.")


def test_a_conflicting_write_is_refused_whole_with_a_message_to_run_again(
    store, spark, fresh_store
):
    """An upsert reads the table, another write commits meanwhile, then the upsert commits."""
    if spark.sparkContext.defaultParallelism < 2:
        pytest.skip("the held upsert takes one task slot and the other write needs another")
    store.append(NAME, frame(spark, [(1, "a"), (2, "b")]))
    started, release = fresh_store / "upsert-started", fresh_store / "release-upsert"

    @F.udf("string")
    def wait_for_release(value):
        Path(started).touch()
        while not Path(release).exists():
            time.sleep(0.05)
        return value

    slow_rows = (
        frame(spark, [(1, "z"), (3, "c")])
        .coalesce(1)  # one task slot stays free for the other write
        .withColumn("value", wait_for_release("value"))
    )
    errors = []

    def upsert() -> None:
        try:
            store.upsert(NAME, slow_rows, ["id"])
        except UserError as error:
            errors.append(error)

    upserting = threading.Thread(target=upsert)
    upserting.start()
    try:
        while not started.exists() and upserting.is_alive():
            time.sleep(0.05)
        concurrent = store.append(NAME, frame(spark, [(4, "d")]))
    finally:
        release.touch()
        upserting.join()
    assert [str(error) for error in errors] == [
        f"Table '{NAME}' was changed by another run while this one was writing to it (Delta's "
        "ConcurrentAppendException), so nothing of this write was committed. Run this step again."
    ]
    assert rows(store) == [(1, "a"), (2, "b"), (4, "d")]
    assert rows(store, version=concurrent) == rows(store)


def spark_read_failure(path: str, cause: str) -> Exception:
    """The text Spark gives for a data file it could not read, shortened."""
    return Exception(
        "An error occurred while calling o350.getResult.\n"
        f"Caused by: org.apache.spark.SparkException: [FAILED_READ_FILE.NO_HINT] Encountered error "
        f"while reading file {path}.  SQLSTATE: KD001\n"
        "\tat org.apache.spark.sql.errors.QueryExecutionErrors$.cannotReadFilesError\n"
        f"Caused by: {cause}\n"
        "\tat org.apache.parquet.hadoop.ParquetFileReader.readFooter\n"
    )


@pytest.mark.parametrize(
    ("path", "table"),
    [
        pytest.param(
            "file:/p/.local/warehouse/main__sales.db/orders/part-0.snappy.parquet",
            "main.sales.orders",
            id="local table",
        ),
        pytest.param(
            "file:/p/.local/warehouse/main__sales.db/orders/day=2024-01-01/part-0.parquet",
            "main.sales.orders",
            id="partitioned local table",
        ),
        pytest.param(
            "file:/p/.local/paths/databricks-datasets/trips/part-0.parquet",
            "/p/.local/paths/databricks-datasets/trips",
            id="table at a path",
        ),
        pytest.param(
            "s3://bucket/tables/orders/part-0.parquet", "s3://bucket/tables/orders", id="cloud"
        ),
    ],
)
def test_a_damaged_data_file_is_reported_with_its_table(path, table):
    cause = f"java.lang.RuntimeException: {path} is not a Parquet file. Expected magic number"
    message = str(damaged_file(spark_read_failure(path, cause)))
    assert message.startswith(f"A data file of table '{table}' is damaged (the file is not a ")
    assert path in message and "\tat " not in message


def test_other_errors_are_not_taken_for_damaged_files():
    assert damaged_file(ValueError("[FAILED_READ_FILE] mentioned without a file")) is None
