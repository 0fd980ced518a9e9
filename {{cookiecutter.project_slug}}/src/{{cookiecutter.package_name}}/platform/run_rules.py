"""The rules of Databricks jobs, as pure functions: conditions, `depends_on`, `run_if`, order.

A condition task compares text or numbers; a task's dependencies and its `run_if` rule decide
whether it runs, and a job run is judged by its leaf tasks.
"""

import re
from collections.abc import Iterable, Mapping
from enum import Enum

from .bundle_schema import ConditionTaskOp, RunIf
from .errors import RunnerError, TaskFailure

# The platform compares numbers written in decimal notation; Python's float() also takes
# "nan", "inf" and "1_000", which the platform rejects.
DECIMAL_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


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
