"""The bundle as the local runner reads it: `databricks.yml`, its includes and their references.

Every job is parsed strictly with `databricks-bundles`, and every deploy-time reference
(`${var.*}`, `${bundle.*}`, `${workspace.*}`, `${resources.*}`) is resolved for one target, so a
mistake the Databricks CLI would reject at deploy stops the runner before any task starts.
"""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .bundle_schema import Job, Task, Variable, yaml
from .errors import RunnerError
from .run_rules import execution_order

LOCAL_TARGET = "local"
BUNDLE_FILE = "databricks.yml"

# ${var.catalog}, ${bundle.target}, ${resources.jobs.<key>.id}: resolved at deploy time.
BUNDLE_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.\-\[\]]+)\}")

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


def resolve_references(text: str, lookup: Callable[[str], str]) -> str:
    """Replace every `${path}` in `text` with `lookup(path)`."""
    return BUNDLE_REFERENCE.sub(lambda match: lookup(match.group(1)), text)


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
