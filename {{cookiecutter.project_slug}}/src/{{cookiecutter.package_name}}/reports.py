"""`make report`: where the latest reports are (validation{% if cookiecutter.include_monitoring == "yes" %}, monitoring{% endif %}).

Each report is an HTML page with PNG figures in the MLflow run that wrote it; the model version it
is about holds its location in a tag. Locally the location is a file to open in a browser.
"""

import argparse

from mlflow import MlflowClient

from . import cli
from .platform.runtime import use_mlflow
from .registry import (
{%- if cookiecutter.include_monitoring == "yes" %}
    MONITORING_REPORT_TAG,
{%- endif %}
    VALIDATION_REPORT_TAG,
    ModelRef,
)

REPORTS = {
    VALIDATION_REPORT_TAG: "validation report",
{%- if cookiecutter.include_monitoring == "yes" %}
    MONITORING_REPORT_TAG: "monitoring report",
{%- endif %}
}


def latest_reports(client: MlflowClient, name: str) -> list[tuple[str, str]]:
    """(report, where it is and which version it is about), latest version first for each."""
    versions = client.search_model_versions(f"name='{name}'")
    found = []
    for tag, label in REPORTS.items():
        tagged = [version for version in versions if version.tags.get(tag)]
        latest = max(tagged, key=lambda version: int(version.version), default=None)
        if latest is None:
            found.append((label, "none yet: run `make pipeline`"))
        else:
            found.append((label, f"{latest.tags[tag]} (version {latest.version})"))
    return found


@cli.entry_point("Print where the latest reports are.", cli.add_model_name)
def main(args: argparse.Namespace) -> None:
    use_mlflow()
    name = ModelRef(args.catalog, args.schema, args.model_name).full_name
    rows = latest_reports(MlflowClient(), name)
    width = max(len(label) for label, _ in rows)
    for label, where in rows:
        print(f"{label:<{width}}  {where}")


if __name__ == "__main__":
    main()
