"""Local tables: Unity Catalog names on Parquet, append, upsert, overwrite, and crash safety."""

import pytest
from pyspark.sql import functions as F

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.tables import LocalTableStore, check_table_name

NAME = "main.sales.orders"


@pytest.fixture
def store(spark, tmp_path):
    return LocalTableStore(spark, tmp_path)


def rows(store, name=NAME):
    return sorted(tuple(row) for row in store.read(name, fix="").collect())


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


def test_names_and_paths_map_under_the_local_folder(store, tmp_path):
    assert store.location(NAME) == tmp_path / "tables" / "main" / "sales" / "orders"
    assert (
        store.location("/databricks-datasets/x/y")
        == tmp_path / "paths" / "databricks-datasets" / "x" / "y"
    )


def test_a_missing_table_names_itself_its_location_and_the_fix(store, tmp_path):
    with pytest.raises(UserError) as error:
        store.read(NAME, fix="Run the step that writes it.")
    assert str(error.value) == (
        f"Table '{NAME}' does not exist (looked in {tmp_path}/tables/main/sales/orders). "
        "Run the step that writes it."
    )


def test_append_keeps_what_was_there(store, spark):
    store.append(NAME, spark.createDataFrame([(1, "a")], "id int, value string"))
    store.append(NAME, spark.createDataFrame([(2, "b")], "id int, value string"))
    assert rows(store) == [(1, "a"), (2, "b")]


def test_append_refuses_other_columns(store, spark):
    store.append(NAME, spark.createDataFrame([(1, "a")], "id int, value string"))
    with pytest.raises(UserError, match="do not match its columns \\(id int, value string\\)"):
        store.append(NAME, spark.createDataFrame([(2, 2.0)], "id int, value double"))
    assert rows(store) == [(1, "a")]


def test_upsert_replaces_rows_by_key_and_adds_new_keys(store, spark):
    schema = "zip int, day string, trips int"
    store.upsert(
        NAME, spark.createDataFrame([(1, "mon", 5), (2, "mon", 7)], schema), ["zip", "day"]
    )
    store.upsert(
        NAME, spark.createDataFrame([(2, "mon", 8), (2, "tue", 1)], schema), ["zip", "day"]
    )
    assert rows(store) == [(1, "mon", 5), (2, "mon", 8), (2, "tue", 1)]


def test_upsert_twice_with_the_same_rows_duplicates_nothing(store, spark):
    frame = spark.createDataFrame([(1, "mon", 5), (2, "mon", 7)], "zip int, day string, trips int")
    store.upsert(NAME, frame, ["zip", "day"])
    store.upsert(NAME, frame, ["zip", "day"])
    assert rows(store) == [(1, "mon", 5), (2, "mon", 7)]


def test_overwrite_replaces_everything(store, spark):
    store.append(NAME, spark.createDataFrame([(1, "a")], "id int, value string"))
    store.overwrite(NAME, spark.createDataFrame([(9, 9.5)], "id int, score double"))
    assert rows(store) == [(9, 9.5)]


def test_a_write_that_fails_midway_leaves_the_table_as_it_was(store, spark, tmp_path):
    store.append(NAME, spark.createDataFrame([(1, "a")], "id int, value string"))
    failing = spark.createDataFrame([(2, "b")], "id int, value string").withColumn(
        "value", F.when(F.col("id") > 0, F.raise_error(F.lit("disk full"))).otherwise("value")
    )
    with pytest.raises(Exception, match="disk full"):
        store.upsert(NAME, failing, ["id"])
    assert rows(store) == [(1, "a")]
    store.append(NAME, spark.createDataFrame([(3, "c")], "id int, value string"))
    assert rows(store) == [(1, "a"), (3, "c")]
    parts = [p.name for p in store.location(NAME).iterdir() if p.name.startswith("part-")]
    assert len(parts) == 2  # what the failed write left behind is cleaned up


def test_an_unreadable_manifest_is_reported_with_the_fix(store, spark):
    store.append(NAME, spark.createDataFrame([(1, "a")], "id int, value string"))
    (store.location(NAME) / "_manifest.json").write_text("{not json")
    with pytest.raises(UserError, match="cannot be read .*make clean"):
        store.read(NAME, fix="")
