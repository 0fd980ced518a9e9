"""The local inference table: every request and response of `make serve`, as Databricks logs them.

Databricks' AI Gateway appends each request of an endpoint to `<catalog>.<schema>.<prefix>_payload`
and records which model version each served entity serves in the system table
`system.serving.served_entities`. Locally both tables are Delta tables of the project's TableStore,
with the same names, columns and types, so that code reading them runs unchanged on both
platforms. Only the served entities' configuration structs, the account and the task are left
out locally: a local endpoint has no such things.

Rows are buffered and written in batches by a background thread: a request never waits for a Delta
commit. `close()` writes what is left; the server calls it when it stops.
"""

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from .errors import UserError, first_line
from .tables import TableStore, table_name

# The columns of an AI Gateway inference table, in Databricks' order and with its types.
PAYLOAD_SCHEMA = StructType(
    [
        StructField("databricks_request_id", StringType()),
        StructField("request_date", DateType()),
        StructField("client_request_id", StringType()),
        StructField("request_time", TimestampType()),
        StructField("status_code", IntegerType()),
        StructField("sampling_fraction", DoubleType()),
        StructField("execution_duration_ms", LongType()),
        StructField("request", StringType()),
        StructField("response", StringType()),
        StructField("logging_error_codes", ArrayType(StringType())),
        StructField("served_entity_id", StringType()),
        StructField("requester", StringType()),
    ]
)
PAYLOAD_SUFFIX = "_payload"

# The columns of `system.serving.served_entities` that describe a custom model's served entity.
SERVED_ENTITIES_TABLE = "system.serving.served_entities"
SERVED_ENTITIES_SCHEMA = StructType(
    [
        StructField("served_entity_id", StringType()),
        StructField("workspace_id", StringType()),
        StructField("created_by", StringType()),
        StructField("endpoint_name", StringType()),
        StructField("endpoint_id", StringType()),
        StructField("served_entity_name", StringType()),
        StructField("entity_type", StringType()),
        StructField("entity_name", StringType()),
        StructField("entity_version", StringType()),
        StructField("endpoint_config_version", IntegerType()),
        StructField("change_time", TimestampType()),
        StructField("endpoint_delete_time", TimestampType()),
    ]
)
CUSTOM_MODEL = "CUSTOM_MODEL"

# Databricks logs a payload larger than this as null, with an error code instead.
MAX_LOGGED_PAYLOAD_BYTES = 1024 * 1024
REQUEST_TOO_LARGE = "MAX_REQUEST_SIZE_EXCEEDED"
RESPONSE_TOO_LARGE = "MAX_RESPONSE_SIZE_EXCEEDED"
# A fixed namespace, so that the same endpoint and served entity get the same ids in every run.
_ID_NAMESPACE = uuid.UUID("5f0c3bd0-8f4e-4c1e-9a57-2b1f2f6e0c11")


def payload_table(catalog: str, schema: str, prefix: str) -> str:
    return table_name(catalog, schema, f"{prefix}{PAYLOAD_SUFFIX}")


def endpoint_id(endpoint_name: str) -> str:
    """A local endpoint's id: 32 hexadecimal digits like Databricks' ids, fixed by its name."""
    return uuid.uuid5(_ID_NAMESPACE, f"endpoint/{endpoint_name}").hex


def served_entity_id(
    endpoint_name: str, served_entity_name: str, entity_name: str, entity_version: str
) -> str:
    """A served entity's id, opaque as on Databricks and fixed by what it serves.

    Serving another version under the same name gives a new id, as a new endpoint configuration
    does on Databricks; the version behind an id is found in the served entities table.
    """
    key = json.dumps([endpoint_name, served_entity_name, entity_name, entity_version])
    return uuid.uuid5(_ID_NAMESPACE, f"served-entity/{key}").hex


@dataclass(frozen=True)
class Exchange:
    """One request to the endpoint and what it answered."""

    request_id: str
    client_request_id: str | None
    received_at: datetime  # UTC
    status_code: int
    duration_ms: int
    request: bytes
    response: bytes
    served_entity_id: str
    requester: str | None


def payload_row(exchange: Exchange) -> tuple:
    """The inference table row of one exchange, in the order of PAYLOAD_SCHEMA."""
    errors = []
    request = _logged_text(exchange.request, REQUEST_TOO_LARGE, errors)
    response = _logged_text(exchange.response, RESPONSE_TOO_LARGE, errors)
    return (
        exchange.request_id,
        exchange.received_at.date(),
        exchange.client_request_id,
        exchange.received_at,
        exchange.status_code,
        1.0,  # every request is logged: no sampling
        exchange.duration_ms,
        request,
        response,
        errors,
        exchange.served_entity_id,
        exchange.requester,
    )


def _logged_text(payload: bytes, too_large: str, errors: list[str]) -> str | None:
    if len(payload) > MAX_LOGGED_PAYLOAD_BYTES:
        errors.append(too_large)
        return None
    return payload.decode("utf-8", errors="replace")


