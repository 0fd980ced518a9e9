"""Table storage behind one interface: Delta tables on Databricks, Parquet under .local/ locally.

Names are Unity Catalog names (`catalog.schema.table`) everywhere. Reading also accepts a path such
as `/databricks-datasets/...`; locally such a path maps to `.local/paths/...`.
"""

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Protocol

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from .errors import UserError, first_line

_NAME_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def table_name(catalog: str, schema: str, table: str) -> str:
    """The full name of a table in `catalog.schema`, checked."""
    return check_table_name(f"{catalog}.{schema}.{table}")


def check_table_name(name: str) -> str:
    parts = name.split(".")
    if len(parts) != 3 or not all(_NAME_PART.match(part) for part in parts):
        raise UserError(
            f"'{name}' is not a table name: use catalog.schema.table, each part made of letters, "
            "digits and underscores."
        )
    return name


def is_path(name: str) -> bool:
    return name.startswith("/") or name.startswith("dbfs:")


def require_columns(df: DataFrame, columns: list[str], table: str, fix: str) -> None:
    """Fail with one message naming the first missing column of `table`."""
    missing = [column for column in columns if column not in df.columns]
    if missing:
        raise UserError(
            f"Table '{table}' has no column '{missing[0]}' (it has: {', '.join(df.columns)}). {fix}"
        )


def missing_table(name: str, where: str, fix: str) -> UserError:
    return UserError(f"Table '{name}' does not exist{where}. {fix}")


class TableStore(Protocol):
    def exists(self, name: str) -> bool: ...

    def read(self, name: str, fix: str) -> DataFrame:
        """The table's rows; if it does not exist, a UserError ending with `fix`."""

    def append(self, name: str, df: DataFrame) -> None: ...

    def upsert(self, name: str, df: DataFrame, keys: list[str]) -> None:
        """Insert rows with new keys, replace rows whose keys exist; creates the table if needed."""

    def overwrite(self, name: str, df: DataFrame) -> None: ...


class DeltaTableStore:
    """Unity Catalog Delta tables, used on Databricks."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def exists(self, name: str) -> bool:
        if is_path(name):
            try:
                return bool(self.spark.read.format("delta").load(name).columns)
            except AnalysisException:  # no Delta table at that path
                return False
        return self.spark.catalog.tableExists(check_table_name(name))

    def read(self, name: str, fix: str) -> DataFrame:
        if not self.exists(name):
            raise missing_table(name, "", fix)
        if is_path(name):
            return self.spark.read.format("delta").load(name)
        return self.spark.table(name)

    def append(self, name: str, df: DataFrame) -> None:
        df.write.format("delta").mode("append").saveAsTable(check_table_name(name))

    def overwrite(self, name: str, df: DataFrame) -> None:
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        writer.saveAsTable(check_table_name(name))

    def upsert(self, name: str, df: DataFrame, keys: list[str]) -> None:
        if not self.exists(name):
            self.overwrite(name, df)
            return
        from delta.tables import DeltaTable

        condition = " AND ".join(f"target.`{key}` = source.`{key}`" for key in keys)
        (
            DeltaTable.forName(self.spark, name)
            .alias("target")
            .merge(df.alias("source"), condition)
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )


class LocalTableStore:
    """Parquet tables under a local folder, safe against a crash in the middle of a write.

    A table is a folder of immutable parts plus `_manifest.json`, which lists the parts that make up
    the table. A write adds a complete part first and then replaces the manifest in one atomic
    rename, so a crash leaves the previous table intact. DataFrames read before an overwrite or an
    upsert must not be used after it: the parts they read are deleted.
    """

    MANIFEST = "_manifest.json"

    def __init__(self, spark: SparkSession, root: Path) -> None:
        self.spark = spark
        self.root = root

    def location(self, name: str) -> Path:
        if is_path(name):
            return self.root / "paths" / name.removeprefix("dbfs:").lstrip("/")
        catalog, schema, table = check_table_name(name).split(".")
        return self.root / "tables" / catalog / schema / table

    def exists(self, name: str) -> bool:
        return (self.location(name) / self.MANIFEST).is_file()

    def read(self, name: str, fix: str) -> DataFrame:
        location = self.location(name)
        if not self.exists(name):
            raise missing_table(name, f" (looked in {location})", fix)
        parts = self._manifest(name)["parts"]
        try:
            return self.spark.read.parquet(*(str(location / part) for part in parts))
        except Exception as error:  # Spark raises several types for unreadable files
            raise _corrupt(name, location, error) from error

    def append(self, name: str, df: DataFrame) -> None:
        parts = []
        if self.exists(name):
            manifest = self._manifest(name)
            _check_same_schema(name, manifest["schema"], df)
            parts = manifest["parts"]
        self._commit(name, parts + [self._write_part(name, df)], df)

    def overwrite(self, name: str, df: DataFrame) -> None:
        self._commit(name, [self._write_part(name, df)], df)

    def upsert(self, name: str, df: DataFrame, keys: list[str]) -> None:
        if not self.exists(name):
            self.overwrite(name, df)
            return
        existing = self.read(name, fix="")
        _check_same_schema(name, self._manifest(name)["schema"], df)
        kept = existing.join(df.select(*keys), on=keys, how="left_anti")
        self.overwrite(name, kept.unionByName(df))

    def _manifest(self, name: str) -> dict:
        path = self.location(name) / self.MANIFEST
        try:
            manifest = json.loads(path.read_text())
            return {"parts": list(manifest["parts"]), "schema": manifest["schema"]}
        except (ValueError, KeyError, TypeError) as error:
            raise _corrupt(name, path.parent, error) from error

    def _write_part(self, name: str, df: DataFrame) -> str:
        part = f"part-{uuid.uuid4().hex}"
        df.write.mode("error").parquet(str(self.location(name) / part))
        return part

    def _commit(self, name: str, parts: list[str], df: DataFrame) -> None:
        location = self.location(name)
        manifest = {"parts": parts, "schema": _schema_fields(df)}
        staged = location / f"{self.MANIFEST}.{uuid.uuid4().hex}.tmp"
        staged.write_text(json.dumps(manifest, indent=1))
        os.replace(staged, location / self.MANIFEST)
        # Parts no manifest lists: replaced by this write, or left by a write that crashed.
        for child in location.iterdir():
            if child.name.startswith("part-") and child.name not in parts:
                shutil.rmtree(child, ignore_errors=True)


def _schema_fields(df: DataFrame) -> list[list[str]]:
    return [[field.name, field.dataType.simpleString()] for field in df.schema.fields]


def _check_same_schema(name: str, expected: list[list[str]], df: DataFrame) -> None:
    actual = _schema_fields(df)
    if actual != expected:
        described = ", ".join(f"{column} {kind}" for column, kind in expected)
        raise UserError(
            f"Rows written to table '{name}' do not match its columns ({described}). "
            "Write the same columns, or drop the table first."
        )


def _corrupt(name: str, location: Path, error: Exception) -> UserError:
    return UserError(
        f"Local table '{name}' in {location} cannot be read ({first_line(error)}). Delete that "
        "folder and run the step that writes it again, or start afresh with `make clean`."
    )
