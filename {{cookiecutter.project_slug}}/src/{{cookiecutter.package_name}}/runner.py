"""Run the bundle's jobs on this machine, from the definitions `databricks bundle deploy` ships.

The runner reads `databricks.yml` and the files it includes (`resources/*.yml`), parses every
job strictly with `databricks-bundles`, resolves the bundle references of one target (`local`
unless told otherwise) and runs the tasks in dependency order with the rules of Databricks jobs:
`depends_on` with `outcome`, `run_if`, condition tasks, `run_job_task` and task values. A
`python_wheel_task` calls the console-script entry point of the installed project in this
process, with the task's parameters.

    make run JOB=model_training_job            # one job on the local target
    python -m <package>.runner --list          # the jobs of the bundle
    python -m <package>.runner feature_engineering_job model_training_job

The logic lives in pure functions (reference resolution, `run_if`, conditions, ordering);
`JobRunner` only wires them to the task-value file and the entry points.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

try:
    import yaml
    from databricks.bundles.core import Variable
    from databricks.bundles.jobs import ConditionTaskOp, Job, RunIf, Task
except ModuleNotFoundError as missing:  # the runner's libraries come with the `local` extra
    package = "pyyaml" if missing.name == "yaml" else "databricks-bundles"
    raise SystemExit(
        f"error: the local job runner needs {package}: install the project with its local extra "
        "(`make install`, or `pip install -e '.[local]'`)"
    ) from None

LOCAL_TARGET = "local"
BUNDLE_FILE = "databricks.yml"
TASK_KEY_ENV = "MLOPS_TASK_KEY"
LOCAL_DIR_ENV = "MLOPS_LOCAL_DIR"
TASK_VALUES_FILE = "task_values.json"

# ${var.catalog}, ${bundle.target}, ${resources.jobs.<key>.id}: resolved at deploy time.
BUNDLE_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.\-\[\]]+)\}")
# Double-brace references such as job.parameters.x or tasks.train.values.model_version: resolved
# when the task starts. Braces are escaped so the pattern never reads as template syntax.
DYNAMIC_REFERENCE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
# The platform compares numbers written in decimal notation; Python's float() also takes
# "nan", "inf" and "1_000", which the platform rejects.
DECIMAL_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

TASK_KINDS = (
    "python_wheel_task",
    "condition_task",
    "run_job_task",
    "notebook_task",
    "spark_python_task",
    "spark_jar_task",
    "spark_submit_task",
    "pipeline_task",
    "sql_task",
    "dbt_task",
    "for_each_task",
    "dashboard_task",
    "power_bi_task",
    "clean_rooms_notebook_task",
    "alert_task",
)
RUNNABLE_KINDS = ("python_wheel_task", "condition_task", "run_job_task")


class RunnerError(Exception):
    """A problem with the bundle or the way it is run, reported as one message without traceback."""


class TaskFailure(Exception):
    """The task ran and failed; the message says why."""


class Status(str, Enum):
    """Result of a task, named as in the Databricks jobs UI."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    EXCLUDED = "EXCLUDED"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"


class JobStatus(str, Enum):
    """Result of a job run: Databricks judges a run by its leaf tasks."""

    SUCCESS = "SUCCESS"
    SUCCESS_WITH_FAILURES = "SUCCESS_WITH_FAILURES"
    FAILED = "FAILED"


# ---------------------------------------------------------------------------------------------
# Pure rules
# ---------------------------------------------------------------------------------------------


def resolve_references(text: str, lookup: Callable[[str], str]) -> str:
    """Replace every `${path}` in `text` with `lookup(path)`."""
    return BUNDLE_REFERENCE.sub(lambda match: lookup(match.group(1)), text)


def resolve_dynamic_references(text: str, lookup: Callable[[str], str]) -> str:
    """Replace every double-brace reference in `text` with `lookup(path)`."""
    return DYNAMIC_REFERENCE.sub(lambda match: lookup(match.group(1)), text)


