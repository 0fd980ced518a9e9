"""Serving endpoints: make an endpoint match its specification, on Databricks or on this machine.

A specification is the JSON body of Databricks' `POST /api/2.0/serving-endpoints`: `name`,
`config` (served entities and traffic routes) and `ai_gateway` (its inference table).

On Databricks (`get_endpoints()` chooses by the platform) the specification is applied with
databricks-sdk: the endpoint is created when absent; otherwise its config is replaced when it
differs from what the workspace reports, its AI Gateway when that differs, and nothing is sent when
both match. Each change is waited for, up to a timeout, until the endpoint is no longer updating.
Locally nothing is started and no workspace client is made: the specification is written to
`<local folder>/serving/<name>.json`, which `make serve` serves.
"""

import json
import os
import re
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .environment import local_dir, on_databricks
from .errors import UserError, first_line

if TYPE_CHECKING:  # imported only on Databricks, when a client is made
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.serving import ServingEndpointDetailed

SERVING_DIR = "serving"  # in the local folder: one specification per endpoint
CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
PARTS = ("config", "ai_gateway")  # what a specification sets besides the name
_ENDPOINT_NAME = re.compile(r"[A-Za-z0-9_-]+")
_UPDATING = "IN_PROGRESS"  # the state.config_update of an endpoint taking a new config
_MAX_POLL_SECONDS = 10.0


@dataclass(frozen=True)
class EndpointOutcome:
    name: str
    action: str  # CREATED, UPDATED or UNCHANGED
    changed: tuple[str, ...]  # the PARTS that were sent
    location: str  # the endpoint's invocation URL, or the local specification file
    ready: str | None  # the endpoint's state.ready (READY, NOT_READY); None locally


class Endpoints(ABC):
    @abstractmethod
    def apply(self, spec: dict[str, Any], timeout: timedelta) -> EndpointOutcome:
        """Make the endpoint `spec["name"]` match `spec`, waiting at most `timeout` per change."""


def get_endpoints() -> Endpoints:
    """The endpoints of this platform."""
    if on_databricks():
        return DatabricksEndpoints.from_environment()
    return LocalEndpoints(local_dir() / SERVING_DIR)


def check_endpoint_name(name: str) -> str:
    if not _ENDPOINT_NAME.fullmatch(name):
        raise UserError(
            f"'{name}' is not a serving endpoint name: use letters, digits, hyphens and "
            "underscores only (bundle variable endpoint_name, or --endpoint-name)."
        )
    return name


# Comparing what the workspace reports with a specification ---------------------------------------


def matches(reported: Any, wanted: Any) -> bool:
    """Whether `reported` (as the API returns it) holds every value of `wanted`.

    The API adds fields of its own (state, creator, workload type...), may list served entities
    and routes in another order, and leaves out false and zero values: none of that is a
    difference. A missing or extra list item is.
    """
    if reported is None:
        return wanted in (False, 0, "", [], {}) or wanted is None
    if isinstance(wanted, dict):
        return isinstance(reported, dict) and all(
            matches(reported.get(key), value) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(reported, list)
            and len(reported) == len(wanted)
            and all(
                matches(item, wanted_item)
                for item, wanted_item in zip(_by_name(reported), _by_name(wanted), strict=True)
            )
        )
    return reported == wanted


def _by_name(items: list[Any]) -> list[Any]:
    def name(item: Any) -> str:
        if isinstance(item, dict):
            return str(item.get("name") or item.get("served_entity_name") or "")
        return str(item)

    return sorted(items, key=name)


def differing_parts(reported: dict[str, Any] | None, spec: dict[str, Any]) -> tuple[str, ...]:
    """The PARTS of `spec` that the endpoint `reported` (None: absent) does not match."""
    if reported is None:
        return PARTS
    return tuple(part for part in PARTS if not matches(reported.get(part), spec[part]))


# Databricks --------------------------------------------------------------------------------------


