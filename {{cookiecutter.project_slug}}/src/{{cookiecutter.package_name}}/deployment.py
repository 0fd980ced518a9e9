"""Deployment: promote the validated challenger to champion{% if cookiecutter.include_serving == "yes" %}, then serve it{% endif %}.

Only a version tagged PASSED that is still `@challenger` is promoted. Running it again changes
nothing. Registry stages are never used.
{%- if cookiecutter.include_serving == "yes" %}

Once the version is `@champion`, the serving endpoint is made to serve it (serving.py): created,
updated, or left as it is when it already does.
{%- endif %}
"""

import argparse
from dataclasses import dataclass

from mlflow import MlflowClient
{%- if cookiecutter.include_serving == "yes" %}

from . import cli, serving
{%- else %}

from . import cli
{%- endif %}
from .platform.runtime import use_mlflow
from .platform.task_values import get_task_value
from .registry import (
    CHALLENGER,
    CHAMPION,
    TRAIN_TASK_KEY,
    VALIDATION_STATUS_TAG,
    ModelRef,
    aliases,
    get_version,
    require_alias,
)

TASK_KEY = "deploy"


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(
    version: str, status: str | None, challenger: str | None, champion: str | None
) -> Decision:
    """Whether `version` (validation `status`) may replace the champion."""
    if champion == version:
        return Decision(False, f"version {version} is already @{CHAMPION}")
    if status != "PASSED":
        return Decision(
            False, f"version {version} has not passed validation (status {status or 'none'})"
        )
    if challenger != version:
        return Decision(
            False, f"version {version} is no longer @{CHALLENGER} (version {challenger} is)"
        )
    return Decision(True, f"version {version} passed validation")


@dataclass(frozen=True)
class DeploymentResult:
    model_name: str
    version: str
    champion: str | None  # after the step
    decision: Decision


def deploy(model_ref: ModelRef, version: str) -> DeploymentResult:
    """Point `@champion` at `version` if the gate allows it; empty version: the challenger."""
    use_mlflow()
    client = MlflowClient()
    name = model_ref.full_name
    version = version or require_alias(
        client, name, CHALLENGER, fix="Validate a version first (validate-model)."
    )
    status = get_version(client, name, version).tags.get(VALIDATION_STATUS_TAG)
    current = aliases(client, name)
    decision = decide(version, status, current.get(CHALLENGER), current.get(CHAMPION))
    if decision.promote:
        client.set_registered_model_alias(name, CHAMPION, version)
    champion = version if decision.promote else current.get(CHAMPION)
    return DeploymentResult(name, version, champion, decision)
{%- if cookiecutter.include_serving == "yes" %}


@cli.entry_point(
    "Promote the validated challenger to champion, then serve it.",
    cli.add_model_name,
    cli.add_model_version,
    cli.add_serving_options,
)
def main(args: argparse.Namespace) -> None:
    # Checked before anything changes, so a typo in a setting promotes nothing.
    options = serving.serving_options(
        args.endpoint_name, args.workload_size, args.scale_to_zero, args.traffic_split
    )
{%- else %}


@cli.entry_point(
    "Promote the validated challenger to champion.", cli.add_model_name, cli.add_model_version
)
def main(args: argparse.Namespace) -> None:
{%- endif %}
    version = args.model_version.strip() or get_task_value(TRAIN_TASK_KEY, "model_version")
    model_ref = ModelRef(args.catalog, args.schema, args.model_name)
    result = deploy(model_ref, version or "")
    outcome = f"{result.model_name}: {result.decision.reason}"
    if result.decision.promote or result.champion == result.version:
        print(f"{outcome}; @{CHAMPION} is version {result.version}.")
    else:
        kept = f"version {result.champion}" if result.champion else "none yet"
        print(f"{outcome}; not promoted (@{CHAMPION}: {kept}).")
{%- if cookiecutter.include_serving == "yes" %}
    if result.champion == result.version:
        print(serving.describe(serving.deploy_endpoint(model_ref, options)))
    else:
        print(
            f"Serving endpoint '{options.endpoint_name}' left as it is: it serves @{CHAMPION}, "
            f"and version {result.version} is not."
        )
{%- endif %}