def task_value_as_text(value: Any) -> str:
    """A task value as the platform substitutes it into parameters: booleans become true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _as_number(operand: str, side: str) -> float:
    if not DECIMAL_NUMBER.fullmatch(operand.strip()):
        raise TaskFailure(
            f"the {side} operand {operand!r} is not a number; GREATER_THAN, GREATER_THAN_OR_EQUAL, "
            "LESS_THAN and LESS_THAN_OR_EQUAL compare numbers (use EQUAL_TO or NOT_EQUAL for text)"
        )
    return float(operand)


def evaluate_condition(left: str, op: ConditionTaskOp | str, right: str) -> bool:
    """Evaluate a condition task: EQUAL_TO and NOT_EQUAL compare text, the others numbers."""
    try:
        op = ConditionTaskOp(op)
    except ValueError:
        known = ", ".join(member.value for member in ConditionTaskOp)
        raise TaskFailure(f"unknown condition operator {op!r}: use one of {known}") from None
    if op is ConditionTaskOp.EQUAL_TO:
        return left == right
    if op is ConditionTaskOp.NOT_EQUAL:
        return left != right
    left_number, right_number = _as_number(left, "left"), _as_number(right, "right")
    comparisons = {
        ConditionTaskOp.GREATER_THAN: left_number > right_number,
        ConditionTaskOp.GREATER_THAN_OR_EQUAL: left_number >= right_number,
        ConditionTaskOp.LESS_THAN: left_number < right_number,
        ConditionTaskOp.LESS_THAN_OR_EQUAL: left_number <= right_number,
    }
    return comparisons[op]


def dependency_state(status: Status, outcome: str | None, required_outcome: str | None) -> Status:
    """What one `depends_on` entry contributes to `run_if`: SUCCESS, FAILED or EXCLUDED.

    A dependency on a condition task with another `outcome` than the one required is not met:
    the dependent branch is excluded, as on Databricks.
    """
    if status in (Status.FAILED, Status.UPSTREAM_FAILED):
        return Status.FAILED
    if status is Status.EXCLUDED:
        return Status.EXCLUDED
    if required_outcome is not None and outcome != required_outcome:
        return Status.EXCLUDED
    return Status.SUCCESS


def run_if_verdict(run_if: RunIf | str | None, states: Iterable[Status]) -> Status | None:
    """None when the task runs; otherwise the status it gets without running.

    Databricks rules: a task whose dependencies are all excluded is excluded; otherwise excluded
    dependencies count as succeeded. Unmet ALL_SUCCESS, AT_LEAST_ONE_SUCCESS and NONE_FAILED mark
    the task UPSTREAM_FAILED; unmet AT_LEAST_ONE_FAILED and ALL_FAILED mark it EXCLUDED.
    """
    states = list(states)
    if not states:
        return None
    if all(state is Status.EXCLUDED for state in states):
        return Status.EXCLUDED
    failed = sum(state is Status.FAILED for state in states)
    succeeded = len(states) - failed
    rule = RunIf(run_if or RunIf.ALL_SUCCESS)
    runs = {
        RunIf.ALL_SUCCESS: failed == 0,
        RunIf.NONE_FAILED: failed == 0,
        RunIf.AT_LEAST_ONE_SUCCESS: succeeded > 0,
        RunIf.ALL_DONE: True,
        RunIf.AT_LEAST_ONE_FAILED: failed > 0,
        RunIf.ALL_FAILED: failed == len(states),
    }[rule]
    if runs:
        return None
    if rule in (RunIf.AT_LEAST_ONE_FAILED, RunIf.ALL_FAILED):
        return Status.EXCLUDED
    return Status.UPSTREAM_FAILED


def execution_order(dependencies: Mapping[str, Iterable[str]]) -> list[str]:
    """Task keys ordered so that each comes after its dependencies; ties keep definition order."""
    remaining = {key: list(deps) for key, deps in dependencies.items()}
    for key, deps in remaining.items():
        for dep in deps:
            if dep not in remaining:
                raise RunnerError(
                    f"task '{key}' depends on '{dep}', which is not a task of the job: "
                    "fix the task_key under depends_on"
                )
    order: list[str] = []
    done: set[str] = set()
    while remaining:
        ready = [key for key, deps in remaining.items() if all(dep in done for dep in deps)]
        if not ready:
            raise RunnerError(
                f"tasks {', '.join(sorted(remaining))} depend on each other in a cycle: "
                "remove one of their depends_on entries"
            )
        for key in ready:
            order.append(key)
            done.add(key)
            del remaining[key]
    return order


def job_status(statuses: Mapping[str, Status], leaves: Iterable[str]) -> JobStatus:
    """A run fails when a leaf task fails; earlier failures that a leaf recovered from are noted."""
    failing = (Status.FAILED, Status.UPSTREAM_FAILED)
    if any(statuses[leaf] in failing for leaf in leaves):
        return JobStatus.FAILED
    if any(status in failing for status in statuses.values()):
        return JobStatus.SUCCESS_WITH_FAILURES
    return JobStatus.SUCCESS


def enum_text(value: object, text: Callable[[object], str]) -> str:
    """An enum field's value, whether written literally or as a reference."""
    return value.value if isinstance(value, Enum) else text(value)


