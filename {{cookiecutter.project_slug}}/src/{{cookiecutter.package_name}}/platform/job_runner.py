"""Running the bundle's jobs in this process, task by task, with the rules of Databricks jobs.

`JobRunner` wires the pure rules (`run_rules`) to the bundle, the task-value file and the wheel
tasks' entry points, resolves the references a task can only resolve when it starts (job
parameters, task values, job and task names) and prints one line per task.
"""

from __future__ import annotations

import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TextIO

from .bundle import Bundle, task_kind, triggered_job_key
from .bundle_schema import Job, RunIf, Task
from .errors import RunnerError, TaskFailure
from .run_rules import (
    JobStatus,
    Status,
    dependency_state,
    evaluate_condition,
    execution_order,
    job_status,
    run_if_verdict,
)
from .task_values import TASK_KEY_VARIABLE, TaskValueStore, task_value_as_text, task_values_path
from .wheel_tasks import call_entry_point, find_entry_point, named_arguments

# Double-brace references such as job.parameters.x or tasks.train.values.model_version: resolved
# when the task starts. Braces are escaped so the pattern never reads as template syntax.
DYNAMIC_REFERENCE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

RUNNABLE_KINDS = ("python_wheel_task", "condition_task", "run_job_task")


def resolve_dynamic_references(text: str, lookup: Callable[[str], str]) -> str:
    """Replace every double-brace reference in `text` with `lookup(path)`."""
    return DYNAMIC_REFERENCE.sub(lambda match: lookup(match.group(1)), text)


def enum_text(value: object, text: Callable[[object], str]) -> str:
    """An enum field's value, whether written literally or as a reference."""
    return value.value if isinstance(value, Enum) else text(value)


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
        saved_task_key = os.environ.get(TASK_KEY_VARIABLE)
        os.environ[TASK_KEY_VARIABLE] = str(task.task_key)
        try:
            call_entry_point(entry_point, argv)
        finally:
            if saved_task_key is None:
                os.environ.pop(TASK_KEY_VARIABLE, None)
            else:
                os.environ[TASK_KEY_VARIABLE] = saved_task_key

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
