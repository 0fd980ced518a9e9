"""Real-time serving: an endpoint that serves @champion, and @challenger with a share of requests.

The endpoint is described by `endpoint_spec`, the JSON body of Databricks'
`POST /api/2.0/serving-endpoints`, and applied by the platform (platform/endpoints.py): on
Databricks through databricks-sdk, locally as `.local/serving/<endpoint>.json` for `make serve`.
The served entities are always named `champion` and `challenger`, whatever versions they serve,
so traffic routes and inference-table rows keep their meaning from one version to the next. AI
Gateway logs every request and response to the inference table `inference_table(...)`, in the
catalog and schema of the model.
"""

import re
from dataclasses import dataclass
from typing import Any

from mlflow import MlflowClient

from . import settings
from .platform.endpoints import (
    CREATED,
    SERVING_DIR,
    UNCHANGED,
    EndpointOutcome,
    Endpoints,
    LocalEndpoints,
    check_endpoint_name,
    get_endpoints,
)
from .platform.errors import UserError
from .platform.local_serving import invocations_url
from .platform.runtime import Runtime, use_mlflow
from .registry import (
    CHALLENGER,
    CHAMPION,
    TRAINING_FIX,
    ModelRef,
    alias_version,
    require_alias,
)

WORKLOAD_SIZES = ("Small", "Medium", "Large")
PAYLOAD_TABLE_SUFFIX = "_payload"  # AI Gateway names the inference table <prefix>_payload
_TRAFFIC_SPLIT = re.compile(r"challenger\s*=\s*(\d{1,3})\s*%?", re.IGNORECASE)
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


@dataclass(frozen=True)
class ServingOptions:
    endpoint_name: str
    workload_size: str  # one of WORKLOAD_SIZES
    scale_to_zero: bool
    challenger_percent: int  # share of requests @challenger answers, 0 to 100


@dataclass(frozen=True)
class Route:
    entity: str  # served entity name: CHAMPION or CHALLENGER
    version: str  # the model version behind the alias
    percent: int  # share of requests


def parse_traffic_split(text: str) -> int:
    """`challenger=10` -> 10, the percent of requests for @challenger; empty text -> 0."""
    if not text.strip():
        return 0
    match = _TRAFFIC_SPLIT.fullmatch(text.strip())
    if match is None or int(match.group(1)) > 100:
        raise UserError(
            f"Traffic split '{text}' is not understood: write challenger=<percent of requests>, "
            "a whole number from 0 to 100, for example challenger=10 (challenger=0 serves "
            "@champion alone). Set it with --traffic-split or the bundle variable traffic_split."
        )
    return int(match.group(1))


def parse_scale_to_zero(text: str) -> bool:
    if text.strip().lower() in _TRUE:
        return True
    if text.strip().lower() in _FALSE:
        return False
    raise UserError(
        f"Scale to zero '{text}' is not understood: write true or false (--scale-to-zero or the "
        "bundle variable endpoint_scale_to_zero)."
    )


def check_workload_size(text: str) -> str:
    """The workload size, spelt as the API wants it."""
    sizes = {size.lower(): size for size in WORKLOAD_SIZES}
    if text.strip().lower() not in sizes:
        raise UserError(
            f"Workload size '{text}' is not one of {', '.join(WORKLOAD_SIZES)}: fix "
            "--workload-size or the bundle variable endpoint_workload_size."
        )
    return sizes[text.strip().lower()]


def serving_options(
    endpoint_name: str, workload_size: str, scale_to_zero: str, traffic_split: str
) -> ServingOptions:
    """The serving options given as text (command line, bundle variables), checked."""
    return ServingOptions(
        endpoint_name=check_endpoint_name(endpoint_name.strip()),
        workload_size=check_workload_size(workload_size),
        scale_to_zero=parse_scale_to_zero(scale_to_zero),
        challenger_percent=parse_traffic_split(traffic_split),
    )


def routes(champion: str, challenger: str | None, challenger_percent: int) -> list[Route]:
    """Who answers which share of requests: @challenger only when it is another version."""
    if not challenger_percent or challenger in (None, champion):
        return [Route(CHAMPION, champion, 100)]
    return [
        Route(CHAMPION, champion, 100 - challenger_percent),
        Route(CHALLENGER, challenger, challenger_percent),
    ]


def inference_table_prefix(endpoint_name: str) -> str:
    """Table names hold letters, digits and underscores; endpoint names may also hold hyphens."""
    return endpoint_name.lower().replace("-", "_")


