"""Deployment: promote the validated challenger to champion.

Only a version tagged PASSED that is still `@challenger` is promoted. Running it again changes
nothing. Registry stages are never used.
"""

import argparse
from dataclasses import dataclass

from mlflow import MlflowClient

from . import cli
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


@cli.entry_point(
    "Promote the validated challenger to champion.", cli.add_model_name, cli.add_model_version
)
def main(args: argparse.Namespace) -> None:
    version = args.model_version.strip() or get_task_value(TRAIN_TASK_KEY, "model_version")
    result = deploy(ModelRef(args.catalog, args.schema, args.model_name), version or "")
    outcome = f"{result.model_name}: {result.decision.reason}"
    if result.decision.promote or result.champion == result.version:
        print(f"{outcome}; @{CHAMPION} is version {result.version}.")
    else:
        kept = f"version {result.champion}" if result.champion else "none yet"
        print(f"{outcome}; not promoted (@{CHAMPION}: {kept}).")
