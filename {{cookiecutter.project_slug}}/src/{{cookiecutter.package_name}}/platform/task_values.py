"""Task values: how a task hands a value (a model version, a validation status) to later tasks.

On Databricks they are the job's task values (`dbutils.jobs.taskValues`). Locally they live in
`task_values.json` in the local folder, `{"<task>": {"<key>": value}}`: the steps write it, and the
local job runner reads it to resolve references to task values and forgets a task's values when
the task runs again, as a new job run does on Databricks.
"""

import json
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .environment import LOCAL_DIR_VARIABLE, local_dir, on_databricks
from .errors import RunnerError, TaskFailure, UserError

TASK_KEY_VARIABLE = "MLOPS_TASK_KEY"  # set by the local runner: the task a step runs as
TASK_VALUES_FILE = "task_values.json"


# What the steps call -----------------------------------------------------------------------------


def set_task_value(key: str, value: str, task_key: str) -> None:
    """Hand a value to later tasks; locally it is filed under MLOPS_TASK_KEY, or else `task_key`."""
    if on_databricks():
        from databricks.sdk.runtime import dbutils

        dbutils.jobs.taskValues.set(key=key, value=value)
        return
    values = _read_task_values()
    values.setdefault(os.environ.get(TASK_KEY_VARIABLE) or task_key, {})[key] = value
    path = _task_values_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    staged.write_text(json.dumps(values, indent=2, sort_keys=True))
    os.replace(staged, path)


def get_task_value(task_key: str, key: str) -> str | None:
    """The value task `task_key` handed over, or None."""
    if on_databricks():
        from databricks.sdk.runtime import dbutils

        # Neither default may be None; "" stands for "not handed over" (also outside a job run).
        value = dbutils.jobs.taskValues.get(taskKey=task_key, key=key, default="", debugValue="")
        return str(value) if value != "" else None
    return _read_task_values().get(task_key, {}).get(key)


def _task_values_path() -> Path:
    return local_dir() / TASK_VALUES_FILE


def _read_task_values() -> dict:
    path = _task_values_path()
    if not path.exists():
        return {}
    try:
        values = json.loads(path.read_text())
    except ValueError as error:
        raise UserError(
            f"The local task values file {path} is not valid JSON ({error}). Delete it and run the "
            "pipeline's steps again from the training step."
        ) from error
    if not isinstance(values, dict):
        raise UserError(f"The local task values file {path} is not a JSON object. Delete it.")
    return values


# What the local job runner uses ------------------------------------------------------------------


def task_value_as_text(value: Any) -> str:
    """A task value as the platform substitutes it into parameters: booleans become true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def task_values_path(bundle_root: Path) -> Path:
    """The local task-value file shared with the pipeline steps: `.local/task_values.json`."""
    configured = os.environ.get(LOCAL_DIR_VARIABLE)
    return (Path(configured) if configured else bundle_root / ".local") / TASK_VALUES_FILE


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