def inference_table(catalog: str, schema: str, endpoint_name: str) -> str:
    """The table AI Gateway logs the endpoint's requests and responses to."""
    return f"{catalog}.{schema}.{inference_table_prefix(endpoint_name)}{PAYLOAD_TABLE_SUFFIX}"


def endpoint_spec(
    model: ModelRef, champion: str, challenger: str | None, options: ServingOptions
) -> dict[str, Any]:
    """The JSON body of `POST /api/2.0/serving-endpoints` that serves these versions."""
    served = routes(champion, challenger, options.challenger_percent)
    return {
        "name": options.endpoint_name,
        "config": {
            "served_entities": [
                {
                    "name": route.entity,
                    "entity_name": model.full_name,
                    "entity_version": route.version,
                    "workload_size": options.workload_size,
                    "scale_to_zero_enabled": options.scale_to_zero,
                }
                for route in served
            ],
            "traffic_config": {
                "routes": [
                    {"served_entity_name": route.entity, "traffic_percentage": route.percent}
                    for route in served
                ]
            },
        },
        "ai_gateway": {
            "inference_table_config": {
                "catalog_name": model.catalog,
                "schema_name": model.schema,
                "table_name_prefix": inference_table_prefix(options.endpoint_name),
                "enabled": True,
            }
        },
    }


@dataclass(frozen=True)
class EndpointDeployment:
    outcome: EndpointOutcome
    routes: list[Route]
    inference_table: str
    unused_split: bool  # a share was asked for @challenger, but it is no other version


def deploy_endpoint(
    model: ModelRef, options: ServingOptions, endpoints: Endpoints | None = None
) -> EndpointDeployment:
    """Serve the model's @champion (and @challenger, if a share is asked) from the endpoint."""
    use_mlflow()
    client = MlflowClient()
    name = model.full_name
    champion = require_alias(client, name, CHAMPION, fix=TRAINING_FIX)
    challenger = alias_version(client, name, CHALLENGER) if options.challenger_percent else None
    spec = endpoint_spec(model, champion, challenger, options)
    outcome = (endpoints or get_endpoints()).apply(spec, settings.ENDPOINT_UPDATE_TIMEOUT)
    served = routes(champion, challenger, options.challenger_percent)
    return EndpointDeployment(
        outcome=outcome,
        routes=served,
        inference_table=inference_table(model.catalog, model.schema, options.endpoint_name),
        unused_split=bool(options.challenger_percent) and len(served) == 1,
    )


def describe(deployment: EndpointDeployment) -> str:
    """What the deployment did, where the endpoint is and where its requests are logged."""
    outcome = deployment.outcome
    serves = ", ".join(
        f"@{route.entity} version {route.version} ({route.percent}% of requests)"
        for route in deployment.routes
    )
    if deployment.unused_split:
        serves += f" (no @{CHALLENGER} other than @{CHAMPION} to send a share to)"
    what = outcome.action
    if outcome.changed and outcome.action not in (CREATED, UNCHANGED):
        what += f" ({' and '.join(outcome.changed)})"
    lines = [f"Serving endpoint '{outcome.name}' {what}: {serves}."]
    if outcome.ready is None:
        lines.append(f"Its specification is in {outcome.location}: run `make serve` to serve it.")
    else:
        lines.append(f"It answers at {outcome.location} (state {outcome.ready}).")
    lines.append(f"Requests and responses are logged to {deployment.inference_table}.")
    return "\n".join(lines)


def summary_lines(runtime: Runtime, model: ModelRef, endpoint_name: str) -> list[tuple[str, str]]:
    """The endpoint, how to call it and where its requests are logged, for the pipeline summary."""
    if not runtime.is_local:
        endpoint = f"{endpoint_name} (Serving page of the workspace)"
    elif LocalEndpoints(runtime.local_dir / SERVING_DIR).read(endpoint_name) is None:
        endpoint = f"{endpoint_name}: not deployed yet (no @{CHAMPION})"
    else:
        url = invocations_url(endpoint_name)
        endpoint = f"{endpoint_name}: run `make serve`, then POST to {url}"
    table = inference_table(model.catalog, model.schema, endpoint_name)
    logged = runtime.tables.read(table, fix="").count() if runtime.tables.exists(table) else 0
    return [("endpoint", endpoint), ("inference table", f"{table} ({logged:,} requests logged)")]
