"""`make serve`: the serving endpoint the deploy step configured, answered on this machine.

The deploy step writes the endpoint it creates on Databricks, as the body of Databricks'
`POST /api/2.0/serving-endpoints`, to `.local/serving/<endpoint name>.json`. This server loads each
served entity's model version from the local MLflow registry and answers on 127.0.0.1 where
Databricks would:

    POST /serving-endpoints/<name>/invocations                       split by the traffic routes
    POST /serving-endpoints/<name>/served-models/<entity>/invocations  one served entity
    POST /invocations                                                  as `mlflow models serve`
    GET  /ping, /health                                                ready: every model loaded
    GET  /api/2.0/serving-endpoints/<name>                             the endpoint and its state

Each served entity is answered by MLflow's own scoring server app (`mlflow.pyfunc.scoring_server`),
in this process, so requests are parsed and answered exactly as `mlflow models serve` and Databricks
Model Serving do. The answer carries the `served-model-name` header, as on Databricks. Every request
and answer, refused ones included, goes to the local inference table (see inference_log.py).

    python -m {{ cookiecutter.package_name }}.platform.local_serving [--endpoint NAME] [--port 8080]
"""

import argparse
import asyncio
import getpass
import json
import math
import random
import shlex
import signal
import socket
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .endpoints import SERVING_DIR
from .entry_points import step_entry_point
from .environment import local_dir
from .errors import UserError, first_line
from .inference_log import Exchange, InferenceLog, payload_table, served_entity_id

HOST = "127.0.0.1"
DEFAULT_PORT = 8080
TRAINING_FIX = "Run `make pipeline` (or the training job) first: its deploy step writes it."
# Fields of a Databricks query that the endpoint reads itself; the model never sees them.
ENDPOINT_FIELDS = ("client_request_id", "usage_context")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# The endpoint specification ---------------------------------------------------------------------


@dataclass(frozen=True)
class ServedEntity:
    name: str
    entity_name: str  # catalog.schema.model
    entity_version: str


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    entities: tuple[ServedEntity, ...]
    routes: tuple[tuple[str, int], ...]  # served entity name, percentage of the traffic
    inference_table: str | None  # the payload table; None when inference tables are off


def spec_folder() -> Path:
    return local_dir() / SERVING_DIR


def invocations_url(endpoint: str, port: int = DEFAULT_PORT) -> str:
    """Where the local endpoint answers, at the path Databricks serves it on."""
    return f"http://{HOST}:{port}/serving-endpoints/{endpoint}/invocations"


def find_spec(folder: Path, endpoint: str | None) -> Path:
    """The spec file of `endpoint`, or of the only endpoint when none is named."""
    if endpoint:
        path = folder / f"{endpoint}.json"
        if not path.is_file():
            raise UserError(
                f"Serving endpoint '{endpoint}' has no specification {path}. {TRAINING_FIX}"
            )
        return path
    found = sorted(folder.glob("*.json"))
    if not found:
        raise UserError(f"No serving endpoint specification in {folder}. {TRAINING_FIX}")
    if len(found) > 1:
        names = ", ".join(path.stem for path in found)
        raise UserError(f"{folder} holds several endpoints ({names}): name one with --endpoint.")
    return found[0]


def read_spec(path: Path) -> EndpointSpec:
    try:
        body = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(_corrupt(path, first_line(error))) from None
    return parse_spec(body, path)


def _corrupt(path: Path, reason: str) -> str:
    return (
        f"Serving endpoint specification {path} cannot be used ({reason}). Delete it and run the "
        "deploy step again (`make pipeline`)."
    )


