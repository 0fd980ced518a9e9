"""The CI/CD of a repository of ML projects on GitLab (setup_mode=cicd_only, cicd_platform=gitlab).

A repository is baked the way a user makes one: the CI/CD, then two projects baked into it, all
committed. The parent pipeline's `discover` job runs its own command line in that repository for
each kind of change, and gitlab-ci-local (the pinned npm release the Makefile installs) lists the
jobs GitLab would run, from the parent and from the child pipeline the command wrote, per event.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from monorepo import build_monorepo, git
from test_cicd import BIN, COMMAND, EXPECTED_STAGES, YAMLLINT_CONFIG, run

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
DEFAULT, RELEASE = "main", "release"
PROJECTS = {"fraud-detection": "FRAUD_DETECTION", "demand-forecast": "DEMAND_FORECAST"}
NO_BASE = "0" * 40
CHILD = "child-pipeline.yml"
NO_PROJECT_JOB = "no-project-changed"
# The events the parent's workflow accepts, as GitLab's variables, and the stage each runs.
EVENTS = {
    "merge request": {
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": DEFAULT,
    },
    "push to default": {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": DEFAULT},
    "push to release": {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": RELEASE},
}
STAGE_OF_EVENT = {
    "merge request": "request checks",
    "push to default": "staging deploy",
    "push to release": "prod deploy",
}
JOBS_OF_STAGE = {
    "request checks": ["local", "validate", "integration-test"],
    "staging deploy": ["deploy-staging"],
    "prod deploy": ["deploy-prod"],
}
# The service principal each Databricks job acts as, and the one a target's jobs run as.
CLIENT_ID_OF_JOB = {
    "validate": "CI",
    "integration-test": "CI",
    "deploy-staging": "STAGING",
    "deploy-prod": "PROD",
}
RUN_AS_OF_TARGET = {"staging": "STAGING", "prod": "PROD"}


def gitlab_ci_local() -> Path:
    version = re.search(
        r"^GITLAB_CI_LOCAL_VERSION := (\S+)$", (TEMPLATE_DIR / "Makefile").read_text(), re.M
    ).group(1)
    path = TEMPLATE_DIR / f".cache/gitlab-ci-local/{version}/node_modules/.bin/gitlab-ci-local"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make install` first")
    return path


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def monorepo(tmp_path_factory) -> Path:
    """The CI/CD and two projects, committed on the default branch."""
    return build_monorepo(
        tmp_path_factory.mktemp("monorepo"),
        {"cicd_platform": "gitlab", "default_branch": DEFAULT, "release_branch": RELEASE},
    )


@pytest.fixture
def clone(monorepo, tmp_path) -> Path:
    """A clone of the repository to change, as the runner checks it out (full history)."""
    target = tmp_path / "repo"
    git(tmp_path, "clone", "--quiet", str(monorepo), str(target))
    return target


def parent(repo: Path) -> dict:
    return yaml.safe_load((repo / ".gitlab-ci.yml").read_text(encoding="utf-8"))


def discover(repo: Path, **variables: str) -> subprocess.CompletedProcess:
    """Run the discover job's script, as written in .gitlab-ci.yml, with GitLab's variables."""
    job = parent(repo)["discover"]
    script = "\n".join(["set -eo pipefail", *job["script"]])
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **variables}
    return subprocess.run(["bash", "-c", script], cwd=repo, env=env, capture_output=True, text=True)


def child_projects(repo: Path) -> set[str]:
    child = json.loads((repo / CHILD).read_text())
    return {job["variables"]["PROJECT_PATH"] for job in child.values() if "variables" in job}


def listed_jobs(repo: Path, variables: dict, file: str | None = None) -> dict[str, dict]:
    """The jobs gitlab-ci-local lists for GitLab's variables: name → stage, environment, needs."""
    command = [gitlab_ci_local(), "--list-csv"] + (["--file", file] if file else [])
    for name, value in variables.items():
        command += ["--variable", f"{name}={value}"]
    env = {**os.environ, "GCL_IGNORE_PREDEFINED_VARS": ",".join(variables)}
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = lines.index("name;stage;when;allowFailure;environment;needs")
    jobs = {}
    for line in lines[header + 1 :]:
        name, stage, _, _, environment, needs = line.split(";")
        jobs[name] = {"stage": stage, "environment": environment, "needs": needs}
    return jobs


