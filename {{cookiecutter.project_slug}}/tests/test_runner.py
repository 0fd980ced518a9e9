"""The local job runner follows the platform's rules and runs the bundle's own job definitions."""

import io
import json
import sys
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }} import settings
from {{ cookiecutter.package_name }}.platform.bundle import load_bundle, resolve_all, variable_values
from {{ cookiecutter.package_name }}.platform.errors import RunnerError, TaskFailure
from {{ cookiecutter.package_name }}.platform.job_runner import JobRunner
from {{ cookiecutter.package_name }}.platform.run_rules import (
    JobStatus,
    Status,
    dependency_state,
    evaluate_condition,
    execution_order,
    job_status,
    run_if_verdict,
)
from {{ cookiecutter.package_name }}.platform.runner import main
from {{ cookiecutter.package_name }}.platform.task_values import task_value_as_text

PROJECT_ROOT = Path(__file__).resolve().parents[1]
S, F, X = Status.SUCCESS, Status.FAILED, Status.EXCLUDED


def ref(path: str) -> str:
    """A dynamic value reference, e.g. ref("job.parameters.x"): the path in double braces."""
    return "{" * 2 + path + "}" * 2


# --- Condition tasks: text comparison for (NOT_)EQUAL_TO, numbers for the others ---------------


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        ("true", "EQUAL_TO", "true", True),
        ("12.0", "EQUAL_TO", "12", False),
        ("12.0", "NOT_EQUAL", "12", True),
        ("12.0", "GREATER_THAN_OR_EQUAL", "12", True),
        ("10.0", "GREATER_THAN_OR_EQUAL", "12", False),
        ("9", "LESS_THAN", "10", True),
        ("1e3", "GREATER_THAN", "999", True),
        ("-2.5", "LESS_THAN_OR_EQUAL", "-2.5", True),
    ],
    ids=[
        "equal-text",
        "equal-compares-text-not-numbers",
        "not-equal-compares-text",
        "numbers-12.0>=12",
        "numbers-10.0<12",
        "numbers-9<10-not-as-text",
        "exponent-notation",
        "negative-numbers",
    ],
)
def test_condition_semantics(left, op, right, expected):
    assert evaluate_condition(left, op, right) is expected


@pytest.mark.parametrize("operand", ["abc", "", "nan", "inf", "1_000"])
def test_numeric_condition_rejects_non_numbers(operand):
    with pytest.raises(TaskFailure, match="not a number"):
        evaluate_condition(operand, "GREATER_THAN", "1")


def test_unknown_condition_operator_is_a_clear_failure():
    with pytest.raises(TaskFailure, match="unknown condition operator 'BIGGER'"):
        evaluate_condition("1", "BIGGER", "0")


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (False, "false"), ("7", "7"), (7, "7"), (0.5, "0.5"), ([1, 2], "[1, 2]")],
    ids=["true", "false", "text", "integer", "float", "list-as-json"],
)
def test_task_values_become_text_as_on_the_platform(value, text):
    assert task_value_as_text(value) == text


# --- Outcomes and run_if -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome", "required", "state"),
    [
        (Status.SUCCESS, None, None, S),
        (Status.SUCCESS, "true", "true", S),
        (Status.SUCCESS, "false", "true", X),
        (Status.FAILED, None, None, F),
        (Status.UPSTREAM_FAILED, None, None, F),
        (Status.EXCLUDED, None, None, X),
    ],
    ids=[
        "success",
        "condition-outcome-matches",
        "condition-outcome-differs-excludes-the-branch",
        "failed",
        "upstream-failed-counts-as-failed",
        "excluded-stays-excluded",
    ],
)
def test_outcome_routing(status, outcome, required, state):
    assert dependency_state(status, outcome, required) is state


RUN = None