def parse_spec(body: Any, path: Path) -> EndpointSpec:
    """The endpoint described by the body of Databricks' create-endpoint request."""
    try:
        config = body["config"]
        entities = tuple(
            ServedEntity(str(e["name"]), str(e["entity_name"]), str(e["entity_version"]))
            for e in config["served_entities"]
        )
        routes = tuple(
            (str(r["served_entity_name"]), int(r["traffic_percentage"]))
            for r in (config.get("traffic_config") or {}).get("routes", [])
        )
        tables = (body.get("ai_gateway") or {}).get("inference_table_config") or {}
        inference_table = None
        if tables.get("enabled"):
            inference_table = payload_table(
                tables["catalog_name"], tables["schema_name"], tables["table_name_prefix"]
            )
        name = str(body["name"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise UserError(_corrupt(path, f"{type(error).__name__}: {error}")) from None
    if not entities:
        raise UserError(_corrupt(path, "it serves no entity"))
    if not routes and len(entities) == 1:
        routes = ((entities[0].name, 100),)  # Databricks' default for one served entity
    names = {entity.name for entity in entities}
    unknown = [route for route, _ in routes if route not in names]
    if unknown:
        raise UserError(_corrupt(path, f"a route names served entity '{unknown[0]}', not served"))
    if sum(share for _, share in routes) != 100:
        raise UserError(_corrupt(path, "the traffic percentages do not add up to 100"))
    return EndpointSpec(name, entities, routes, inference_table)


# Traffic split -----------------------------------------------------------------------------------


def choose_entity(routes: tuple[tuple[str, int], ...], draw: float) -> str:
    """The served entity whose share of [0, 100) holds `draw` (a number in [0, 1))."""
    point = draw * 100
    start = 0
    for name, share in routes:
        start += share
        if point < start:
            return name
    return routes[-1][0]


class TrafficSplit:
    """Picks the served entity of each request by the traffic percentages; seeded, reproducible."""

    def __init__(self, routes: tuple[tuple[str, int], ...], seed: int | None) -> None:
        self.routes = routes
        self.random = random.Random(seed)

    def __call__(self) -> str:
        return choose_entity(self.routes, self.random.random())


# Requests ----------------------------------------------------------------------------------------


def split_endpoint_fields(body: bytes, content_type: str) -> tuple[bytes, str | None]:
    """The body the model gets, and the client's request id, as Databricks separates them."""
    if not content_type.startswith("application/json") or not any(
        field.encode() in body for field in ENDPOINT_FIELDS
    ):
        return body, None
    try:
        parsed = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return body, None  # the scoring server refuses it with its own message
    if not isinstance(parsed, dict):
        return body, None
    client_request_id = parsed.pop("client_request_id", None)
    parsed.pop("usage_context", None)
    forwarded = json.dumps(parsed).encode()
    return forwarded, None if client_request_id is None else str(client_request_id)


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def call_app(app: ASGIApp, scope: Scope, body: bytes) -> tuple[int, list, bytes]:
    """Call an ASGI app with one request; its status, headers and whole body."""
    sent = False
    response: dict[str, Any] = {"status": 500, "headers": [], "body": []}

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            response["status"] = message["status"]
            response["headers"] = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            response["body"].append(message.get("body", b""))

    await app(scope, receive, send)
    return response["status"], response["headers"], b"".join(response["body"])


async def respond(send: Send, status: int, body: bytes, headers: list | None = None) -> None:
    headers = [
        (name, value)
        for name, value in headers or [(b"content-type", b"application/json")]
        if name.lower() != b"content-length"
    ]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error_code": code, "message": message}).encode()


# The endpoint ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedEntity:
    entity: ServedEntity
    served_entity_id: str
    app: ASGIApp  # MLflow's scoring server app for the entity's model version
    example: str | None  # the model's serving input example, a JSON request body


class EndpointApp:
    """One endpoint: routes requests to its served entities and logs every exchange."""

    def __init__(
        self,
        spec: EndpointSpec,
        entities: dict[str, LoadedEntity],
        split: Callable[[], str],
        log: InferenceLog | None,
        requester: str | None,
    ) -> None:
        self.spec = spec
        self.entities = entities
        self.split = split
        self.log = log
        self.requester = requester
        self.close_error: UserError | None = None
        prefix = f"/serving-endpoints/{spec.name}"
        self.invocations = {f"{prefix}/invocations", "/invocations"}
        self.served_models = f"{prefix}/served-models/"
        self.api = f"/api/2.0/serving-endpoints/{spec.name}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Every request has been answered by now: write what is buffered.
                if self.log is not None:
                    try:
                        await asyncio.to_thread(self.log.close)
                    except UserError as error:
                        self.close_error = error
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"].rstrip("/") or "/", scope["method"]
        entity = self._entity_of(path)
        if entity is not None and method == "POST":
            await self._invoke(scope, receive, send, entity)
        elif path in ("/ping", "/health") and method == "GET":
            await respond(send, 200, b"\n")
        elif path == self.api and method == "GET":
            await respond(send, 200, json.dumps(self.describe()).encode())
        elif entity is not None or path in ("/ping", "/health", self.api):
            await respond(send, 405, error_body("BAD_REQUEST", f"{method} is not allowed here"))
        else:
            message = f"No route {path}: this server answers endpoint '{self.spec.name}'."
            await respond(send, 404, error_body("RESOURCE_DOES_NOT_EXIST", message))

    def _entity_of(self, path: str) -> str | None:
        """The served entity to answer an invocation path ('' for the traffic split), else None."""
        if path in self.invocations:
            return ""
        if path.startswith(self.served_models) and path.endswith("/invocations"):
            name = path.removeprefix(self.served_models).removesuffix("/invocations")
            return name if name in self.entities else None
        return None

    async def _invoke(self, scope: Scope, receive: Receive, send: Send, chosen: str) -> None:
        received_at = datetime.now(UTC)
        started = time.perf_counter()
        body = await read_body(receive)
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        forwarded, client_request_id = split_endpoint_fields(body, content_type)
        entity = self.entities[chosen or self.split()]
        inner = {
            **scope,
            "path": "/invocations",
            "raw_path": b"/invocations",
            "root_path": "",
            "headers": [
                (name, value) for name, value in scope["headers"] if name != b"content-length"
            ]
            + [(b"content-length", str(len(forwarded)).encode())],
        }
        try:
            status, answer_headers, answer = await call_app(entity.app, inner, forwarded)
        except Exception as error:  # a bug in the model's code: answer 500 and keep serving
            traceback.print_exc()
            status, answer_headers = 500, [(b"content-type", b"application/json")]
            answer = error_body("INTERNAL_ERROR", first_line(error))
        answer_headers.append((b"served-model-name", entity.entity.name.encode()))
        duration_ms = round((time.perf_counter() - started) * 1000)
        await respond(send, status, answer, answer_headers)
        if self.log is not None:
            self.log.add(
                Exchange(
                    request_id=str(uuid.uuid4()),
                    client_request_id=client_request_id,
                    received_at=received_at,
                    status_code=status,
                    duration_ms=duration_ms,
                    request=body,
                    response=answer,
                    served_entity_id=entity.served_entity_id,
                    requester=self.requester,
                )
            )

    def describe(self) -> dict:
        """The endpoint as Databricks' `GET /api/2.0/serving-endpoints/<name>` describes it."""
        entities = [
            {
                "name": loaded.entity.name,
                "entity_name": loaded.entity.entity_name,
                "entity_version": loaded.entity.entity_version,
                "state": {"deployment": "DEPLOYMENT_READY"},
            }
            for loaded in self.entities.values()
        ]
        routes = [
            {"served_entity_name": name, "traffic_percentage": share}
            for name, share in self.spec.routes
        ]
        return {
            "name": self.spec.name,
            "state": {"ready": "READY", "config_update": "NOT_UPDATING"},
            "config": {"served_entities": entities, "traffic_config": {"routes": routes}},
        }


# Loading -----------------------------------------------------------------------------------------


def load_entity(spec: EndpointSpec, entity: ServedEntity) -> LoadedEntity:
    """The entity's model version from the local registry, behind MLflow's scoring server app."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model
    from mlflow.pyfunc import scoring_server

    uri = f"models:/{entity.entity_name}/{entity.entity_version}"
    try:
        local = mlflow.artifacts.download_artifacts(uri)
    except MlflowException as error:
        raise UserError(
            f"Endpoint '{spec.name}' serves '{entity.entity_name}' version "
            f"{entity.entity_version} as '{entity.name}', and the local model registry "
            f"({mlflow.get_registry_uri()}) has no such version ({first_line(error)}). "
            f"{TRAINING_FIX}"
        ) from None
    model = mlflow.pyfunc.load_model(local)
    app = scoring_server.init(model)
    example = Model.load(local).get_serving_input(local)
    if example is not None:
        # Answer once before serving, as a Databricks endpoint is ready only once it answers:
        # the first prediction pays for imports and thread pools that later ones reuse.
        asyncio.run(call_app(app, request_scope(len(example.encode())), example.encode()))
    return LoadedEntity(
        entity=entity,
        served_entity_id=served_entity_id(
            spec.name, entity.name, entity.entity_name, entity.entity_version
        ),
        app=app,
        example=example,
    )


def request_scope(content_length: int) -> Scope:
    """The ASGI scope of a JSON request to `/invocations`."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/invocations",
        "raw_path": b"/invocations",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(content_length).encode()),
        ],
        "client": None,
        "server": None,
    }