class InferenceLog:
    """Buffers exchanges and appends them to the payload table in batches, off the request path.

    A batch is written when `batch_rows` rows wait or the oldest has waited `flush_seconds`, and
    on `close()`. A batch that fails to commit stays buffered and is tried again with the next.
    """

    def __init__(
        self,
        tables: TableStore,
        table: str,
        batch_rows: int = 500,
        flush_seconds: float = 5.0,
        report: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
    ) -> None:
        self.tables = tables
        self.table = table
        self.batch_rows = batch_rows
        self.flush_seconds = flush_seconds
        self.report = report
        self.written = 0
        self._rows: list[tuple] = []
        self._oldest: float | None = None
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closing = False
        # A daemon, so that a server that fails before close() still exits.
        self._writer = threading.Thread(
            target=self._write_batches, name="inference-log", daemon=True
        )
        self._writer.start()

    def add(self, exchange: Exchange) -> None:
        row = payload_row(exchange)
        with self._lock:
            first = self._oldest is None
            if first:
                self._oldest = time.monotonic()
            self._rows.append(row)
            if first or len(self._rows) >= self.batch_rows:
                self._wake.notify()  # the writer sets its timer by the first row

    def close(self) -> None:
        """Write every buffered row, then stop the writer; a UserError if rows could not be."""
        with self._lock:
            self._closing = True
            self._wake.notify()
        self._writer.join()
        with self._lock:
            left = len(self._rows)
        if left:
            raise UserError(
                f"{left} request(s) could not be written to the inference table '{self.table}' "
                "(see the errors above). Check that its folder under .local/warehouse is intact."
            )

    def _due(self) -> bool:
        if not self._rows:
            return False
        waited = time.monotonic() - (self._oldest or 0.0)
        return len(self._rows) >= self.batch_rows or waited >= self.flush_seconds

    def _write_batches(self) -> None:
        failures = 0
        while True:
            with self._lock:
                while not (self._closing or self._due()):
                    self._wake.wait(timeout=self._time_left())
                batch, self._rows, self._oldest = self._rows, [], None
                closing = self._closing
            if batch and not self._write(batch):
                failures += 1
                with self._lock:  # keep the rows, in order, before those that came since
                    self._rows = batch + self._rows
                    self._oldest = time.monotonic()
                if closing and failures >= 3:
                    return
                continue
            if closing:
                return

    def _time_left(self) -> float | None:
        if self._oldest is None:
            return None
        return max(0.01, self.flush_seconds - (time.monotonic() - self._oldest))

    def _write(self, rows: list[tuple]) -> bool:
        try:
            frame = self.tables.spark.createDataFrame(rows, PAYLOAD_SCHEMA)
            self.tables.append(self.table, frame)
        except Exception as error:  # a failed commit must not end the server: the rows stay
            reason = first_line(error)
            self.report(f"Could not write {len(rows)} request(s) to '{self.table}': {reason}")
            return False
        self.written += len(rows)
        return True


def served_entity_rows(
    endpoint_name: str,
    entities: list[tuple[str, str, str]],  # served entity name, entity name, entity version
    config_version: int,
    created_by: str | None,
    changed_at: datetime,
) -> list[tuple]:
    """Rows of the served entities table for one endpoint configuration."""
    return [
        (
            served_entity_id(endpoint_name, name, entity_name, version),
            None,  # no workspace locally
            created_by,
            endpoint_name,
            endpoint_id(endpoint_name),
            name,
            CUSTOM_MODEL,
            entity_name,
            version,
            config_version,
            changed_at,
            None,
        )
        for name, entity_name, version in entities
    ]


def record_served_entities(
    tables: TableStore,
    endpoint_name: str,
    entities: list[tuple[str, str, str]],
    created_by: str | None,
) -> None:
    """Add the endpoint's configuration to the served entities table, unless it is there already.

    Like Databricks' system table it keeps every configuration an endpoint ever had, numbered by
    `endpoint_config_version`, so requests logged earlier still find the version that served them.
    """
    ids = {served_entity_id(endpoint_name, *entity) for entity in entities}
    known: set[str] = set()
    latest = 0
    if tables.exists(SERVED_ENTITIES_TABLE):
        endpoint_rows = (
            tables.read(SERVED_ENTITIES_TABLE, fix="")
            .where(F.col("endpoint_name") == endpoint_name)
            .select("served_entity_id", "endpoint_config_version")
            .collect()
        )
        known = {row["served_entity_id"] for row in endpoint_rows}
        latest = max((row["endpoint_config_version"] for row in endpoint_rows), default=0)
    if ids <= known:
        return
    rows = served_entity_rows(endpoint_name, entities, latest + 1, created_by, datetime.now(UTC))
    frame = tables.spark.createDataFrame(rows, SERVED_ENTITIES_SCHEMA)
    tables.upsert(SERVED_ENTITIES_TABLE, frame, keys=["served_entity_id"])