@pytest.mark.parametrize(
    ("run_if", "states", "verdict"),
    [
        ("ALL_SUCCESS", [S, S], RUN),
        ("ALL_SUCCESS", [S, F], Status.UPSTREAM_FAILED),
        ("ALL_SUCCESS", [S, X], RUN),
        (None, [F], Status.UPSTREAM_FAILED),
        ("AT_LEAST_ONE_SUCCESS", [F, S], RUN),
        ("AT_LEAST_ONE_SUCCESS", [F, F], Status.UPSTREAM_FAILED),
        ("NONE_FAILED", [S, X], RUN),
        ("NONE_FAILED", [S, F], Status.UPSTREAM_FAILED),
        ("ALL_DONE", [F, S], RUN),
        ("AT_LEAST_ONE_FAILED", [F, S], RUN),
        ("AT_LEAST_ONE_FAILED", [S, S], Status.EXCLUDED),
        ("ALL_FAILED", [F, F], RUN),
        ("ALL_FAILED", [F, S], Status.EXCLUDED),
        ("ALL_DONE", [X, X], Status.EXCLUDED),
        ("ALL_SUCCESS", [], RUN),
    ],
    ids=[
        "all-success-met",
        "all-success-unmet-upstream-failed",
        "all-success-excluded-counts-as-success",
        "default-is-all-success",
        "at-least-one-success-met",
        "at-least-one-success-unmet",
        "none-failed-met",
        "none-failed-unmet",
        "all-done-runs-after-failures",
        "at-least-one-failed-met",
        "at-least-one-failed-unmet-excluded",
        "all-failed-met",
        "all-failed-unmet-excluded",
        "all-dependencies-excluded-excludes-the-task",
        "no-dependencies-runs",
    ],
)
def test_run_if_rules(run_if, states, verdict):
    assert run_if_verdict(run_if, states) is verdict


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ({"a": S, "b": S}, JobStatus.SUCCESS),
        ({"a": S, "b": X}, JobStatus.SUCCESS),
        ({"a": F, "b": Status.UPSTREAM_FAILED}, JobStatus.FAILED),
        ({"a": F, "b": S}, JobStatus.SUCCESS_WITH_FAILURES),
    ],
    ids=["all-succeeded", "excluded-leaf-is-fine", "failed-leaf", "recovered-failure"],
)
def test_a_run_is_judged_by_its_leaf_tasks(statuses, expected):
    assert job_status(statuses, leaves=["b"]) is expected


def test_execution_order_puts_dependencies_first_and_keeps_definition_order():
    order = execution_order({"deploy": ["validate"], "train": [], "validate": ["train"], "x": []})
    assert order == ["train", "x", "validate", "deploy"]


@pytest.mark.parametrize(
    ("dependencies", "message"),
    [
        ({"a": ["b"], "b": ["a"]}, "depend on each other in a cycle"),
        ({"a": ["missing"]}, "depends on 'missing', which is not a task of the job"),
    ],
    ids=["cycle", "unknown-dependency"],
)
def test_execution_order_rejects_bad_graphs(dependencies, message):
    with pytest.raises(RunnerError, match=message):
        execution_order(dependencies)


# --- Variables and references -------------------------------------------------------------------


def test_variables_may_use_other_variables():
    raw = {"var.catalog": "main", "var.table": "${var.catalog}.ml.trips", "bundle.target": "local"}
    assert resolve_all(raw)["var.table"] == "main.ml.trips"


def test_reference_cycles_are_named():
    with pytest.raises(RunnerError, match="cycle"):
        resolve_all({"var.a": "${var.b}", "var.b": "${var.a}"})


def test_unknown_variable_is_named_with_the_fix():
    with pytest.raises(RunnerError, match=r"unknown variable \$\{var\.nope\}: declare 'nope'"):
        resolve_all({"var.a": "${var.nope}"})


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [({}, "main"), ({"catalog": "dev"}, "dev"), ({"catalog": {"default": "dev"}}, "dev")],
    ids=["declared-default", "target-short-form", "target-long-form"],
)
def test_target_overrides_variables(overrides, expected):
    values = variable_values({"catalog": {"default": "main"}}, overrides, "local")
    assert values["catalog"] == expected


def test_variable_without_value_is_named():
    with pytest.raises(RunnerError, match="variable 'catalog' has no value for target 'local'"):
        variable_values({"catalog": {"description": "no default"}}, {}, "local")


# --- Running jobs of a bundle -------------------------------------------------------------------

