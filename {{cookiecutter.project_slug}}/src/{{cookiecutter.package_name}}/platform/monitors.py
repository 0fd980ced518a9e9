"""Data-profiling monitors: Databricks' on Databricks, the monitoring step's own twin locally.

On Databricks a monitor is created when its table has none, updated when its settings differ from
the spec, left alone otherwise, and asked for a refresh; the monitor then writes the metric tables
itself, a while later. Locally nothing is called (no SDK, no workspace client): the monitoring
step computes tables of the same names and key columns.

The API is the Unity Catalog one (`/api/2.1/unity-catalog/tables/{table}/monitor`, the SDK's
`quality_monitors`), the one the bundle's `quality_monitors` resource and Databricks' own fake
workspace use. The SDK marks it deprecated in favour of `data_quality`, which addresses tables by
id; switching means changing this module only.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Protocol

from .. import settings
from .environment import on_databricks
from .errors import UserError, first_line

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.catalog import MonitorInferenceLog, MonitorInfo

    from ..monitor_specs import InferenceMonitorSpec


class Outcome(enum.Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    LOCAL = "computed by this step"  # no monitor service: the step writes the metric tables


class Monitors(Protocol):
    # True when the step itself writes the metric tables (no monitor service writes them).
    writes_metric_tables: bool

    def apply(self, spec: InferenceMonitorSpec) -> Outcome:
        """Make the table's monitor match `spec` and have it refresh its metrics."""


class LocalMonitors:
    writes_metric_tables = True

    def apply(self, spec: InferenceMonitorSpec) -> Outcome:
        return Outcome.LOCAL


class DatabricksMonitors:
    writes_metric_tables = False

    def __init__(self, client: WorkspaceClient) -> None:
        self.client = client

    def apply(self, spec: InferenceMonitorSpec) -> Outcome:
        outcome = self.ensure(spec)
        if outcome is not Outcome.CREATED:  # a new monitor starts its first refresh itself
            self.refresh(spec)
        return outcome

    def ensure(self, spec: InferenceMonitorSpec) -> Outcome:
        """Create the monitor, or update it when its settings differ from `spec`."""
        from databricks.sdk.errors import DatabricksError, NotFound

        monitors = self.client.quality_monitors
        try:
            try:
                existing = monitors.get(spec.table_name)
            except NotFound:
                existing = None
            if existing is None:
                user = self.client.current_user.me().user_name
                monitors.create(
                    table_name=spec.table_name,
                    output_schema_name=spec.output_schema_name,
                    assets_dir=assets_dir(user, spec.table_name),
                    baseline_table_name=spec.baseline_table_name,
                    inference_log=inference_log(spec),
                )
                return Outcome.CREATED
            if settings_of(existing) == settings_of_spec(spec):
                return Outcome.UNCHANGED
            # An update replaces the whole configuration: keep what the spec does not manage.
            monitors.update(
                table_name=spec.table_name,
                output_schema_name=spec.output_schema_name,
                baseline_table_name=spec.baseline_table_name,
                inference_log=inference_log(spec),
                custom_metrics=existing.custom_metrics,
                dashboard_id=existing.dashboard_id,
                data_classification_config=existing.data_classification_config,
                notifications=existing.notifications,
                schedule=existing.schedule,
                slicing_exprs=existing.slicing_exprs,
            )
            return Outcome.UPDATED
        except DatabricksError as error:
            raise UserError(
                f"Could not create or update the monitor of table '{spec.table_name}' "
                f"({first_line(error)}). Check that the table exists (the step that writes it "
                "has run) and that the job's identity owns it or its schema."
            ) from error

    def refresh(self, spec: InferenceMonitorSpec) -> None:
        from databricks.sdk.errors import DatabricksError, ResourceConflict

        try:
            self.client.quality_monitors.run_refresh(spec.table_name)
        except ResourceConflict:
            pass  # a refresh is already running: it will see the same data
        except DatabricksError as error:
            raise UserError(
                f"Could not start a refresh of the monitor of table '{spec.table_name}' "
                f"({first_line(error)}). Run the monitoring job again, or refresh the monitor "
                "from the table's Quality tab in Catalog Explorer."
            ) from error


def inference_log(spec: InferenceMonitorSpec) -> MonitorInferenceLog:
    from databricks.sdk.service.catalog import MonitorInferenceLog, MonitorInferenceLogProblemType

    return MonitorInferenceLog(
        problem_type=MonitorInferenceLogProblemType(spec.problem_type),
        timestamp_col=spec.timestamp_col,
        granularities=list(spec.granularities),
        prediction_col=spec.prediction_col,
        model_id_col=spec.model_id_col,
        label_col=spec.label_col,
    )


def settings_of(info: MonitorInfo) -> dict:
    """What the spec decides, as the workspace reports it."""
    log = info.inference_log
    return {
        "output_schema_name": info.output_schema_name,
        "baseline_table_name": info.baseline_table_name,
        "inference_log": log.as_dict() if log is not None else None,
    }


def settings_of_spec(spec: InferenceMonitorSpec) -> dict:
    return {
        "output_schema_name": spec.output_schema_name,
        "baseline_table_name": spec.baseline_table_name,
        "inference_log": inference_log(spec).as_dict(),
    }


def assets_dir(user_name: str, monitored: str) -> str:
    """Where Databricks keeps a monitor's dashboard: in the home folder of whoever runs the job."""
    return f"/Workspace/Users/{user_name}/{settings.PROJECT_SLUG}/monitors/{monitored}"


def get_monitors() -> Monitors:
    if not on_databricks():
        return LocalMonitors()
    from databricks.sdk import WorkspaceClient  # the job's own credentials

    return DatabricksMonitors(WorkspaceClient())
