"""Delta tables behind one interface, the same on Databricks and on this machine.

Names are Unity Catalog names (`catalog.schema.table`) everywhere. A `Catalog` says where a name
lives on the platform: on Databricks in Unity Catalog itself; locally in Spark's own catalog, which
keeps one database per catalog and schema (`<catalog>__<schema>`) with the tables' files under
`.local/warehouse/`. Reading also accepts a path such as `/databricks-datasets/...`; locally such a
path maps to `.local/paths/...`.

Every write is one Delta commit, so it lands whole or not at all. When another run commits to the
same table while a write is under way and the two conflict, Delta refuses the later commit; the
store reports that as a UserError that names the table and says to run again.
"""

import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Protocol

from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, DataFrameWriter, SparkSession
from pyspark.sql import functions as F

from .errors import UserError, first_line

_NAME_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Delta's commit conflicts; the Python classes are siblings, not subclasses of one another.
CONCURRENT_WRITE_ERRORS = (
    DeltaConcurrentModificationException,
    ConcurrentWriteException,
    MetadataChangedException,
    ProtocolChangedException,
    ConcurrentAppendException,
    ConcurrentDeleteReadException,
    ConcurrentDeleteDeleteException,
    ConcurrentTransactionException,
)
WAREHOUSE = "warehouse"  # under the local folder: one `<database>.db/<table>` folder per table
_ATTACHED = "mlops.local_dir"  # the local folder whose tables Spark's catalog holds


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


def local_table_name(name: str) -> str:
    """The name Spark's local catalog keeps a Unity Catalog table under.

    Spark's catalog has two levels, so `catalog.schema.table` becomes `catalog__schema.table`,
    lower-cased as Unity Catalog compares names.
    """
    catalog, schema, table = check_table_name(name).lower().split(".")
    # Otherwise two names could share a database: a_.b and a._b both give a___b.
    if "__" in catalog or catalog.endswith("_"):
        raise UserError(
            f"Catalog '{catalog}' of table '{name}' cannot be kept apart from others locally: "
            f"local Spark stores catalog and schema as one database, '<catalog>__<schema>', so a "
            "catalog name may not contain '__' or end with '_'. Pass another --catalog."
        )
    return f"{catalog}__{schema}.{table}"


def is_path(name: str) -> bool:
    return name.startswith("/") or name.startswith("dbfs:")


def require_columns(df: DataFrame, columns: Sequence[str], table: str, fix: str) -> None:
    """Fail with one message naming the first missing column of `table`."""
    missing = [column for column in columns if column not in df.columns]
    if missing:
        raise UserError(
            f"Table '{table}' has no column '{missing[0]}', which this step reads (it has: "
            f"{', '.join(df.columns)}). {fix}"
        )


def damaged_file(error: BaseException) -> UserError | None:
    """A UserError naming the table whose data file Spark could not read, if that is the error.

    Spark wraps the reason (a failed checksum, a truncated Parquet file, a missing file) in a
    Java stack trace of many lines; the one line that matters names the file.
    """
    text = "\n".join(_error_texts(error))
    failed = _FAILED_READ.search(text)
    if failed is None:
        return None
    path = failed.group(1)
    causes = _CAUSE.findall(text)
    reason = causes[-1].strip() if causes else "Spark could not read it"
    reason = reason.replace(path, "the file").replace(path.removeprefix("file:"), "the file")
    table = _table_of_file(path)
    return UserError(
        f"A data file of table '{table}' is damaged ({reason}): {path}. Restore the table "
        "from a backup or to an earlier version (RESTORE TABLE), or drop it and run the step "
        "that writes it again; locally, `make clean` starts afresh."
    )


_FAILED_READ = re.compile(
    r"\[FAILED_READ_FILE[.A-Z_]*\] Encountered error while reading file (\S+?)\.?\s"
)
_CAUSE = re.compile(r"^Caused by: [\w.$]+: (.+)$", re.MULTILINE)


def _error_texts(error: BaseException | None) -> Iterator[str]:
    """The messages of an error and its causes, Java's included."""
    while error is not None:
        yield str(error)
        java = getattr(error, "java_exception", None)
        if java is not None:
            with suppress(Exception):  # the JVM is gone; the Python message has to do
                yield str(java.toString())
        error = error.__cause__ or error.__context__


