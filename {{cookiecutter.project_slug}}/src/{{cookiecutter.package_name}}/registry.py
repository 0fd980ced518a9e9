"""The model registry: where a model lives, its aliases and versions; clear messages when absent.

Only aliases (`champion`, `challenger`) and tags are used; registry stages are deprecated and
Unity Catalog rejects them.
"""

from dataclasses import dataclass

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from .platform.errors import UserError
from .platform.runtime import Runtime
from .platform.tables import check_table_name, rewrite_fix
from .platform.task_values import get_task_value

CHAMPION = "champion"
CHALLENGER = "challenger"
VALIDATION_STATUS_TAG = "model_validation_status"
# Where the version's reports are: a local path, or an artifact URI on Databricks.
VALIDATION_REPORT_TAG = "validation_report"
{%- if cookiecutter.include_monitoring == "yes" %}
MONITORING_REPORT_TAG = "monitoring_report"
{%- endif %}
TRAIN_TASK_KEY = "train"
_ABSENT = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"}
TRAINING_FIX = "Run the training job (train-model, validate-model, deploy-model) first."


def validation_metric_tag(metric: str) -> str:
    """The model version tag that holds a metric measured by validation."""
    return f"validation_{metric}"


@dataclass(frozen=True)
class ModelRef:
    """A registered model in Unity Catalog: `name` inside `catalog.schema`, next to its tables."""

    catalog: str
    schema: str
    name: str  # short name

    @property
    def full_name(self) -> str:
        """catalog.schema.name, checked."""
        try:
            return check_table_name(f"{self.catalog}.{self.schema}.{self.name}")
        except UserError:
            raise UserError(
                f"'{self.catalog}.{self.schema}.{self.name}' is not a model name: catalog, schema "
                "and --model-name must be made of letters, digits and underscores."
            ) from None


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    """Alias -> version of a registered model; a UserError if the model is not registered."""
    try:
        model = client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code in _ABSENT:
            raise UserError(f"Model '{name}' is not registered yet. {TRAINING_FIX}") from None
        raise
    return {alias: str(version) for alias, version in (model.aliases or {}).items()}


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version `alias` points to, or None if the model has no such alias."""
    return aliases(client, name).get(alias)


def require_alias(client: MlflowClient, name: str, alias: str, fix: str) -> str:
    version = alias_version(client, name, alias)
    if version is None:
        raise UserError(f"Model '{name}' has no alias '@{alias}'. {fix}")
    return version


def get_version(client: MlflowClient, name: str, version: str) -> ModelVersion:
    try:
        return client.get_model_version(name, version)
    except MlflowException as error:
        if error.error_code in _ABSENT:
            raise UserError(
                f"Model '{name}' has no version '{version}'. Check --model-version, or leave it "
                "empty to use the version the train task handed over."
            ) from None
        raise


def handed_over_version(given: str) -> str:
    """`given`, or else the version the train task handed over."""
    version = given.strip() or get_task_value(TRAIN_TASK_KEY, "model_version")
    if not version:
        raise UserError(
            f"No --model-version given and no version handed over by the train task. {TRAINING_FIX}"
        )
    return str(version)


def check_history_is_registered(
    client: MlflowClient, name: str, runtime: Runtime, predictions_table: str
) -> None:
    """Refuse when the registry lacks versions that the prediction history refers to.

    A damaged MLflow store that was replaced by an empty one, or a registry pointed at the wrong
    place, would otherwise hand out version numbers that earlier predictions already name.
    """
    if not runtime.tables.exists(predictions_table):
        return
    history = runtime.tables.read(
        predictions_table,
        fix="",
        columns=["model_version"],
        column_fix=rewrite_fix("batch-inference"),
    )
    used = history.agg({"model_version": "max"}).first()[0]
    if used is None:
        return
    registered = client.search_model_versions(f"name='{name}'")
    latest = max((int(version.version) for version in registered), default=0)
    if latest < used:
        known = f"versions up to {latest}" if latest else "no version"
        raise UserError(
            f"Table '{predictions_table}' holds predictions of '{name}' version {used}, but the "
            f"model registry ({mlflow.get_registry_uri()}) has {known} of it: the registry lost "
            "models, so new versions would reuse numbers the history already names. Restore the "
            "registry from a backup; to start afresh instead, drop the predictions table too "
            "(locally, `make clean`)."
        )