class DatabricksEndpoints(Endpoints):
    """Endpoints of a workspace, through databricks-sdk."""

    def __init__(self, client: "WorkspaceClient") -> None:
        self.client = client

    @classmethod
    def from_environment(cls) -> "DatabricksEndpoints":
        """A client with the credentials of the job run (or DATABRICKS_HOST and a token)."""
        from databricks.sdk import WorkspaceClient

        try:
            return cls(WorkspaceClient())
        except ValueError as error:  # the SDK's way of saying it found no credentials
            raise UserError(
                f"No Databricks credentials to manage serving endpoints ({first_line(error)}). "
                "Run the step as a job task, or set DATABRICKS_HOST and DATABRICKS_TOKEN."
            ) from None

    def apply(self, spec: dict[str, Any], timeout: timedelta) -> EndpointOutcome:
        from databricks.sdk.service.serving import AiGatewayConfig, EndpointCoreConfigInput

        name = check_endpoint_name(spec["name"])
        api = self.client.serving_endpoints
        config = EndpointCoreConfigInput.from_dict(spec["config"])
        with _sdk_errors(name):
            endpoint = self._find(name)
            if endpoint is None:
                endpoint = api.create_and_wait(
                    name,
                    config=config,
                    ai_gateway=AiGatewayConfig.from_dict(spec["ai_gateway"]),
                    timeout=timeout,
                )
                return self._outcome(endpoint, CREATED, PARTS)
            # An update started elsewhere must end first: the API refuses a second one.
            endpoint = self._wait_while_updating(name, timeout)
            changed = differing_parts(endpoint.as_dict(), spec)
            if "config" in changed:
                endpoint = api.update_config_and_wait(
                    name,
                    served_entities=config.served_entities,
                    traffic_config=config.traffic_config,
                    timeout=timeout,
                )
            if "ai_gateway" in changed:
                # PUT replaces the whole gateway: keep what others set (rate limits, guardrails).
                reported = endpoint.ai_gateway.as_dict() if endpoint.ai_gateway else {}
                gateway = AiGatewayConfig.from_dict({**reported, **spec["ai_gateway"]})
                api.put_ai_gateway(
                    name,
                    fallback_config=gateway.fallback_config,
                    guardrails=gateway.guardrails,
                    inference_table_config=gateway.inference_table_config,
                    rate_limits=gateway.rate_limits,
                    usage_tracking_config=gateway.usage_tracking_config,
                )
                endpoint = api.wait_get_serving_endpoint_not_updating(name, timeout=timeout)
        return self._outcome(endpoint, UPDATED if changed else UNCHANGED, changed)

    def _find(self, name: str) -> "ServingEndpointDetailed | None":
        from databricks.sdk.errors import NotFound

        try:
            return self.client.serving_endpoints.get(name)
        except NotFound:
            return None

    def _wait_while_updating(self, name: str, timeout: timedelta) -> "ServingEndpointDetailed":
        """The endpoint once no update is in progress; a failed earlier update is no reason to
        stop (a new config is how it is fixed), unlike in the SDK's own waiter."""
        deadline = time.monotonic() + timeout.total_seconds()
        pause = 1.0
        while True:
            endpoint = self.client.serving_endpoints.get(name)
            state = endpoint.state.config_update if endpoint.state else None
            if state is None or state.value != _UPDATING:
                return endpoint
            if time.monotonic() + pause > deadline:
                raise TimeoutError(f"still updating after {timeout}")
            time.sleep(pause)
            pause = min(pause * 2, _MAX_POLL_SECONDS)

    def _outcome(
        self, endpoint: "ServingEndpointDetailed", action: str, changed: tuple[str, ...]
    ) -> EndpointOutcome:
        host = (self.client.config.host or "").rstrip("/")
        ready = endpoint.state.ready if endpoint.state else None
        return EndpointOutcome(
            name=endpoint.name or "",
            action=action,
            changed=changed,
            location=f"{host}/serving-endpoints/{endpoint.name}/invocations",
            ready=ready.value if ready else None,
        )


def _reason(error: BaseException) -> str:
    """The error's first line, without the client settings the SDK appends to some."""
    return first_line(error).split(" Config: host=")[0]


@contextmanager
def _sdk_errors(name: str) -> Iterator[None]:
    """Turn the SDK's errors into one line that names the endpoint and the fix."""
    from databricks.sdk import errors

    where = f"Serving endpoint '{name}'"
    page = "its events and logs are on the workspace's Serving page"
    try:
        yield
    except (errors.PermissionDenied, errors.Unauthenticated) as error:
        raise UserError(
            f"{where}: permission denied ({_reason(error)}). The identity the job runs as "
            "needs to be allowed to create serving endpoints and CAN_MANAGE on this one."
        ) from None
    except (errors.NotFound, errors.BadRequest) as error:  # InvalidParameterValue included
        raise UserError(
            f"{where} was refused ({_reason(error)}). Check that the model version exists "
            "in Unity Catalog and that the bundle variables endpoint_workload_size and "
            "traffic_split hold valid values."
        ) from None
    except errors.OperationFailed as error:
        raise UserError(
            f"{where} did not take its new config ({_reason(error)}): {page}; the config "
            "before, if any, still serves. Fix the cause and run deploy-model again."
        ) from None
    except TimeoutError as error:
        raise UserError(
            f"{where} was still updating when the wait ended ({_reason(error)}): {page}. "
            "Run deploy-model again once it has finished."
        ) from None
    except errors.DatabricksError as error:
        raise UserError(f"{where}: {_reason(error)} ({page}).") from None


# This machine ------------------------------------------------------------------------------------


class LocalEndpoints(Endpoints):
    """Specifications written to a folder, one JSON file per endpoint, for `make serve`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def spec_path(self, name: str) -> Path:
        return self.folder / f"{check_endpoint_name(name)}.json"

    def read(self, name: str) -> dict[str, Any] | None:
        """The specification last written for endpoint `name`; None if there is none or it
        cannot be read (the next deployment writes it again)."""
        try:
            return json.loads(self.spec_path(name).read_text())
        except (OSError, ValueError):
            return None

    def apply(self, spec: dict[str, Any], timeout: timedelta) -> EndpointOutcome:
        path = self.spec_path(spec["name"])
        previous = self.read(spec["name"])
        if previous is None:
            changed = PARTS
        else:
            changed = tuple(part for part in PARTS if previous.get(part) != spec[part])
        if previous != spec:
            self.folder.mkdir(parents=True, exist_ok=True)
            # A server reading the file sees the old specification or the new one, never half.
            staged = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            staged.write_text(json.dumps(spec, indent=2) + "\n")
            os.replace(staged, path)
        action = CREATED if previous is None else UPDATED if previous != spec else UNCHANGED
        return EndpointOutcome(spec["name"], action, changed, str(path), ready=None)
