"""The whole lifecycle on this machine: the bundle's jobs in order, through the local runner, in
one process, then a summary.

    python -m {{ cookiecutter.package_name }}.pipeline      # what `make pipeline` runs

The jobs run with the variables of the bundle's `local` target, as `make run JOB=...` runs them.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from . import settings
from .platform.bundle import find_bundle_root, load_bundle
from .platform.errors import RunnerError, exit_on_user_error
from .platform.job_runner import JobRun, JobRunner
from .platform.run_rules import JobStatus, Status
from .platform.runtime import get_runtime
from .registry import ModelRef
from .summary import pipeline_summary

LIFECYCLE_JOBS = [
    "feature_engineering_job",
    "model_training_job",
    "batch_inference_job",
{%- if cookiecutter.include_monitoring == "yes" %}
    "monitoring_job",
{%- endif %}
]


def run_lifecycle(project_dir: Path | None = None) -> tuple[list[JobRun], dict[str, str]]:
    """Run the lifecycle's jobs in order, stopping after one that fails.

    Returns the job runs and the bundle variables of the local target.
    """
    bundle = load_bundle(project_dir or find_bundle_root(Path.cwd()))
    runner = JobRunner(bundle)
    for job_key in LIFECYCLE_JOBS:
        runner.preflight(job_key)  # a mistake in the bundle stops everything before any job
    runs = []
    for job_key in LIFECYCLE_JOBS:
        runs.append(runner.run(job_key))
        if runs[-1].status is not JobStatus.SUCCESS:
            break
    variables = {
        name.removeprefix("var."): value
        for name, value in bundle.references.items()
        if name.startswith("var.")
    }
    return runs, variables


def summary_of(variables: dict[str, str]) -> str:
    model_ref = ModelRef(
        variables.get("catalog", settings.CATALOG),
        variables.get("schema", settings.SCHEMA),
        variables.get("model_name", settings.MODEL_NAME),
    )
    return pipeline_summary(
        model_ref,
        variables.get("predictions_table", settings.PREDICTIONS_TABLE),
{%- if cookiecutter.include_serving == "yes" %}
        variables.get("endpoint_name", settings.ENDPOINT_NAME),
{%- endif %}
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the lifecycle's jobs, then a summary.")
    parser.add_argument("--timings", type=Path, help="write each task's duration here, as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with exit_on_user_error():
        get_runtime()  # start Spark once, and report a missing Java before any job
    spark_seconds = time.perf_counter() - started
    try:
        runs, variables = run_lifecycle()
    except RunnerError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print()
    with exit_on_user_error():
        print(summary_of(variables))
    if args.timings:
        timings = {"spark start-up": spark_seconds}
        for run in runs:
            for key, task in run.tasks.items():
                if task.status in (Status.SUCCESS, Status.FAILED):  # tasks that ran
                    timings[key] = task.seconds
        args.timings.write_text(json.dumps(timings, indent=2))
    if any(run.status is not JobStatus.SUCCESS for run in runs):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