FAKE_STEPS = '''
import json
import os
import sys
from pathlib import Path


def step():
    """Record the call; --set=key:value sets a task value, --exit=N exits, --crash raises."""
    local_dir = Path(os.environ["MLOPS_LOCAL_DIR"])
    local_dir.mkdir(parents=True, exist_ok=True)
    task_key = os.environ["MLOPS_TASK_KEY"]
    with (local_dir / "calls.jsonl").open("a") as calls:
        calls.write(json.dumps([task_key, sys.argv[1:]]) + "\\n")
    options = dict(argument[2:].partition("=")[::2] for argument in sys.argv[1:])
    if "set" in options:
        key, value = options["set"].split(":")
        store = local_dir / "task_values.json"
        values = json.loads(store.read_text()) if store.exists() else dict()
        values.setdefault(task_key, dict())[key] = value
        store.write_text(json.dumps(values))
    if "crash" in options:
        raise RuntimeError("the step broke")
    if "exit" in options:
        sys.exit(int(options["exit"]))
'''


def wheel_task(key: str, *depends_on: str, run_if: str | None = None, **named) -> dict:
    task = {
        "task_key": key,
        "python_wheel_task": {
            "package_name": "fake_steps_project",
            "entry_point": "fake-step",
            "named_parameters": {name.replace("_", "-"): value for name, value in named.items()},
        },
    }
    if depends_on:
        task["depends_on"] = [{"task_key": dependency} for dependency in depends_on]
    if run_if:
        task["run_if"] = run_if
    return task


def training_job(**train_options) -> dict:
    version = ref("tasks.train.values.model_version")
    return {
        "name": "${bundle.target}-training",
        "tasks": [
            wheel_task("train", **{"table": "${var.table}", **train_options}),
            wheel_task("validate", "train", model_version=version),
            wheel_task("deploy", "validate", model_version=version),
        ],
    }


def retraining_job() -> dict:
    return {
        "name": "retraining",
        "parameters": [{"name": "drift", "default": "false"}],
        "tasks": [
            wheel_task("check", set="retrain:" + ref("job.parameters.drift")),
            {
                "task_key": "retraining_needed",
                "depends_on": [{"task_key": "check"}],
                "condition_task": {
                    "left": ref("tasks.check.values.retrain"),
                    "op": "EQUAL_TO",
                    "right": "true",
                },
            },
            {
                "task_key": "retrain",
                "depends_on": [{"task_key": "retraining_needed", "outcome": "true"}],
                "run_job_task": {"job_id": "${resources.jobs.training_job.id}"},
            },
        ],
    }


@pytest.fixture
def bundle_dir(tmp_path, monkeypatch):
    """A bundle directory whose wheel tasks call a fake installed console script."""
    site = tmp_path / "site"
    dist_info = site / "fake_steps_project-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (site / "fake_steps.py").write_text(FAKE_STEPS)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-steps-project\nVersion: 0.1\n"
    )
    (dist_info / "entry_points.txt").write_text("[console_scripts]\nfake-step = fake_steps:step\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "fake_steps", raising=False)
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path / "local"))
    root = tmp_path / "bundle"
    write_bundle(root, {"training_job": training_job(set="model_version:3")})
    return root


def write_bundle(root: Path, jobs: dict) -> None:
    (root / "resources").mkdir(parents=True, exist_ok=True)
    config = {
        "bundle": {"name": "fake"},
        "include": ["resources/*.yml"],
        "variables": {
            "catalog": {"default": "main"},
            "table": {"default": "${var.catalog}.ml.trips"},
        },
        "targets": {"local": {"variables": {"catalog": "laptop"}}, "staging": {}},
    }
    (root / "databricks.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "resources" / "jobs.yml").write_text(
        yaml.safe_dump({"resources": {"jobs": jobs}}, sort_keys=False)
    )


def calls(bundle_root: Path) -> list[tuple[str, list[str]]]:
    path = bundle_root.parent / "local" / "calls.jsonl"
    if not path.exists():
        return []
    return [tuple(json.loads(line)) for line in path.read_text().splitlines()]


def run(bundle_root: Path, job: str, target: str = "local", **parameters):
    runner = JobRunner(load_bundle(bundle_root, target), out=io.StringIO())
    return runner.run(job, parameters)


def statuses(job_run) -> dict[str, str]:
    return {key: result.status.value for key, result in job_run.tasks.items()}