def _table_of_file(path: str) -> str:
    """The table a data file belongs to: its Unity Catalog name when it is a local table."""
    folders = path.removeprefix("file:").split("/")[:-1]  # strings: a URL is no local Path
    while folders and (folders[-1].count("=") == 1 or folders[-1].startswith("_")):
        folders.pop()  # partition folders such as `day=2024-01-01`, and `_delta_log`
    if len(folders) >= 3 and folders[-3] == WAREHOUSE and "__" in folders[-2]:
        catalog, schema = folders[-2].removesuffix(".db").split("__", 1)
        return f"{catalog}.{schema}.{folders[-1]}"
    return "/".join(folders)


def spark_reason(error: Exception) -> str:
    """The first line of what Spark said, also for a Java error PySpark passes on untranslated."""
    java = getattr(error, "java_exception", None)
    return first_line(Exception(java.getMessage())) if java is not None else first_line(error)


def rewrite_fix(step: str) -> str:
    """What to do when a table written by `step` lacks a column: it was changed since."""
    return f"The table was changed since {step} wrote it: drop it and run {step} again."


def missing_table(name: str, where: str, fix: str) -> UserError:
    return UserError(f"Table '{name}' does not exist{where}. {fix}")


class Catalog(Protocol):
    """Where Unity Catalog names and Databricks paths live on one platform."""

    def table(self, name: str) -> str:
        """Spark's name for the table `catalog.schema.table`."""

    def location(self, name: str) -> str | None:
        """Where a new table's files go; None when the catalog decides."""

    def path(self, path: str) -> str:
        """Where a path such as `/databricks-datasets/...` or `dbfs:/...` is on this platform."""


class UnityCatalog:
    """Databricks: names and paths as they are; Unity Catalog manages where tables live."""

    def table(self, name: str) -> str:
        return check_table_name(name)

    def location(self, name: str) -> str | None:
        return None

    def path(self, path: str) -> str:
        return path


class LocalCatalog:
    """Spark's in-memory catalog, holding the Delta tables of one local folder.

    That catalog ends with the process, while the tables stay on disk: `attach` registers every
    table folder when a process starts (or moves to another local folder, as the tests do), and
    `table` registers one that another process created since. Tables are registered as external
    tables, so taking them out of the catalog never deletes their files.
    """

    def __init__(self, spark: SparkSession, root: Path) -> None:
        self.spark = spark
        self.root = root
        self.warehouse = root / WAREHOUSE

    def table(self, name: str) -> str:
        identifier = local_table_name(name)
        database, table = identifier.split(".")
        if not self.spark.catalog.databaseExists(database):
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        if not self.spark.catalog.tableExists(identifier):
            self._register(database, table)
        return identifier

    def location(self, name: str) -> str:
        database, table = local_table_name(name).split(".")
        return str(self.warehouse / f"{database}.db" / table)

    def path(self, path: str) -> str:
        return str(self.root / "paths" / path.removeprefix("dbfs:").lstrip("/"))

    def attach(self) -> None:
        """Make Spark's catalog hold this folder's tables, and only them."""
        if self.spark.conf.get(_ATTACHED, None) == str(self.root):
            return
        for database in self.spark.catalog.listDatabases():
            for table in self.spark.catalog.listTables(database.name):
                if table.tableType == "EXTERNAL":
                    self.spark.sql(f"DROP TABLE `{database.name}`.`{table.name}`")
        for log in sorted(self.warehouse.glob("*.db/*/_delta_log")):
            database, table = log.parent.parent.name.removesuffix(".db"), log.parent.name
            if _NAME_PART.match(database) and _NAME_PART.match(table):
                self.spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
                self._register(database, table)
        self.spark.conf.set(_ATTACHED, str(self.root))

    def _register(self, database: str, table: str) -> None:
        """Register the Delta table in `<database>.db/<table>`, if a commit made one there."""
        location = self.warehouse / f"{database}.db" / table
        if not any((location / "_delta_log").glob("*.json")):
            return  # no table, or another process is creating it
        try:
            self.spark.catalog.createTable(
                f"{database}.{table}", path=str(location), source="delta"
            )
        except Exception as error:  # Spark raises several types for an unreadable log
            raise UserError(
                f"Local table folder {location} cannot be read as a Delta table "
                f"({spark_reason(error)}). Delete that folder and run the step that writes it "
                "again, or start afresh with `make clean`."
            ) from error