def one_row_example(example: str | None) -> str | None:
    """A serving input example cut to its first row, short enough to print, in strict JSON."""
    if example is None:
        return None
    body = json.loads(example)
    split = body.get("dataframe_split") if isinstance(body, dict) else None
    if isinstance(split, dict) and isinstance(split.get("data"), list):
        split["data"] = split["data"][:1]
        split.pop("index", None)
    return json.dumps(_nan_to_null(body))


def _nan_to_null(value: Any) -> Any:
    """MLflow writes a missing value as NaN, which is no JSON: null means the same to it."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [_nan_to_null(item) for item in value]
    if isinstance(value, dict):
        return {key: _nan_to_null(item) for key, item in value.items()}
    return value


def example_request(spec: EndpointSpec) -> str | None:
    """A one-row request for the endpoint, from its first served entity's serving input example."""
    import mlflow
    from mlflow.models import Model

    first = spec.entities[0]
    local = mlflow.artifacts.download_artifacts(
        f"models:/{first.entity_name}/{first.entity_version}"
    )
    return one_row_example(Model.load(local).get_serving_input(local))


def requester() -> str | None:
    """Who calls, as the inference table's `requester`: the local user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def check_port_is_free(port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise UserError(
                f"Port {port} on {HOST} is taken ({error.strerror}). Stop what uses it or pass "
                f"another port: `make serve PORT={port + 1}`."
            ) from None


@dataclass
class LocalEndpoint:
    """A loaded endpoint, ready to serve."""

    spec: EndpointSpec
    app: EndpointApp
    log: InferenceLog | None

    @property
    def champion_example(self) -> str | None:
        return next(iter(self.app.entities.values())).example


def open_endpoint(
    endpoint: str | None,
    seed: int | None,
    inference_table: bool = True,
    batch_rows: int = 500,
    flush_seconds: float = 5.0,
) -> LocalEndpoint:
    """Read the spec, load its model versions and, with inference tables, start their log."""
    from .runtime import get_runtime, use_mlflow

    spec = read_spec(find_spec(spec_folder(), endpoint))
    use_mlflow()
    entities = {entity.name: load_entity(spec, entity) for entity in spec.entities}
    user = requester()
    log = None
    if inference_table and spec.inference_table:
        from .inference_log import record_served_entities

        tables = get_runtime().tables
        served = [(e.name, e.entity_name, e.entity_version) for e in spec.entities]
        record_served_entities(tables, spec.name, served, created_by=user)
        log = InferenceLog(tables, spec.inference_table, batch_rows, flush_seconds)
    app = EndpointApp(spec, entities, TrafficSplit(spec.routes, seed), log, user)
    return LocalEndpoint(spec, app, log)


@contextmanager
def stop_quietly_on_signals() -> Iterator[None]:
    """Let SIGINT and SIGTERM end the server through its graceful shutdown, and nothing more.

    uvicorn shuts down on them (its lifespan shutdown writes the buffered requests), then raises
    the signal again for the handler that was there before: this one, which lets the process end
    normally instead of with a KeyboardInterrupt or a kill.
    """
    stopped = {signal.SIGINT: signal.getsignal(signal.SIGINT)}
    stopped[signal.SIGTERM] = signal.getsignal(signal.SIGTERM)
    for sig in stopped:
        signal.signal(sig, lambda *_: None)
    try:
        yield
    finally:
        for sig, handler in stopped.items():
            signal.signal(sig, handler)


def banner(endpoint: LocalEndpoint, port: int) -> str:
    spec = endpoint.spec
    url = invocations_url(spec.name, port)
    shares = dict(spec.routes)
    served = ", ".join(
        f"{entity.name} = {entity.entity_name} version {entity.entity_version} "
        f"({shares.get(entity.name, 0)} %)"
        for entity in spec.entities
    )
    lines = [f"Serving endpoint '{spec.name}' at {url}", f"  serves     {served}"]
    if endpoint.log is not None:
        lines.append(f"  logs to    {spec.inference_table} (inference table, written in batches)")
    else:
        lines.append("  logs to    nothing (inference table off)")
    example = one_row_example(endpoint.champion_example)
    if example is not None:
        lines += [
            "Try it:",
            f"  curl -s {url} -H 'Content-Type: application/json' -d {shlex.quote(example)}",
        ]
    lines.append("Stop with Ctrl-C: requests still buffered are written first.")
    return "\n".join(lines)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", default=None, help="endpoint name (default: the only one)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1 (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed of the traffic split, for reproducible runs"
    )
    parser.add_argument(
        "--no-inference-table",
        action="store_true",
        help="do not log requests (to measure what logging costs: make serve-benchmark)",
    )
    parser.add_argument(
        "--log-batch-rows", type=int, default=500, help="write the log every N requests"
    )
    parser.add_argument(
        "--log-flush-seconds",
        type=float,
        default=5.0,
        help="and at the latest this long after a request",
    )


@step_entry_point("Serve the deployed endpoint on this machine.", add_options)
def main(args: argparse.Namespace) -> None:
    import uvicorn

    check_port_is_free(args.port)
    try:
        endpoint = open_endpoint(
            args.endpoint,
            args.seed,
            inference_table=not args.no_inference_table,
            batch_rows=args.log_batch_rows,
            flush_seconds=args.log_flush_seconds,
        )
    except KeyboardInterrupt:
        print("Stopped before serving.", file=sys.stderr)
        raise SystemExit(130) from None
    config = uvicorn.Config(
        endpoint.app, host=HOST, port=args.port, lifespan="on", log_level="warning"
    )
    print(banner(endpoint, args.port), flush=True)
    try:
        with stop_quietly_on_signals():
            uvicorn.Server(config).run()
    finally:
        if endpoint.log is not None and endpoint.app.close_error is None:
            endpoint.log.close()  # a no-op after the lifespan shutdown wrote everything
    if endpoint.app.close_error is not None:
        raise endpoint.app.close_error
    if endpoint.log is not None:
        written, table = endpoint.log.written, endpoint.spec.inference_table
        print(f"Stopped: {written} request(s) written to {table}.")
    else:
        print("Stopped.")


if __name__ == "__main__":
    main()
