"""The endpoint's requests as rows a monitor can watch: one per scored trip, with its features,
its prediction, the model version that answered, and the time of the request.

The AI Gateway inference table (and its local twin, written by `make serve`) keeps each request and
response as JSON text; Databricks' `system.serving.served_entities` (locally a table of the same
name) says which model version each served entity is. The fare is unknown when a trip is booked,
so the label column stays null: the monitor measures drift, not quality, on these rows.
"""

import json
import math
from collections.abc import Iterator

import pandas as pd
from pyspark.sql import functions as F

from .dataset import FEATURE_COLUMNS, LABEL
from .inference import PREDICTION
from .monitor_specs import MODEL_ID, REQUEST_TIME, requests_table
from .platform.runtime import Runtime
from .platform.tables import rewrite_fix
from .serving import inference_table

SERVED_ENTITIES = "system.serving.served_entities"
REQUEST_ID = "databricks_request_id"
PAYLOAD_COLUMNS = [
    REQUEST_ID,
    REQUEST_TIME,
    "status_code",
    "request",
    "response",
    "served_entity_id",
]
REQUESTS_SCHEMA = ", ".join(
    [
        f"{REQUEST_ID} string",
        f"{REQUEST_TIME} timestamp",
        *(f"{column} double" for column in FEATURE_COLUMNS),
        f"{PREDICTION} double",
        f"{LABEL} double",
        f"{MODEL_ID} bigint",
    ]
)


def _number(value: object) -> float | None:
    """A feature or prediction as a float; None for what is missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def request_records(request: dict) -> list[dict]:
    """The input rows of a scoring request, in either of MLflow's DataFrame formats."""
    if isinstance(request.get("dataframe_split"), dict):
        split = request["dataframe_split"]
        columns = split.get("columns") or []
        return [dict(zip(columns, row, strict=False)) for row in split.get("data") or []]
    records = request.get("dataframe_records")
    if isinstance(records, list):
        return [record for record in records if isinstance(record, dict)]
    return []


def unpack_payload(request: str | None, response: str | None) -> list[dict]:
    """One row per trip of a logged request: its features and the prediction it got.

    A payload that cannot be read (not JSON, another format, as many predictions as rows) gives
    no rows: a bad request must not stop the monitoring of the good ones.
    """
    try:
        records = request_records(json.loads(request or ""))
        predictions = json.loads(response or "").get("predictions")
    except (ValueError, AttributeError):
        return []
    if not isinstance(predictions, list) or len(predictions) != len(records):
        return []
    return [
        {
            **{column: _number(record.get(column)) for column in FEATURE_COLUMNS},
            PREDICTION: _number(prediction),
        }
        for record, prediction in zip(records, predictions, strict=True)
    ]


def _unpack_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    columns = [name.split(" ")[0] for name in REQUESTS_SCHEMA.split(", ")]
    for batch in batches:
        rows = [
            {
                REQUEST_ID: payload[REQUEST_ID],
                REQUEST_TIME: payload[REQUEST_TIME],
                **row,
                LABEL: None,
                MODEL_ID: None if pd.isna(payload[MODEL_ID]) else int(payload[MODEL_ID]),
            }
            for payload in batch.to_dict("records")
            for row in unpack_payload(payload["request"], payload["response"])
        ]
        yield pd.DataFrame(rows, columns=columns)


def unpack_requests(runtime: Runtime, catalog: str, schema: str, endpoint_name: str) -> str | None:
    """Append the requests logged since the last run to the unpacked table; returns its name, or
    None while the endpoint has logged nothing (no inference table yet)."""
    source = inference_table(catalog, schema, endpoint_name)
    if not runtime.tables.exists(source):
        return None
    payload = runtime.tables.read(
        source, fix="", columns=PAYLOAD_COLUMNS, column_fix=rewrite_fix("the endpoint")
    )
    target = requests_table(catalog, schema, endpoint_name)
    answered = payload.where(F.col("status_code") == 200)
    if runtime.tables.exists(target):
        seen = runtime.tables.read(target, fix="", columns=[REQUEST_ID]).select(REQUEST_ID)
        answered = answered.join(seen.distinct(), on=REQUEST_ID, how="left_anti")
    if runtime.tables.exists(SERVED_ENTITIES):
        entities = runtime.tables.read(
            SERVED_ENTITIES, fix="", columns=["served_entity_id", "entity_version"]
        ).select("served_entity_id", F.col("entity_version").cast("bigint").alias(MODEL_ID))
        answered = answered.join(
            entities.dropDuplicates(["served_entity_id"]), on="served_entity_id", how="left"
        )
    else:  # served entities are not known yet: rows without a version are not judged
        answered = answered.withColumn(MODEL_ID, F.lit(None).cast("bigint"))
    rows = answered.select(
        REQUEST_ID,
        F.col(REQUEST_TIME).cast("timestamp").alias(REQUEST_TIME),
        "request",
        "response",
        MODEL_ID,
    ).mapInPandas(_unpack_batches, schema=REQUESTS_SCHEMA)
    if not runtime.tables.exists(target) or not rows.isEmpty():
        runtime.tables.append(target, rows)
    return target
