"""The whole lifecycle on the local stack, step after step in one process, then a summary.

    python -m {{ cookiecutter.package_name }}.pipeline      # what `make pipeline` runs

The steps run with their default options except --catalog and --schema.
"""

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import deployment, features, inference,{% if cookiecutter.include_monitoring == "yes" %} monitoring,{% endif %} settings, training, validation
from .errors import exit_on_user_error
from .runtime import TASK_KEY_VARIABLE, get_runtime
from .summary import pipeline_summary

# Task keys as in the bundle's jobs, and the entry point each task runs.
STEPS: list[tuple[str, Callable[[list[str] | None], None]]] = [
    ("features", features.main),
    ("train", training.main),
    ("validate", validation.main),
    ("deploy", deployment.main),
    ("batch_inference", inference.main),
{%- if cookiecutter.include_monitoring == "yes" %}
    ("monitor", monitoring.main),
{%- endif %}
]


@dataclass(frozen=True)
class StepRun:
    task_key: str
    seconds: float
    succeeded: bool


def run_steps(argv: list[str]) -> list[StepRun]:
    """Run every step with `argv` in order; stop after the first that fails."""
    runs = []
    for task_key, step in STEPS:
        print(f"\n[{task_key}]", flush=True)
        os.environ[TASK_KEY_VARIABLE] = task_key
        started = time.perf_counter()
        try:
            step(argv)
            succeeded = True
        except SystemExit as exit:
            succeeded = not exit.code
        finally:
            del os.environ[TASK_KEY_VARIABLE]
        runs.append(StepRun(task_key, time.perf_counter() - started, succeeded))
        print(f"[{task_key}] {'done' if succeeded else 'FAILED'} in {runs[-1].seconds:.1f} s")
        if not succeeded:
            break
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run every step locally, then print a summary.")
    parser.add_argument("--catalog", default=settings.CATALOG)
    parser.add_argument("--schema", default=settings.SCHEMA)
    parser.add_argument("--timings", type=Path, help="write each step's duration here, as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with exit_on_user_error():
        get_runtime()  # start Spark once, and report a missing Java before any step
    spark_seconds = time.perf_counter() - started
    print(f"Local Spark ready in {spark_seconds:.1f} s.")
    runs = run_steps(["--catalog", args.catalog, "--schema", args.schema])
    print()
    with exit_on_user_error():
        print(pipeline_summary(args.catalog, args.schema))
    if args.timings:
        timings = {"spark_start": spark_seconds} | {run.task_key: run.seconds for run in runs}
        args.timings.write_text(json.dumps(timings, indent=2))
    failed = [run.task_key for run in runs if not run.succeeded]
    if failed:
        print(f"\nThe pipeline stopped at step '{failed[0]}'; see its message above.")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