def test_tasks_run_in_order_with_resolved_parameters_and_task_values(bundle_dir):
    job_run = run(bundle_dir, "training_job")
    assert job_run.status is JobStatus.SUCCESS
    assert calls(bundle_dir) == [
        ("train", ["--table=laptop.ml.trips", "--set=model_version:3"]),
        ("validate", ["--model-version=3"]),
        ("deploy", ["--model-version=3"]),
    ]


def test_the_chosen_target_supplies_the_variables(bundle_dir):
    run(bundle_dir, "training_job", target="staging")
    assert calls(bundle_dir)[0] == ("train", ["--table=main.ml.trips", "--set=model_version:3"])


def test_a_failing_task_fails_its_dependants_and_the_run(bundle_dir):
    write_bundle(bundle_dir, {"training_job": training_job(exit="3")})
    job_run = run(bundle_dir, "training_job")
    assert statuses(job_run) == {
        "train": "FAILED",
        "validate": "UPSTREAM_FAILED",
        "deploy": "UPSTREAM_FAILED",
    }
    assert job_run.tasks["train"].detail == "fake-step exited with status 3"
    assert job_run.status is JobStatus.FAILED


def test_an_all_done_task_runs_after_a_failure(bundle_dir):
    job = {
        "tasks": [wheel_task("work", exit="1"), wheel_task("cleanup", "work", run_if="ALL_DONE")]
    }
    write_bundle(bundle_dir, {"job": job})
    job_run = run(bundle_dir, "job")
    assert statuses(job_run) == {"work": "FAILED", "cleanup": "SUCCESS"}
    assert job_run.status is JobStatus.SUCCESS_WITH_FAILURES


def test_an_exception_in_a_step_fails_its_task(bundle_dir):
    write_bundle(bundle_dir, {"job": {"tasks": [wheel_task("work", crash="yes")]}})
    job_run = run(bundle_dir, "job")
    assert job_run.tasks["work"].status is Status.FAILED
    assert job_run.tasks["work"].detail == "RuntimeError: the step broke"


def test_a_missing_task_value_fails_the_task_that_reads_it(bundle_dir):
    write_bundle(bundle_dir, {"training_job": training_job()})
    job_run = run(bundle_dir, "training_job")
    assert statuses(job_run) == {
        "train": "SUCCESS",
        "validate": "FAILED",
        "deploy": "UPSTREAM_FAILED",
    }
    assert job_run.tasks["validate"].detail == (
        "task value 'model_version' of task 'train' was not set in this run: "
        "'train' must run before and call set_task_value('model_version', ...)"
    )


def test_task_values_of_an_earlier_run_are_not_reused(bundle_dir):
    run(bundle_dir, "training_job")
    write_bundle(bundle_dir, {"training_job": training_job()})
    assert run(bundle_dir, "training_job").tasks["validate"].status is Status.FAILED


@pytest.mark.parametrize(
    ("drift", "retrain_status", "trained"),
    [("true", "SUCCESS", True), ("false", "EXCLUDED", False)],
    ids=["condition-true-starts-training", "condition-false-excludes-the-branch"],
)
def test_condition_task_routes_to_run_job_task(bundle_dir, drift, retrain_status, trained):
    jobs = {"training_job": training_job(set="model_version:4"), "retraining_job": retraining_job()}
    write_bundle(bundle_dir, jobs)
    job_run = run(bundle_dir, "retraining_job", drift=drift)
    assert job_run.status is JobStatus.SUCCESS
    assert job_run.tasks["retraining_needed"].outcome == drift
    assert job_run.tasks["retrain"].status.value == retrain_status
    assert [key for key, _ in calls(bundle_dir)] == ["check"] + (
        ["train", "validate", "deploy"] if trained else []
    )


def test_job_parameters_have_defaults_and_reach_keyword_wheel_tasks(bundle_dir):
    write_bundle(bundle_dir, {"training_job": training_job(), "retraining_job": retraining_job()})
    job_run = run(bundle_dir, "retraining_job")
    assert job_run.tasks["retraining_needed"].outcome == "false"
    assert calls(bundle_dir) == [("check", ["--set=retrain:false", "--drift=false"])]


def test_unknown_job_parameter_is_refused(bundle_dir):
    write_bundle(bundle_dir, {"retraining_job": retraining_job(), "training_job": training_job()})
    with pytest.raises(RunnerError, match="job 'retraining_job' has no parameter speed"):
        run(bundle_dir, "retraining_job", speed="fast")


