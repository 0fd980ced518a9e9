"""Run the bundle's jobs on this machine, from the definitions `databricks bundle deploy` ships.

The runner reads `databricks.yml` and the files it includes (`resources/*.yml`), parses every
job strictly with `databricks-bundles`, resolves the bundle references of one target (`local`
unless told otherwise) and runs the tasks in dependency order with the rules of Databricks jobs:
`depends_on` with `outcome`, `run_if`, condition tasks, `run_job_task` and task values. A
`python_wheel_task` calls the console-script entry point of the installed project in this
process, with the task's parameters.

    make run JOB=model_training_job                     # one job on the local target
    python -m <package>.platform.runner --list          # the jobs of the bundle
    python -m <package>.platform.runner feature_engineering_job model_training_job

The modules beside this one hold the parts: `bundle` reads and checks the bundle, `run_rules` has
the jobs' rules as pure functions (conditions, `run_if`, ordering), `task_values` and
`wheel_tasks` what tasks exchange and run, and `job_runner` wires them together.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .bundle import LOCAL_TARGET, Bundle, find_bundle_root, load_bundle
from .errors import RunnerError
from .job_runner import JobRunner
from .run_rules import JobStatus


def _parameter(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="runner",
        description="Run jobs of the Databricks bundle on this machine, in dependency order.",
    )
    parser.add_argument("jobs", nargs="*", metavar="JOB", help="job keys, run one after another")
    parser.add_argument(
        "--target",
        default=LOCAL_TARGET,
        help="bundle target whose variables apply (default: local)",
    )
    parser.add_argument(
        "--param",
        type=_parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="job parameter for a single job (repeatable)",
    )
    parser.add_argument("--project-dir", type=Path, help="directory of databricks.yml")
    parser.add_argument("--list", action="store_true", help="list the jobs and their tasks")
    return parser.parse_args(argv)


def describe(bundle: Bundle) -> str:
    lines = [f"Jobs of bundle {bundle.name} (target {bundle.target}):"]
    for key, job in bundle.jobs.items():
        tasks = " -> ".join(str(task.task_key) for task in job.tasks)
        lines.append(f"  {key:<28} {tasks}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        root = args.project_dir or find_bundle_root(Path.cwd())
        bundle = load_bundle(root, args.target)
        if args.list or not args.jobs:
            print(describe(bundle))
            return 0
        if args.param and len(args.jobs) != 1:
            raise RunnerError("--param applies to a single job: run the jobs one at a time")
        runner = JobRunner(bundle)
        for job_key in args.jobs:
            runner.preflight(job_key)
        runs = []
        for job_key in args.jobs:
            runs.append(runner.run(job_key, dict(args.param)))
            if runs[-1].status is not JobStatus.SUCCESS:
                break
    except RunnerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    if len(args.jobs) > 1:
        print(f"\nJobs run (target {bundle.target}):")
        for run in runs:
            print(f"  {run.job_key:<28} {run.status.value:<22} {run.seconds:7.1f} s")
        for skipped in args.jobs[len(runs) :]:
            print(f"  {skipped:<28} {'NOT RUN':<22}")
    succeeded = [run for run in runs if run.status is JobStatus.SUCCESS]
    return 0 if len(succeeded) == len(args.jobs) else 1


if __name__ == "__main__":
    sys.exit(main())