def named_arguments(parameters: Mapping[str, str]) -> list[str]:
    """Wheel-task keyword parameters as the platform passes them: `--name=value`."""
    return [f"--{name}={value}" for name, value in parameters.items()]


# ---------------------------------------------------------------------------------------------
# Loading the bundle
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    """The jobs of a bundle, with every deploy-time reference resolvable for one target."""

    root: Path
    name: str
    target: str
    references: Mapping[str, str]
    jobs: Mapping[str, Job]
    sources: Mapping[str, str]

    def resolve(self, value: object, where: str) -> str:
        """Resolve the `${...}` references of a value read from the bundle."""

        def lookup(path: str) -> str:
            if path not in self.references:
                raise RunnerError(f"{where}: {unknown_reference_message(path, self.references)}")
            return self.references[path]

        return resolve_references(str(value), lookup)


def bundle_reference(path: str) -> str:
    """`path` written as a deploy-time reference: a dollar sign and the path in braces."""
    return "$" + "{" + path + "}"


def unknown_reference_message(path: str, known: Iterable[str]) -> str:
    reference = bundle_reference(path)
    if path.startswith("var."):
        return (
            f"unknown variable {reference}: declare '{path[4:]}' under variables: in "
            f"{BUNDLE_FILE} (or fix the name)"
        )
    if path.startswith("resources."):
        parts = path.split(".")
        prefix = ".".join(parts[:3]) + "."
        if len(parts) >= 3 and not any(name.startswith(prefix) for name in known):
            return (
                f"unknown resource {reference}: no {parts[1]} named '{parts[2]}' is defined "
                "in the bundle's resource files"
            )
        return f"unknown resource field {reference}: the resource defines no such field"
    return (
        f"unknown reference {reference}: the local runner resolves "
        + ", ".join(bundle_reference(p) for p in ("var.*", "bundle.name", "bundle.target"))
        + ", "
        + bundle_reference("workspace.*")
        + " and "
        + bundle_reference("resources.<type>.<key>.<field>")
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise RunnerError(f"{path}: not valid YAML ({error}); fix the file") from None
    except OSError as error:
        raise RunnerError(f"{path}: cannot be read ({error.strerror})") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise RunnerError(f"{path}: expected a mapping at the top of the file")
    return content


def find_bundle_root(start: Path) -> Path:
    """The nearest directory, from `start` upwards, that holds databricks.yml."""
    for directory in (start, *start.parents):
        if (directory / BUNDLE_FILE).is_file():
            return directory
    raise RunnerError(
        f"no {BUNDLE_FILE} in {start} or its parents: run from the project directory "
        "or pass --project-dir"
    )


def variable_values(
    declared: Mapping[str, Any], overrides: Mapping[str, Any], target: str
) -> dict[str, Any]:
    """Each variable's value for a target: the target's override, else the declared default."""
    values: dict[str, Any] = {}
    for name, declaration in declared.items():
        declaration = declaration if isinstance(declaration, dict) else {"default": declaration}
        if name in overrides:
            override = overrides[name]
            is_long_form = isinstance(override, dict) and "default" in override
            values[name] = override["default"] if is_long_form else override
        elif "default" in declaration:
            values[name] = declaration["default"]
        else:
            raise RunnerError(
                f"variable '{name}' has no value for target '{target}': give it a default in "
                f"{BUNDLE_FILE} or a value under targets.{target}.variables"
            )
    for name in overrides:
        if name not in declared:
            raise RunnerError(
                f"targets.{target}.variables sets '{name}', which is not declared: "
                f"declare it under variables: in {BUNDLE_FILE}"
            )
    return values


def _scalar_text(value: Any, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise RunnerError(f"{what} is not a plain value; the local runner supports text and numbers")


def resolve_all(raw: Mapping[str, str]) -> dict[str, str]:
    """Resolve references among values (variables may use other variables), rejecting cycles."""
    resolved: dict[str, str] = {}

    def value_of(path: str, chain: tuple[str, ...]) -> str:
        if path in resolved:
            return resolved[path]
        if path in chain:
            raise RunnerError(
                "references form a cycle: "
                + " -> ".join(bundle_reference(p) for p in (*chain, path))
            )
        if path not in raw:
            where = bundle_reference(chain[-1]) if chain else "a value"
            raise RunnerError(f"{where} uses {unknown_reference_message(path, raw)}")
        resolved[path] = resolve_references(raw[path], lambda p: value_of(p, (*chain, path)))
        return resolved[path]

    for path in raw:
        value_of(path, ())
    return resolved


def load_bundle(root: Path, target: str = LOCAL_TARGET) -> Bundle:
    """Read databricks.yml and its includes, parse the jobs strictly and check every reference."""
    root = root.resolve()
    config = _read_yaml(root / BUNDLE_FILE)
    name = str((config.get("bundle") or {}).get("name") or "")
    if not name:
        raise RunnerError(f"{root / BUNDLE_FILE}: bundle.name is missing")
    targets = config.get("targets") or {}
    if target not in targets:
        raise RunnerError(
            f"target '{target}' is not defined in {BUNDLE_FILE}; "
            f"targets: {', '.join(sorted(targets)) or 'none'}"
        )
    target_config = targets[target] or {}
    if target_config.get("resources"):
        raise RunnerError(
            f"targets.{target} overrides resources; the local runner runs the shared definitions "
            "only: move the override to another target"
        )

    declared = dict(config.get("variables") or {})
    resources: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    for pattern in config.get("include") or []:
        for path in sorted(root.glob(pattern)):
            content = _read_yaml(path)
            relative = path.relative_to(root).as_posix()
            for variable, declaration in (content.get("variables") or {}).items():
                if variable in declared:
                    raise RunnerError(f"{relative}: variable '{variable}' is declared twice")
                declared[variable] = declaration
            for kind, definitions in (content.get("resources") or {}).items():
                for key, definition in (definitions or {}).items():
                    if key in resources.setdefault(kind, {}):
                        other = sources[f"{kind}.{key}"]
                        raise RunnerError(f"{relative}: {kind} '{key}' is also defined in {other}")
                    resources[kind][key] = definition or {}
                    sources[f"{kind}.{key}"] = relative

    raw: dict[str, str] = {"bundle.name": name, "bundle.target": target}
    values = variable_values(declared, target_config.get("variables") or {}, target)
    for variable, value in values.items():
        if isinstance(value, (dict, list)):
            # A complex variable (the jobs' compute): checked as its JSON text, never run here.
            raw[f"var.{variable}"] = json.dumps(value)
        else:
            raw[f"var.{variable}"] = _scalar_text(value, f"variable '{variable}'")
    raw.update(_workspace_references(config.get("workspace") or {}, target_config))
    for kind, definitions in resources.items():
        for key, definition in definitions.items():
            for field_name, value in definition.items():
                if isinstance(value, (str, int, float, bool)):
                    raw[f"resources.{kind}.{key}.{field_name}"] = _scalar_text(value, field_name)
            if kind == "jobs":
                # Locally a job is identified by its key: ${resources.jobs.x.id} names job x.
                raw[f"resources.jobs.{key}.id"] = key
    references = resolve_all(raw)

    jobs = {
        key: parse_job(key, definition, sources[f"jobs.{key}"])
        for key, definition in resources.get("jobs", {}).items()
    }
    bundle = Bundle(root, name, target, references, jobs, sources)
    for kind, definitions in resources.items():
        for key, definition in definitions.items():
            label = kind.removesuffix("s").replace("_", " ")  # jobs -> job
            _check_references(bundle, definition, f"{sources[f'{kind}.{key}']} ({label} '{key}')")
    for key, job in jobs.items():
        check_job(bundle, key, job)
    return bundle


def _workspace_references(
    workspace: Mapping[str, Any], target: Mapping[str, Any]
) -> dict[str, str]:
    settings = {**workspace, **(target.get("workspace") or {})}
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container user without a name
        user = "local-user"
    short_name = re.sub(r"[^A-Za-z0-9]", "_", user.split("@")[0]).lower()
    home = "/Workspace/Users/${workspace.current_user.userName}"
    root_path = str(settings.get("root_path") or "~/.bundle/${bundle.name}/${bundle.target}")
    if root_path.startswith("~/"):  # the deploying identity's home folder, as the CLI reads it
        root_path = home + root_path[1:]
    references = {
        "workspace.current_user.userName": user,
        "workspace.current_user.short_name": short_name,
        "workspace.root_path": root_path,
        "workspace.file_path": str(settings.get("file_path") or "${workspace.root_path}/files"),
        "workspace.artifact_path": str(
            settings.get("artifact_path") or "${workspace.root_path}/artifacts"
        ),
        "workspace.state_path": str(settings.get("state_path") or "${workspace.root_path}/state"),
    }
    if settings.get("host"):
        references["workspace.host"] = str(settings["host"])
    return references


def _check_references(bundle: Bundle, value: Any, where: str) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _check_references(bundle, item, where)
    elif isinstance(value, list):
        for item in value:
            _check_references(bundle, item, where)
    elif isinstance(value, str):
        bundle.resolve(value, where)


def parse_job(key: str, definition: Any, source: str) -> Job:
    """Parse a job strictly: unknown fields, bad enum values and missing fields are errors."""
    if not isinstance(definition, dict):
        raise RunnerError(f"{source}: job '{key}' must be a mapping of job settings")
    try:
        return Job.from_dict(definition)
    except (TypeError, ValueError, KeyError) as error:
        raise RunnerError(
            f"{source}: job '{key}' is not a valid job definition: {error}. "
            "Fix it to match the Databricks jobs schema"
        ) from None


def task_kind(task: Task) -> str:
    kinds = [kind for kind in TASK_KINDS if getattr(task, kind, None) is not None]
    if len(kinds) != 1:
        found = ", ".join(kinds) or "none"
        raise RunnerError(
            f"task '{task.task_key}' must have exactly one task type (found: {found})"
        )
    return kinds[0]


def check_job(bundle: Bundle, key: str, job: Job) -> None:
    """Check what the Databricks API would reject at deploy: keys, dependencies, environments."""
    where = f"{bundle.sources[f'jobs.{key}']} (job '{key}')"
    tasks = {}
    for task in job.tasks:
        if task.task_key in tasks:
            raise RunnerError(f"{where}: task_key '{task.task_key}' is used twice")
        tasks[task.task_key] = task
    try:
        execution_order({k: [d.task_key for d in t.depends_on] for k, t in tasks.items()})
    except RunnerError as error:
        raise RunnerError(f"{where}: {error}") from None
    environments = {str(environment.environment_key) for environment in job.environments}
    clusters = {str(cluster.job_cluster_key) for cluster in job.job_clusters}
    for task in tasks.values():
        task_kind(task)
        for dependency in task.depends_on:
            upstream = tasks[str(dependency.task_key)]
            if dependency.outcome is not None:
                if upstream.condition_task is None:
                    raise RunnerError(
                        f"{where}: task '{task.task_key}' sets outcome on its dependency "
                        f"'{upstream.task_key}', which is not a condition task: remove the outcome"
                    )
                if str(dependency.outcome) not in ("true", "false"):
                    raise RunnerError(
                        f"{where}: task '{task.task_key}' waits for outcome "
                        f"'{dependency.outcome}' of '{upstream.task_key}': use 'true' or 'false'"
                    )
        if task.environment_key is not None and str(task.environment_key) not in environments:
            raise RunnerError(
                f"{where}: task '{task.task_key}' uses environment '{task.environment_key}', "
                "which the job does not define under environments"
            )
        if task.job_cluster_key is not None and str(task.job_cluster_key) not in clusters:
            raise RunnerError(
                f"{where}: task '{task.task_key}' uses job cluster '{task.job_cluster_key}', "
                "which the job does not define under job_clusters"
            )
        if task.run_job_task is not None:
            triggered_job_key(bundle, task, where)


def triggered_job_key(bundle: Bundle, task: Task, where: str) -> str:
    """The key of the bundle job a run_job_task starts (written as ${resources.jobs.<key>.id})."""
    job_id = task.run_job_task.job_id
    match = (
        re.fullmatch(r"resources\.jobs\.([^.]+)\.id", job_id.path)
        if isinstance(job_id, Variable)
        else None
    )
    if match is None:
        raise RunnerError(
            f"{where}: task '{task.task_key}' starts job id {job_id}; the local runner follows "
            "jobs of this bundle only: write job_id: ${resources.jobs.<key>.id}"
        )
    if match.group(1) not in bundle.jobs:
        raise RunnerError(
            f"{where}: task '{task.task_key}' starts job '{match.group(1)}', which the bundle "
            f"does not define; jobs: {', '.join(sorted(bundle.jobs))}"
        )
    return match.group(1)


# ---------------------------------------------------------------------------------------------
# Task values and entry points
# ---------------------------------------------------------------------------------------------


def task_values_path(bundle_root: Path) -> Path:
    """The local task-value file shared with the pipeline steps: `.local/task_values.json`."""
    local_dir = os.environ.get(LOCAL_DIR_ENV)
    return (Path(local_dir) if local_dir else bundle_root / ".local") / TASK_VALUES_FILE


class TaskValueStore:
    """The task values the steps write with set_task_value: `{"<task>": {"<key>": value}}`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            content = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise RunnerError(
                f"{self.path} is not valid JSON: delete it and run the job again"
            ) from None
        if not isinstance(content, dict):
            raise RunnerError(f"{self.path} must hold a JSON object: delete it and run again")
        return content

    def get(self, task_key: str, key: str) -> Any:
        values = self.read().get(task_key) or {}
        if key not in values:
            raise TaskFailure(
                f"task value '{key}' of task '{task_key}' was not set in this run: "
                f"'{task_key}' must run before and call set_task_value('{key}', ...)"
            )
        return values[key]

    def forget(self, task_keys: Iterable[str]) -> None:
        """Drop the values of these tasks: on Databricks task values live for one run only."""
        content = self.read()
        forgotten = set(task_keys)
        remaining = {key: value for key, value in content.items() if key not in forgotten}
        if remaining != content:
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(remaining, indent=2), encoding="utf-8")
            temporary.replace(self.path)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def find_entry_point(package_name: str, entry_point: str, where: str) -> metadata.EntryPoint:
    """The console script `entry_point` of the installed distribution `package_name`."""
    try:
        metadata.distribution(package_name)
    except metadata.PackageNotFoundError:
        raise RunnerError(
            f"{where}: package '{package_name}' is not installed in this Python environment "
            f"({sys.prefix}): install the project with `make install` (or `pip install -e .`)"
        ) from None
    for candidate in metadata.entry_points(group="console_scripts", name=entry_point):
        if candidate.dist is not None and _normalized(candidate.dist.name) == _normalized(
            package_name
        ):
            return candidate
    raise RunnerError(
        f"{where}: entry point '{entry_point}' is not a console script of package "
        f"'{package_name}': declare it under [project.scripts] in pyproject.toml and "
        "reinstall the project (`make install`)"
    )


def call_entry_point(entry_point: metadata.EntryPoint, argv: list[str]) -> None:
    """Call a console script the way a wheel task does: sys.argv holds its parameters."""
    main = entry_point.load()
    saved_argv = sys.argv
    sys.argv = [entry_point.name, *argv]
    try:
        main()
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            raise TaskFailure(exit_.code) from None
        if exit_.code not in (0, None):
            raise TaskFailure(f"{entry_point.name} exited with status {exit_.code}") from None
    finally:
        sys.argv = saved_argv


# ---------------------------------------------------------------------------------------------
# Running jobs
# ---------------------------------------------------------------------------------------------


@dataclass
class TaskResult:
    key: str
    status: Status
    seconds: float = 0.0
    outcome: str | None = None
    detail: str = ""


@dataclass
class JobRun:
    job_key: str
    status: JobStatus
    seconds: float
    tasks: dict[str, TaskResult] = field(default_factory=dict)


class JobRunner:
    """Runs the jobs of a bundle in this process, task by task, and prints one line per task."""

    def __init__(
        self,
        bundle: Bundle,
        task_values: TaskValueStore | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.bundle = bundle
        self.task_values = task_values or TaskValueStore(task_values_path(bundle.root))
        self.out = out or sys.stdout
        self._run_counter = 0

    def _job(self, job_key: str) -> Job:
        if job_key not in self.bundle.jobs:
            known = ", ".join(sorted(self.bundle.jobs)) or "none"
            raise RunnerError(
                f"unknown job '{job_key}': the bundle defines {known} "
                "(see resources/*.yml, or run with --list)"
            )
        return self.bundle.jobs[job_key]

    def preflight(self, job_key: str, chain: tuple[str, ...] = ()) -> None:
        """Check before running that every task can run here and every entry point exists."""
        if job_key in chain:
            cycle = " -> ".join((*chain, job_key))
            raise RunnerError(f"jobs start each other in a cycle through run_job_task: {cycle}")
        job = self._job(job_key)
        where = f"{self.bundle.sources[f'jobs.{job_key}']} (job '{job_key}')"
        for task in job.tasks:
            kind = task_kind(task)
            if kind not in RUNNABLE_KINDS:
                raise RunnerError(
                    f"{where}: task '{task.task_key}' is a {kind}; the local runner runs "
                    f"{', '.join(RUNNABLE_KINDS)} only"
                )
            if kind == "python_wheel_task":
                wheel = task.python_wheel_task
                find_entry_point(
                    self.bundle.resolve(wheel.package_name, where),
                    self.bundle.resolve(wheel.entry_point, where),
                    f"{where}, task '{task.task_key}'",
                )
            if kind == "run_job_task":
                self.preflight(triggered_job_key(self.bundle, task, where), (*chain, job_key))

    def run(
        self, job_key: str, parameters: Mapping[str, str] | None = None, depth: int = 0
    ) -> JobRun:
        """Run one job to the end; a failing task fails its dependants, as on Databricks."""
        job = self._job(job_key)
        if depth == 0:
            self.preflight(job_key)
        where = f"{self.bundle.sources[f'jobs.{job_key}']} (job '{job_key}')"
        job_parameters = self._job_parameters(job_key, job, parameters or {}, where)
        tasks = {str(task.task_key): task for task in job.tasks}
        order = execution_order(
            {key: [str(d.task_key) for d in t.depends_on] for key, t in tasks.items()}
        )
        self.task_values.forget(tasks)

        def resolve(value: object) -> str:
            return self.bundle.resolve(value, where)

        self._run_counter += 1
        indent = "  " * depth
        self._print(f"{indent}job {job_key} (target {self.bundle.target})")
        started = time.perf_counter()
        results: dict[str, TaskResult] = {}
        for key in order:
            task = tasks[key]
            states = [
                dependency_state(
                    results[str(d.task_key)].status,
                    results[str(d.task_key)].outcome,
                    None if d.outcome is None else str(d.outcome),
                )
                for d in task.depends_on
            ]
            rule = task.run_if if task.run_if is None else enum_text(task.run_if, resolve)
            verdict = run_if_verdict(rule, states)
            if verdict is not None:
                results[key] = TaskResult(key, verdict, detail=self._why_not_run(task, results))
            else:
                results[key] = self._run_task(job_key, task, job_parameters, depth)
            self._print_task(results[key], depth)
        depended_on = {str(d.task_key) for task in tasks.values() for d in task.depends_on}
        leaves = [key for key in tasks if key not in depended_on]
        statuses = {key: result.status for key, result in results.items()}
        run = JobRun(job_key, job_status(statuses, leaves), time.perf_counter() - started, results)
        self._print(f"{indent}{job_key}: {run.status.value} in {run.seconds:.1f} s")
        return run

    def _job_parameters(
        self, job_key: str, job: Job, given: Mapping[str, str], where: str
    ) -> dict[str, str]:
        defaults = {str(p.name): self.bundle.resolve(p.default, where) for p in job.parameters}
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise RunnerError(
                f"job '{job_key}' has no parameter {', '.join(unknown)}: "
                f"its parameters are {', '.join(sorted(defaults)) or 'none'} "
                "(declare job parameters under parameters: in the job)"
            )
        return {**defaults, **given}

    def _why_not_run(self, task: Task, results: Mapping[str, TaskResult]) -> str:
        branches, failures = [], []
        for dependency in task.depends_on:
            upstream = results[str(dependency.task_key)]
            wanted = dependency.outcome
            if wanted is not None and upstream.outcome not in (None, wanted):
                branches.append(f"{upstream.key} was {upstream.outcome}")
            elif upstream.status is not Status.SUCCESS:
                failures.append(f"{upstream.key} {upstream.status.value}")
        if branches and not failures:
            return ", ".join(branches)
        rule = RunIf(task.run_if or RunIf.ALL_SUCCESS).value
        return f"run_if {rule}: " + ", ".join(branches + failures)

    def _run_task(
        self, job_key: str, task: Task, job_parameters: Mapping[str, str], depth: int
    ) -> TaskResult:
        key = str(task.task_key)
        where = f"{self.bundle.sources[f'jobs.{job_key}']} (job '{job_key}', task '{key}')"

        def dynamic(path: str) -> str:
            return self._dynamic_value(path, job_key, key, job_parameters, where)

        def text(value: object) -> str:
            return resolve_dynamic_references(self.bundle.resolve(value, where), dynamic)

        started = time.perf_counter()
        outcome = None
        try:
            if task.condition_task is not None:
                condition = task.condition_task
                result = evaluate_condition(
                    text(condition.left), enum_text(condition.op, text), text(condition.right)
                )
                outcome = "true" if result else "false"
            elif task.run_job_task is not None:
                child_key = triggered_job_key(self.bundle, task, where)
                child_parameters = {
                    str(name): text(value)
                    for name, value in task.run_job_task.job_parameters.items()
                }
                child = self.run(child_key, child_parameters, depth + 1)
                if child.status is not JobStatus.SUCCESS:
                    raise TaskFailure(f"job {child_key} finished {child.status.value}")
            else:
                self._run_wheel_task(task, job_parameters, text, where)
        except TaskFailure as failure:
            return TaskResult(
                key, Status.FAILED, time.perf_counter() - started, detail=str(failure)
            )
        except RunnerError:
            raise
        except Exception as error:  # a failing step fails its task, as on Databricks
            traceback.print_exc()
            detail = f"{type(error).__name__}: {error}"
            return TaskResult(key, Status.FAILED, time.perf_counter() - started, detail=detail)
        return TaskResult(key, Status.SUCCESS, time.perf_counter() - started, outcome)

    def _run_wheel_task(
        self,
        task: Task,
        job_parameters: Mapping[str, str],
        text: Callable[[object], str],
        where: str,
    ) -> None:
        wheel = task.python_wheel_task
        entry_point = find_entry_point(text(wheel.package_name), text(wheel.entry_point), where)
        if wheel.parameters:
            argv = [text(value) for value in wheel.parameters]
        else:
            # Job parameters are pushed down to keyword-argument wheel tasks and win over
            # task parameters of the same name.
            named = {str(name): text(value) for name, value in wheel.named_parameters.items()}
            argv = named_arguments({**named, **job_parameters})
        saved_task_key = os.environ.get(TASK_KEY_ENV)
        os.environ[TASK_KEY_ENV] = str(task.task_key)
        try:
            call_entry_point(entry_point, argv)
        finally:
            if saved_task_key is None:
                os.environ.pop(TASK_KEY_ENV, None)
            else:
                os.environ[TASK_KEY_ENV] = saved_task_key

    def _dynamic_value(
        self,
        path: str,
        job_key: str,
        task_key: str,
        job_parameters: Mapping[str, str],
        where: str,
    ) -> str:
        parts = path.split(".")
        if parts[:2] == ["job", "parameters"] and len(parts) == 3:
            if parts[2] not in job_parameters:
                raise RunnerError(
                    f"{where}: job parameter '{parts[2]}' is not defined: declare it under "
                    f"parameters: of job '{job_key}'"
                )
            return job_parameters[parts[2]]
        if parts[0] == "tasks" and len(parts) == 4 and parts[2] == "values":
            return task_value_as_text(self.task_values.get(parts[1], parts[3]))
        simple = {
            "job.id": job_key,
            "job.name": self.bundle.resolve(self.bundle.jobs[job_key].name or job_key, where),
            "job.run_id": str(self._run_counter),
            "task.name": task_key,
        }
        if path in simple:
            return simple[path]
        raise RunnerError(
            f"{where}: unsupported dynamic value reference '{path}': the local runner resolves "
            "job.parameters.<name>, tasks.<task>.values.<key>, job.id, job.name, job.run_id "
            "and task.name"
        )

    def _print_task(self, result: TaskResult, depth: int) -> None:
        status = result.status.value
        if result.outcome is not None:
            status += f" ({result.outcome})"
        timing = (
            f"{result.seconds:6.1f} s"
            if result.status in (Status.SUCCESS, Status.FAILED)
            else "       -"
        )
        indent = "  " * (depth + 1)
        line = f"{indent}{result.key.ljust(26 - len(indent))} {status:<17} {timing}"
        if result.detail:
            line += f"  {result.detail}"
        self._print(line)

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


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
