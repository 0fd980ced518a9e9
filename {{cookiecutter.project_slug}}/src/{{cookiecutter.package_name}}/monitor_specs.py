"""What Databricks' data-profiling monitors watch, as values; platform/monitors.py applies them.

Each monitored table gets a monitor of type inference log: regression, windows of
settings.MONITOR_GRANULARITIES over a timestamp column, the prediction, the label (null until the
fare is known) and the model version as model id. Drift is measured against the baseline table:
the trips each model version was trained on, the same baseline the local twin uses. The monitor
writes `<table>_profile_metrics` and `<table>_drift_metrics` next to the table; locally
monitoring.py writes tables of the same names and key columns, so one check reads both.
"""

from dataclasses import dataclass

from . import settings
from .dataset import LABEL, PICKUP_TIME
from .inference import PREDICTION
from .platform.tables import table_name
{%- if cookiecutter.include_serving == "yes" %}
from .serving import inference_table_prefix
{%- endif %}

REGRESSION = "PROBLEM_TYPE_REGRESSION"
MODEL_ID = "model_version"  # the model id column of every monitored table, and of the baseline
{%- if cookiecutter.include_serving == "yes" %}
REQUEST_TIME = "request_time"  # when the endpoint answered: the timestamp of a served request
{%- endif %}


@dataclass(frozen=True)
class InferenceMonitorSpec:
    """A monitor of type inference log on one table; names are catalog.schema.table."""

    table_name: str
    output_schema_name: str  # catalog.schema, where the metric tables go
    baseline_table_name: str
    timestamp_col: str
    prediction_col: str
    label_col: str
    model_id_col: str
    granularities: tuple[str, ...]
    problem_type: str = REGRESSION

    @property
    def profile_metrics_table(self) -> str:
        return profile_metrics_table(self.table_name)

    @property
    def drift_metrics_table(self) -> str:
        return drift_metrics_table(self.table_name)


def profile_metrics_table(monitored: str) -> str:
    return f"{monitored}_profile_metrics"


def drift_metrics_table(monitored: str) -> str:
    return f"{monitored}_drift_metrics"


def baseline_table(catalog: str, schema: str, predictions_table: str) -> str:
    """The trips each model version was trained on: what 'no drift' means for that version."""
    return table_name(catalog, schema, f"{predictions_table}_baseline")


def inference_monitor(
    monitored: str, timestamp_col: str, catalog: str, schema: str, predictions_table: str
) -> InferenceMonitorSpec:
    """A monitor of scored trips in `catalog.schema`, against the trips each version learnt from."""
    return InferenceMonitorSpec(
        table_name=monitored,
        output_schema_name=f"{catalog}.{schema}",
        baseline_table_name=baseline_table(catalog, schema, predictions_table),
        timestamp_col=timestamp_col,
        prediction_col=PREDICTION,
        label_col=LABEL,
        model_id_col=MODEL_ID,
        granularities=tuple(settings.MONITOR_GRANULARITIES),
    )


def predictions_monitor(catalog: str, schema: str, predictions_table: str) -> InferenceMonitorSpec:
    """The batch predictions, windowed by pickup time: when the trips happened, not when a batch
    scored them (one batch scores weeks of trips at once)."""
    monitored = table_name(catalog, schema, predictions_table)
    return inference_monitor(monitored, PICKUP_TIME, catalog, schema, predictions_table)
{%- if cookiecutter.include_serving == "yes" %}


def requests_table(catalog: str, schema: str, endpoint_name: str) -> str:
    """The endpoint's inference table unpacked into one row per scored trip, which the monitor
    watches; named after the endpoint, like the inference table itself."""
    return table_name(catalog, schema, f"{inference_table_prefix(endpoint_name)}_requests")


def requests_monitor(
    catalog: str, schema: str, predictions_table: str, endpoint_name: str
) -> InferenceMonitorSpec:
    """The served requests, windowed by the time of the request, against the same baseline as the
    batch predictions; their label stays null, so only drift is judged."""
    monitored = requests_table(catalog, schema, endpoint_name)
    return inference_monitor(monitored, REQUEST_TIME, catalog, schema, predictions_table)
{%- endif %}