class TableStore:
    """Delta tables by Unity Catalog name or by path; the catalog places them on the platform."""

    def __init__(self, spark: SparkSession, catalog: Catalog) -> None:
        self.spark = spark
        self.catalog = catalog

    def exists(self, name: str) -> bool:
        if is_path(name):
            return DeltaTable.isDeltaTable(self.spark, self.catalog.path(name))
        return self.spark.catalog.tableExists(self.catalog.table(name))

    def read(
        self,
        name: str,
        fix: str,
        columns: Sequence[str] = (),
        version: int | None = None,
        column_fix: str | None = None,
    ) -> DataFrame:
        """The table's rows, at `version` if given.

        A UserError ending with `fix` if the table does not exist, and one naming the column and
        ending with `column_fix` (or `fix`) if it lacks one of the `columns` the caller reads.
        """
        if not self.exists(name):
            raise missing_table(name, self._where(name), fix)
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        if is_path(name):
            rows = reader.load(self.catalog.path(name))
        else:
            rows = reader.table(self.catalog.table(name))
        require_columns(rows, columns, name, fix=column_fix or fix)
        return rows

    def append(self, name: str, df: DataFrame) -> int:
        """Add the rows in one commit; returns the table version that commit made."""
        self._create_if_missing(name, df, same_columns=True)
        commit = uuid.uuid4().hex
        with self._committing(name):
            self._save(df.write.format("delta").mode("append").option("userMetadata", commit), name)
        found = self._delta_table(name).history().where(F.col("userMetadata") == commit).first()
        if found is None:  # the history was cut short since, which is not done here
            raise UserError(f"The commit of this run is missing from the history of '{name}'.")
        return int(found["version"])

    def upsert(self, name: str, df: DataFrame, keys: list[str]) -> None:
        """Insert rows with new keys, replace rows whose keys exist; creates the table if needed."""
        self._create_if_missing(name, df, same_columns=True)
        condition = " AND ".join(f"target.`{key}` = source.`{key}`" for key in keys)
        with self._committing(name):
            (
                self._delta_table(name)
                .alias("target")
                .merge(df.alias("source"), condition)
                .whenMatchedUpdateAll()
                .whenNotMatchedInsertAll()
                .execute()
            )

    def overwrite(self, name: str, df: DataFrame) -> None:
        """Replace the table's rows and columns with these."""
        self._create_if_missing(name, df, same_columns=False)
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        with self._committing(name):
            self._save(writer, name)

    def _create_if_missing(self, name: str, df: DataFrame, same_columns: bool) -> None:
        """Create an empty table with the columns of `df`, where the catalog places it."""
        if self.exists(name):
            if same_columns:
                _check_same_columns(name, self.read(name, fix=""), df)
            return
        builder = DeltaTable.createIfNotExists(self.spark).addColumns(df.schema)
        if is_path(name):
            builder = builder.location(self.catalog.path(name))
        else:
            builder = builder.tableName(self.catalog.table(name))
            location = self.catalog.location(name)
            if location is not None:
                builder = builder.location(location)
        with self._committing(name):
            builder.execute()

    def _save(self, writer: DataFrameWriter, name: str) -> None:
        if is_path(name):
            writer.save(self.catalog.path(name))
        else:
            writer.saveAsTable(self.catalog.table(name))

    def _delta_table(self, name: str) -> DeltaTable:
        if is_path(name):
            return DeltaTable.forPath(self.spark, self.catalog.path(name))
        return DeltaTable.forName(self.spark, self.catalog.table(name))

    def _where(self, name: str) -> str:
        place = self.catalog.path(name) if is_path(name) else self.catalog.location(name)
        return f" (looked in {place})" if place and place != name else ""

    @contextmanager
    def _committing(self, name: str) -> Iterator[None]:
        try:
            yield
        except CONCURRENT_WRITE_ERRORS as error:
            raise UserError(
                f"Table '{name}' was changed by another run while this one was writing to it "
                f"(Delta's {type(error).__name__}), so nothing of this write was committed. "
                "Run this step again."
            ) from error


def _columns(df: DataFrame) -> list[str]:
    return [f"{field.name} {field.dataType.simpleString()}" for field in df.schema.fields]


def _check_same_columns(name: str, table: DataFrame, df: DataFrame) -> None:
    if sorted(_columns(df)) != sorted(_columns(table)):
        raise UserError(
            f"Rows written to table '{name}' do not match its columns "
            f"({', '.join(_columns(table))}). Write the same columns, or drop the table first."
        )