def forwarded(repo: Path, event: str) -> dict[str, str]:
    """The variables the parent's `projects` job passes down to the child pipeline for an event."""
    given = EVENTS[event]
    passed = parent(repo)["projects"]["variables"]
    return {name: given.get(value.removeprefix("$"), "") for name, value in passed.items()}


def expected_child_jobs(projects: list[str], event: str) -> dict[str, dict]:
    stage = STAGE_OF_EVENT[event]
    jobs = {}
    for project in projects:
        for job in JOBS_OF_STAGE[stage]:
            environment = f"{project}/{stage.split()[0]}" if job.startswith("deploy") else ""
            needs = f"[{project}:local,{project}:validate]" if job == "integration-test" else ""
            jobs[f"{project}:{job}"] = {
                "stage": stage.replace(" ", "-"),
                "environment": environment,
                "needs": needs,
            }
    return jobs


def write_child(repo: Path, base: str = NO_BASE) -> None:
    result = discover(repo, CI_COMMIT_BEFORE_SHA=base)
    assert result.returncode == 0, result.stderr


def preview(repo: Path, file: str) -> dict:
    """The pipeline with its includes, `extends` and `!reference` resolved, as gitlab-ci-local
    reads it."""
    result = run([gitlab_ci_local(), "--preview", "--file", file], cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def child_jobs(monorepo, tmp_path_factory) -> dict[str, dict]:
    """Every job of the child pipeline of a first push (every project), resolved."""
    repo = tmp_path_factory.mktemp("child") / "repo"
    git(repo.parent, "clone", "--quiet", str(monorepo), str(repo))
    write_child(repo)
    config = preview(repo, CHILD)
    return {name: job for name, job in config.items() if ":" in name}


def project_and_job(name: str) -> tuple[str, str]:
    project, job = name.split(":")
    return project, job


def lines(job: dict, *keys: str) -> list[str]:
    return [line for key in keys for line in job.get(key, [])]


# --- The files --------------------------------------------------------------------------------


def test_ci_files_match_the_gitlab_schema(monorepo, clone):
    write_child(clone)
    (clone / "no-project.yml").write_text(
        subprocess.run(
            ["python3", "scripts/gitlab_child_pipeline.py", "--base", "HEAD"],
            cwd=clone,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    files = [".gitlab-ci.yml", ".gitlab/project-jobs.yml", CHILD, "no-project.yml"]
    # The gitlab-ci transform reads GitLab's `!reference` tags.
    result = run(
        [BIN / "check-jsonschema", "--regex-variant", "nonunicode", "--builtin-schema"]
        + ["vendor.gitlab-ci", "--data-transform", "gitlab-ci", *files],
        cwd=clone,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_files_pass_yamllint(monorepo):
    # The generated child pipeline is JSON, which yamllint's style rules are not about.
    files = [".gitlab-ci.yml", ".gitlab/project-jobs.yml"]
    result = run([BIN / "yamllint", "--strict", "-d", YAMLLINT_CONFIG, *files], cwd=monorepo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_repository_holds_exactly_the_gitlab_files(monorepo):
    ci = {
        path.relative_to(monorepo).as_posix()
        for path in monorepo.rglob("*")
        if path.is_file() and path.relative_to(monorepo).parts[0] not in {*PROJECTS, ".git"}
    }
    assert ci == {
        ".gitlab-ci.yml",
        ".gitlab/project-jobs.yml",
        "docs/ci-cd-setup.md",
        "scripts/changed_projects.py",
        "scripts/gitlab_child_pipeline.py",
        "scripts/install-databricks-cli.sh",
    }


def test_the_workflow_accepts_the_events_of_a_single_project():
    def workflow(path: Path) -> str:
        text = path.read_text(encoding="utf-8")
        return text[text.index("\nworkflow:") : text.index("\nstages:")]

    template = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
    assert workflow(template / ".monorepo/.gitlab-ci.yml") == workflow(template / ".gitlab-ci.yml")


def test_the_files_name_no_workspace_and_no_secret(monorepo):
    forbidden = re.compile(
        r"DATABRICKS_HOST|WORKSPACE_HOST|secrets\.|DATABRICKS_TOKEN\b|CLIENT_SECRET|PASSWORD"
    )
    for path in [".gitlab-ci.yml", ".gitlab/project-jobs.yml", "scripts/gitlab_child_pipeline.py"]:
        assert not forbidden.search((monorepo / path).read_text(encoding="utf-8")), path


# --- The parent pipeline ----------------------------------------------------------------------


@pytest.mark.parametrize("event", EVENTS)
def test_the_parent_discovers_then_runs_the_child(monorepo, event):
    assert listed_jobs(monorepo, EVENTS[event]) == {
        "discover": {"stage": "discover", "environment": "", "needs": ""},
        "projects": {"stage": "projects", "environment": "", "needs": "[discover]"},
    }


def test_the_parent_runs_the_child_the_discover_job_wrote(monorepo):
    config = parent(monorepo)
    discover_job, trigger = config["discover"], config["projects"]
    assert discover_job["variables"]["GIT_DEPTH"] == "0"
    assert discover_job["artifacts"]["paths"] == [CHILD]
    assert trigger["trigger"] == {
        "include": [{"artifact": CHILD, "job": "discover"}],
        "strategy": "depend",
    }
    assert trigger["variables"] == {
        "PARENT_PIPELINE_SOURCE": "$CI_PIPELINE_SOURCE",
        "PARENT_COMMIT_BRANCH": "$CI_COMMIT_BRANCH",
    }
    assert "id_tokens" not in discover_job and discover_job["timeout"] == "10m"
    assert discover_job["image"] == "python:3.11-slim-bookworm"


# --- Which projects a change runs -------------------------------------------------------------


def change(repo: Path, paths: list[str]) -> None:
    for path in paths:
        with (repo / path).open("a", encoding="utf-8") as file:
            file.write("\n# changed\n")
    commit_all(repo, "A change")


SELECTIONS = {
    "one project, merge request": (
        ["fraud-detection/README.md"],
        "merge request",
        ["fraud-detection"],
    ),
    "one project, push to default": (
        ["demand-forecast/databricks.yml"],
        "push to default",
        ["demand-forecast"],
    ),
    "both projects, merge request": (
        ["fraud-detection/README.md", "demand-forecast/Makefile"],
        "merge request",
        list(PROJECTS),
    ),
    "shared CI files, push to release": (
        [".gitlab/project-jobs.yml"],
        "push to release",
        list(PROJECTS),
    ),
    "first push, push to default": (None, "push to default", list(PROJECTS)),
    "outside every project, merge request": (["docs/ci-cd-setup.md"], "merge request", []),
    "outside every project, push to release": (["docs/ci-cd-setup.md"], "push to release", []),
}


@pytest.mark.parametrize("case", SELECTIONS)
def test_a_change_runs_the_jobs_of_the_projects_it_touches(clone, case):
    paths, event, expected = SELECTIONS[case]
    base = git(clone, "rev-parse", "HEAD")
    if paths is None:
        base = NO_BASE  # GitLab's "before" commit of a new branch
    else:
        change(clone, paths)
    if event == "merge request":  # GitLab sends no "before" commit for merge requests
        variables = {"CI_MERGE_REQUEST_DIFF_BASE_SHA": base, "CI_COMMIT_BEFORE_SHA": NO_BASE}
    else:
        variables = {"CI_COMMIT_BEFORE_SHA": base}
    result = discover(clone, **variables)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == f"projects to check: {', '.join(sorted(expected)) or 'none'}"
    assert child_projects(clone) == set(expected)
    jobs = listed_jobs(clone, forwarded(clone, event), file=CHILD)
    if expected:
        assert jobs == expected_child_jobs(sorted(expected), event)
    else:
        assert jobs == {NO_PROJECT_JOB: {"stage": "request-checks", "environment": "", "needs": ""}}


@pytest.mark.parametrize("event", EVENTS)
def test_the_child_runs_each_event_s_jobs_for_every_project(monorepo, clone, event):
    write_child(clone)
    jobs = listed_jobs(clone, forwarded(clone, event), file=CHILD)
    assert jobs == expected_child_jobs(sorted(PROJECTS), event)


def test_the_child_runs_nothing_for_another_event(clone):
    write_child(clone)
    other = {"PARENT_PIPELINE_SOURCE": "push", "PARENT_COMMIT_BRANCH": "feature"}
    assert listed_jobs(clone, other, file=CHILD) == {}


def test_discovery_fails_clearly_when_two_projects_share_a_key(clone):
    shutil.copytree(clone / "fraud-detection", clone / "Fraud_Detection")
    commit_all(clone, "A second fraud detection")
    result = discover(clone, CI_COMMIT_BEFORE_SHA=NO_BASE)
    assert result.returncode != 0
    assert "share the variable prefix FRAUD_DETECTION" in result.stderr


# --- The jobs of each project -----------------------------------------------------------------


def stage_of(job: dict) -> str:
    (rule,) = job["rules"]
    condition = " ".join(rule["if"].split())
    if condition == '$PARENT_PIPELINE_SOURCE == "merge_request_event"':
        return "request checks"
    branch = re.fullmatch(
        r'\$PARENT_PIPELINE_SOURCE == "push" && \$PARENT_COMMIT_BRANCH == "(.+)"', condition
    ).group(1)
    return {DEFAULT: "staging deploy", RELEASE: "prod deploy"}[branch]


def test_each_project_runs_the_single_project_commands_in_its_folder(child_jobs):
    stages = {project: {stage: [] for stage in EXPECTED_STAGES} for project in PROJECTS}
    for name, job in child_jobs.items():
        project, _ = project_and_job(name)
        assert job["variables"]["PROJECT_PATH"] == project
        assert job["variables"]["PROJECT_KEY"] == PROJECTS[project]
        for shell in (lines(job, "before_script", "script"), lines(job, "after_script")):
            commands = [i for i, line in enumerate(shell) if COMMAND.fullmatch(line)]
            if commands:
                assert shell.index('cd "$PROJECT_PATH"') < commands[0], name
        stages[project][stage_of(job)] += [
            line
            for line in lines(job, "before_script", "script", "after_script")
            if COMMAND.fullmatch(line)
        ]
    assert stages == {project: EXPECTED_STAGES for project in PROJECTS}


def test_jobs_need_only_their_own_project(child_jobs):
    for name, job in child_jobs.items():
        project, _ = project_and_job(name)
        for need in job.get("needs", []):
            assert project_and_job(need["job"])[0] == project, name


def test_only_jobs_that_call_databricks_get_an_identity(child_jobs):
    for name, job in child_jobs.items():
        calls = any(line.startswith("databricks ") for line in lines(job, "script"))
        assert ("id_tokens" in job) is calls, name
        if calls:
            assert job["id_tokens"] == {"DATABRICKS_OIDC_TOKEN": {"aud": "$DATABRICKS_ACCOUNT_ID"}}
            assert job["variables"]["DATABRICKS_AUTH_TYPE"] == "env-oidc"


def test_every_job_has_a_timeout_and_the_python_image(monorepo, child_jobs):
    jobs = {**child_jobs, "discover": parent(monorepo)["discover"]}
    for name, job in jobs.items():
        assert re.fullmatch(r"\d+m", job["timeout"]), name
        image = job["image"]["name"] if isinstance(job["image"], dict) else job["image"]
        assert image == "python:3.11-slim-bookworm", name


def test_deployments_queue_per_project_and_stage_and_are_never_cut_off(monorepo, child_jobs):
    assert parent(monorepo)["workflow"]["auto_cancel"]["on_new_commit"] == "interruptible"
    locks = {}
    for name, job in child_jobs.items():
        project, kind = project_and_job(name)
        deploys = any(line.startswith("databricks bundle deploy") for line in lines(job, "script"))
        assert ("resource_group" in job) is deploys, name
        # gitlab-ci-local leaves out the pipeline's default, `interruptible: true`.
        assert job.get("interruptible", True) is not deploys, name
        if deploys:
            locks[name] = job["resource_group"]
            if kind.startswith("deploy-"):
                stage = kind.removeprefix("deploy-")
                assert job["environment"]["name"] == f"{project}/{stage}"
    assert locks == {
        f"{project}:{kind}": f"{project}/{target}"
        for project in PROJECTS
        for kind, target in [
            ("integration-test", "test"),
            ("deploy-staging", "staging"),
            ("deploy-prod", "prod"),
        ]
    }


# --- Running the jobs' scripts: each project acts as its own service principals ---------------

SETUP_LINE = re.compile(r"(apt-get|mkdir -p /usr/share|bash scripts/install-databricks-cli\.sh) ")


def client_ids() -> dict[str, str]:
    return {
        f"{key}_DATABRICKS_{principal}_CLIENT_ID": f"{key.lower()}-{principal.lower()}"
        for key in PROJECTS.values()
        for principal in ("CI", "STAGING", "PROD")
    }


def run_job(repo: Path, job: dict, tmp_path: Path, env: dict) -> tuple[list[list[str]], str]:
    """Run a job's shells as the runner does (before_script and script in one, after_script in
    another) with `databricks` and `make` recording where and how they were called. The setup
    lines (packages, the CLI install) are the single project's and are left out."""
    stubs = tmp_path / "bin"
    stubs.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "calls.log"
    for program in ("databricks", "make"):
        stub = stubs / program
        stub.write_text(
            "#!/bin/sh\n"
            f'echo "$PWD|{program} $*|$DATABRICKS_CLIENT_ID|'
            f'$BUNDLE_VAR_service_principal_application_id" >> "{log}"\n'
        )
        stub.chmod(0o755)
    job_env = {"PATH": f"{stubs}:/usr/bin:/bin", **job["variables"], **env}
    errors = ""
    for keys in (("before_script", "script"), ("after_script",)):
        shell = [line for line in lines(job, *keys) if not SETUP_LINE.match(line)]
        result = subprocess.run(
            ["bash", "-c", "\n".join(["set -eo pipefail", *shell])],
            cwd=repo,
            env=job_env,
            capture_output=True,
            text=True,
        )
        errors += result.stderr
        if result.returncode != 0:
            break
    calls = [line.split("|") for line in log.read_text().splitlines()] if log.exists() else []
    return calls, errors


def test_each_project_acts_as_its_own_service_principals(monorepo, child_jobs, tmp_path):
    for name, job in child_jobs.items():
        project, kind = project_and_job(name)
        calls, errors = run_job(monorepo, job, tmp_path / name.replace(":", "-"), client_ids())
        assert calls and errors == "", (name, errors)
        expected = [
            line
            for line in lines(job, "before_script", "script", "after_script")
            if COMMAND.fullmatch(line)
        ]
        assert [call[1] for call in calls] == expected, name  # the after_script's too
        key = PROJECTS[project].lower()
        for folder, command, client_id, run_as in calls:
            assert Path(folder) == monorepo / project, (name, command)
            if command.startswith("databricks "):
                assert client_id == f"{key}-{CLIENT_ID_OF_JOB[kind].lower()}", (name, command)
                target = re.search(r" -t (\w+)", command).group(1)
                if target in RUN_AS_OF_TARGET:
                    assert run_as == f"{key}-{RUN_AS_OF_TARGET[target].lower()}", (name, command)


def test_a_missing_client_id_stops_the_job_naming_it(monorepo, child_jobs, tmp_path):
    job = child_jobs["demand-forecast:deploy-prod"]
    ids = {
        name: value
        for name, value in client_ids().items()
        if name != "DEMAND_FORECAST_DATABRICKS_PROD_CLIENT_ID"
    }
    calls, errors = run_job(monorepo, job, tmp_path, ids)
    assert calls == []
    assert errors.strip() == (
        "error: the CI/CD variable DEMAND_FORECAST_DATABRICKS_PROD_CLIENT_ID is not set: set it "
        "to the application ID of the project's service principal (docs/ci-cd-setup.md, section 3)"
    )


# --- The setup guide --------------------------------------------------------------------------


def test_the_guide_connects_gitlab_for_every_project(monorepo):
    guide = (monorepo / "docs/ci-cd-setup.md").read_text(encoding="utf-8")
    assert "SECTION" not in guide
    for text in [
        "DATABRICKS_ACCOUNT_ID",
        "federate_project",
        'federate "$1" project_path "$REPOSITORY"',
        f'sub "project_path:$REPOSITORY:ref_type:branch:ref:{DEFAULT}"',
        f'sub "project_path:$REPOSITORY:ref_type:branch:ref:{RELEASE}"',
        "`<project>/staging` and `<project>/prod`",
        "`<project>/test`",
        "`no-project-changed`",
    ]:
        assert text in guide, text
