"""The closing summary of a pipeline run, read back from the tables, the registry and task values.

It only reads state, so it can follow any way of running the steps (the pipeline module or the
local job runner).
"""

from mlflow import MlflowClient
from pyspark.sql import functions as F

from . import settings
from .inference import BATCH_COLUMNS
{%- if cookiecutter.include_monitoring == "yes" %}
from .monitoring import summary_lines as monitoring_lines
{%- endif %}
from .platform.errors import UserError
from .platform.runtime import get_runtime, use_mlflow
from .platform.tables import rewrite_fix, table_name
from .platform.task_values import get_task_value
from .registry import (
    CHAMPION,
    TRAIN_TASK_KEY,
    VALIDATION_REPORT_TAG,
    VALIDATION_STATUS_TAG,
    ModelRef,
    alias_version,
    get_version,
    validation_metric_tag,
)
{%- if cookiecutter.include_serving == "yes" %}
from .serving import summary_lines as serving_lines
{%- endif %}


def validation_outcome(client: MlflowClient, name: str, version: str) -> str:
    tags = get_version(client, name, version).tags
    status = tags.get(VALIDATION_STATUS_TAG)
    if status is None:
        return "not validated"
    shown = [
        f"{t.metric} {float(tags[validation_metric_tag(t.metric)]):.4g}"
        for t in settings.VALIDATION_THRESHOLDS
        if validation_metric_tag(t.metric) in tags
    ]
    champion = tags.get("validation_champion_version")
    shown.append(f"compared with champion version {champion}" if champion else "no champion yet")
    if "validation_rule" in tags:
        shown.append(f"decided by the bootstrap's {tags['validation_rule']} rule")
    return f"{status} ({', '.join(shown)})"


def bootstrap_outcome(tags: dict[str, str]) -> str | None:
    """The bootstrap's rule and, per metric, the interval of the worsening against its tolerance."""
    if "validation_rule" not in tags:
        return None
    shown = []
    for threshold in settings.VALIDATION_THRESHOLDS:
        prefix = validation_metric_tag(threshold.metric)
        if f"{prefix}_worsening_interval" in tags:
            shown.append(
                f"{threshold.metric} worse by {tags[f'{prefix}_worsening_interval']} "
                f"(tolerance {float(tags[f'{prefix}_tolerance']):.4g}, better on "
                f"{float(tags[f'{prefix}_win_rate']):.0%} of resamples)"
            )
    return f"{tags['validation_rule']}: {'; '.join(shown)}"


def validation_lines(client: MlflowClient, name: str, version: str | None) -> list[tuple[str, str]]:
    if not version:
        return [("validation", "not run")]
    lines = [("validation", validation_outcome(client, name, version))]
    tags = get_version(client, name, version).tags
    bootstrap = bootstrap_outcome(tags)
    if bootstrap:
        lines.append(("bootstrap", bootstrap))
    lines.append(("validation report", tags.get(VALIDATION_REPORT_TAG, "none")))
    return lines


def pipeline_summary(
    model_ref: ModelRef,
    predictions_table: str = settings.PREDICTIONS_TABLE,
{%- if cookiecutter.include_serving == "yes" %}
    endpoint_name: str = settings.ENDPOINT_NAME,
{%- endif %}
) -> str:
    runtime = get_runtime()
    use_mlflow()
    client = MlflowClient()
    name = model_ref.full_name
    version = get_task_value(TRAIN_TASK_KEY, "model_version")
    try:
        champion = alias_version(client, name, CHAMPION)
    except UserError:  # not registered yet
        champion = None
    lines = [
        ("model", name),
        ("new model version", version or "none"),
        *validation_lines(client, name, version),
        ("champion", f"version {champion}" if champion else "none"),
    ]
    predictions = table_name(model_ref.catalog, model_ref.schema, predictions_table)
    if runtime.tables.exists(predictions):
        rows = runtime.tables.read(
            predictions, fix="", columns=BATCH_COLUMNS, column_fix=rewrite_fix("batch-inference")
        )
        latest = rows.orderBy(F.desc("scored_at"), F.desc("batch_id")).first()
        batch = rows.where(F.col("batch_id") == latest["batch_id"])
        lines.append(
            (
                "rows scored",
                f"{batch.count():,} by version {latest['model_version']} in batch "
                f"{latest['batch_id']} ({predictions})",
            )
        )
    else:
        lines.append(("rows scored", "none"))
{%- if cookiecutter.include_serving == "yes" %}
    lines += serving_lines(runtime, model_ref, endpoint_name)
{%- endif %}
{%- if cookiecutter.include_monitoring == "yes" %}
    lines += monitoring_lines(runtime, model_ref, predictions_table)
{%- endif %}
    width = max(len(label) for label, _ in lines)
    return "\n".join(["Summary"] + [f"  {label:<{width}}  {value}" for label, value in lines])