# --- Clear errors, before anything runs ----------------------------------------------------------


def test_unknown_job_lists_the_jobs(bundle_dir):
    with pytest.raises(
        RunnerError, match="unknown job 'trainig_job': the bundle defines training_job"
    ):
        run(bundle_dir, "trainig_job")


def test_unknown_variable_names_the_file_and_the_fix(bundle_dir):
    write_bundle(bundle_dir, {"training_job": training_job(table="${var.tabel}")})
    with pytest.raises(RunnerError) as error:
        load_bundle(bundle_dir)
    assert "resources/jobs.yml (job 'training_job')" in str(error.value)
    assert "unknown variable ${var.tabel}: declare 'tabel' under variables:" in str(error.value)


def test_run_job_task_must_name_a_job_of_the_bundle(bundle_dir):
    write_bundle(bundle_dir, {"retraining_job": retraining_job()})
    with pytest.raises(RunnerError, match=r"unknown resource \$\{resources.jobs.training_job.id\}"):
        load_bundle(bundle_dir)


def test_jobs_are_parsed_strictly(bundle_dir):
    write_bundle(bundle_dir, {"training_job": {**training_job(), "max_concurent_runs": 1}})
    with pytest.raises(RunnerError, match="job 'training_job' is not a valid job definition"):
        load_bundle(bundle_dir)


def test_missing_entry_point_is_reported_before_any_task_runs(bundle_dir):
    job = training_job(set="model_version:3")
    job["tasks"][2]["python_wheel_task"]["entry_point"] = "deploy-modle"
    write_bundle(bundle_dir, {"training_job": job})
    with pytest.raises(RunnerError, match="entry point 'deploy-modle' is not a console script"):
        run(bundle_dir, "training_job")
    assert calls(bundle_dir) == []


def test_uninstalled_package_says_how_to_install(bundle_dir):
    job = training_job()
    job["tasks"][0]["python_wheel_task"]["package_name"] = "not_installed_project"
    write_bundle(bundle_dir, {"training_job": job})
    with pytest.raises(RunnerError, match=r"not_installed_project' is not installed.*make install"):
        run(bundle_dir, "training_job")


def test_unknown_target_lists_the_targets(bundle_dir):
    with pytest.raises(RunnerError, match=r"target 'qa' is not defined in databricks\.yml"):
        load_bundle(bundle_dir, "qa")


def test_command_line_prints_a_line_per_task_and_per_job(bundle_dir, capsys):
    jobs = {"training_job": training_job(set="model_version:3"), "retraining_job": retraining_job()}
    write_bundle(bundle_dir, jobs)
    exit_code = main(["--project-dir", str(bundle_dir), "training_job", "retraining_job"])
    output = capsys.readouterr().out
    assert exit_code == 0
    assert "train                    SUCCESS" in output
    assert "retraining_needed        SUCCESS (false)" in output
    assert "retrain                  EXCLUDED" in output
    assert "Jobs run (target local):" in output


def test_command_line_reports_errors_in_one_line(bundle_dir, capsys):
    assert main(["--project-dir", str(bundle_dir), "nope"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: unknown job 'nope'")
    assert len(error.strip().splitlines()) == 1


# --- This project's own bundle ------------------------------------------------------------------

TARGETS = sorted(yaml.safe_load((PROJECT_ROOT / "databricks.yml").read_text())["targets"])


@pytest.mark.parametrize("target", TARGETS)
def test_the_project_bundle_loads_for_every_target(target):
    bundle = load_bundle(PROJECT_ROOT, target)
    assert "model_training_job" in bundle.jobs


def test_the_local_target_runs_with_the_step_defaults():
    references = load_bundle(PROJECT_ROOT).references
    assert references["var.catalog"] == settings.CATALOG
    assert references["var.schema"] == settings.SCHEMA
    assert references["var.model_name"] == settings.MODEL_NAME
    assert references["var.experiment_name"] == settings.EXPERIMENT_NAME
    assert references["var.input_table"] == settings.INPUT_TABLE
    assert references["var.predictions_table"] == settings.PREDICTIONS_TABLE
