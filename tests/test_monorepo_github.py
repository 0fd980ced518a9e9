"""The monorepo CI/CD on GitHub Actions and GitHub Enterprise Server: a cicd_only bake holding two
project_only projects, committed to git. The workflows pass the single project's checks (schema,
yamllint, zizmor, pins, least privilege), run the single project's commands in each project's
folder as that project's service principals, and select the projects a change touches by running
their own discovery command line."""

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from monorepo import build_monorepo, git
from test_cicd import (
    BIN,
    CLIENT_ID_VARIABLE,
    EXPECTED_STAGES,
    PINNED_ACTION,
    PROJECT_TEMPLATE,
    RUN_AS_VARIABLE,
    SCHEMAS,
    YAMLLINT_CONFIG,
    commands_in,
    github_stage,
    github_triggers,
    github_workflows,
    pinned_cli_version,
    run,
    zizmor_findings,
)

PLATFORMS = ["github_actions", "github_enterprise"]
DEFAULT_BRANCH, RELEASE_BRANCH = "main", "release"
ANSWERS = {"default_branch": DEFAULT_BRANCH, "release_branch": RELEASE_BRANCH}
FRAUD = {"path": "fraud-detection", "name": "fraud-detection", "key": "FRAUD_DETECTION"}
DEMAND = {"path": "demand-forecast", "name": "demand-forecast", "key": "DEMAND_FORECAST"}
PROJECTS = [FRAUD, DEMAND]
MATRIX = "${{ fromJSON(needs.discover.outputs.projects) }}"
# What each workflow compares the change with: the pull request's base, the commit before a push.
DISCOVERY_BASE = {
    "request-checks.yml": "${{ github.event.pull_request.base.sha }}",
    "deploy-staging.yml": "${{ github.event.before }}",
    "deploy-prod.yml": "${{ github.event.before }}",
}
# A project's variable, read at run time from its key: vars[format('{0}_NAME', <key>)].
PROJECT_VARIABLE = re.compile(r"\$\{\{ vars\[format\('\{0\}_(\w+)', matrix\.project\.key\)\] \}\}")
ENV_REFERENCE = re.compile(r"\$\{\{ env\.(\w+) \}\}")


@pytest.fixture(scope="module", params=PLATFORMS)
def monorepo(request, tmp_path_factory) -> Path:
    """A cicd_only bake with a serverless and a classic project baked into it, committed."""
    platform = request.param
    return build_monorepo(tmp_path_factory.mktemp(platform), {"cicd_platform": platform, **ANSWERS})


def platform_of(monorepo: Path) -> str:
    enterprise = (monorepo / "scripts/install-databricks-cli.sh").exists()
    return "github_enterprise" if enterprise else "github_actions"


def project_jobs(workflow: dict) -> dict[str, dict]:
    """The jobs that run once per selected project."""
    return {name: job for name, job in workflow["jobs"].items() if "strategy" in job}


@dataclass(frozen=True)
class Command:
    stage: str
    job: str
    line: str
    env: dict  # workflow, job and step env merged
    working_directory: str


def commands(monorepo: Path) -> list[Command]:
    found = []
    for workflow in github_workflows(monorepo).values():
        stage = github_stage(workflow, ANSWERS)
        for name, job in project_jobs(workflow).items():
            folder = job.get("defaults", {}).get("run", {}).get("working-directory")
            for step in job["steps"]:
                env = {**workflow.get("env", {}), **job.get("env", {}), **step.get("env", {})}
                for line in commands_in(step.get("run", "")):
                    directory = step.get("working-directory", folder)
                    found.append(Command(stage, name, line, env, directory))
    return found


def variable_read(value: str, env: dict, project: dict) -> str:
    """The name of the variable an env value reads for a project (following ${{ env.X }})."""
    reference = ENV_REFERENCE.fullmatch(value)
    if reference:
        return variable_read(env[reference.group(1)], env, project)
    match = PROJECT_VARIABLE.fullmatch(value)
    assert match, f"{value!r} does not read a project's variable"
    return f"{project['key']}_{match.group(1)}"


# --- The single project's checks ------------------------------------------------------------------


def test_the_monorepo_has_the_ci_files_and_both_projects(monorepo):
    workflows = sorted(path.name for path in (monorepo / ".github/workflows").iterdir())
    assert workflows == ["deploy-prod.yml", "deploy-staging.yml", "request-checks.yml"]
    dependabot = (monorepo / ".github/dependabot.yml").read_text()
    assert dependabot == (PROJECT_TEMPLATE / ".github/dependabot.yml").read_text()
    for project in PROJECTS:
        assert (monorepo / project["path"] / "databricks.yml").is_file()
        assert not (monorepo / project["path"] / ".github").exists()
    listed = run(["python3", "scripts/changed_projects.py"], cwd=monorepo)
    assert json.loads(listed.stdout) == sorted(PROJECTS, key=lambda p: p["path"])


def test_workflows_match_the_github_schemas(monorepo):
    for schema, pattern in SCHEMAS[platform_of(monorepo)].items():
        files = sorted(str(path) for path in monorepo.glob(pattern))
        assert files
        result = run([BIN / "check-jsonschema", "--builtin-schema", schema, *files])
        assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_pass_yamllint(monorepo):
    result = run([BIN / "yamllint", "--strict", "-d", YAMLLINT_CONFIG, ".github"], cwd=monorepo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_reports_no_findings(monorepo):
    assert zizmor_findings(monorepo) == []


def test_actions_are_pinned_to_commits_with_their_version(monorepo):
    for path in sorted((monorepo / ".github/workflows").glob("*.yml")):
        for line in path.read_text().splitlines():
            if "uses:" in line:
                assert PINNED_ACTION.search(line.strip()), f"{path.name}: {line.strip()}"


def test_jobs_hold_least_privilege(monorepo):
    for name, workflow in github_workflows(monorepo).items():
        assert workflow["permissions"] == {}, name
        assert set(github_triggers(workflow)) <= {"pull_request", "push"}, name
        for job_name, job in workflow["jobs"].items():
            runs = "\n".join(step.get("run", "") for step in job["steps"])
            checks_out = any(s.get("uses", "").startswith("actions/checkout") for s in job["steps"])
            expected = {"contents": "read"} if checks_out else {}
            if re.search(r"^databricks ", runs, re.MULTILINE):
                expected["id-token"] = "write"
            assert job["permissions"] == expected, f"{name}: {job_name}"


def test_checkouts_keep_no_credentials_and_every_job_has_a_timeout(monorepo):
    for workflow in github_workflows(monorepo).values():
        for job in workflow["jobs"].values():
            assert isinstance(job["timeout-minutes"], int)
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout"):
                    assert step["with"]["persist-credentials"] is False


def test_scripts_read_expressions_only_from_env(monorepo):
    for workflow in github_workflows(monorepo).values():
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), step["run"]


def test_python_is_quoted_and_the_cli_release_pinned(monorepo):
    platform = platform_of(monorepo)
    steps = [
        step
        for workflow in github_workflows(monorepo).values()
        for job in workflow["jobs"].values()
        for step in job["steps"]
    ]
    versions = {s["with"]["python-version"] for s in steps if "setup-python" in s.get("uses", "")}
    assert versions == {"3.11"}
    setup_cli = [s for s in steps if s.get("uses", "").startswith("databricks/setup-cli@")]
    installs = [s for s in steps if "install-databricks-cli.sh" in s.get("run", "")]
    if platform == "github_actions":
        assert setup_cli and {s["with"]["version"] for s in setup_cli} == {pinned_cli_version()}
        assert not installs
    else:
        script = "scripts/install-databricks-cli.sh"
        assert (monorepo / script).read_text() == (PROJECT_TEMPLATE / script).read_text()
        # The jobs run in a project's folder: the script is found from the repository's root.
        assert installs and not setup_cli
        for step in installs:
            assert step["run"].startswith(f'bash "$GITHUB_WORKSPACE/{script}" ')


def test_runners_are_the_platforms(monorepo):
    runners = {
        job["runs-on"]
        for workflow in github_workflows(monorepo).values()
        for job in workflow["jobs"].values()
    }
    if platform_of(monorepo) == "github_enterprise":
        assert runners == {"${{ vars.CI_RUNNER_LABEL || 'self-hosted' }}"}
    else:
        assert runners == {"ubuntu-24.04"}


# --- The single project's commands, per project ---------------------------------------------------


def test_each_stage_runs_the_single_project_commands(monorepo):
    stages = {stage: [] for stage in EXPECTED_STAGES}
    for command in commands(monorepo):
        stages[command.stage].append(command.line)
    assert stages == EXPECTED_STAGES


def test_commands_run_in_the_project_folder(monorepo):
    for command in commands(monorepo):
        assert command.working_directory == "${{ matrix.project.path }}", command
    for project in PROJECTS:
        assert (monorepo / project["path"] / "Makefile").is_file()


def test_databricks_commands_act_as_the_projects_service_principals(monorepo):
    databricks = [command for command in commands(monorepo) if command.line.startswith("databr")]
    assert databricks
    for command in databricks:
        env = command.env
        assert env["DATABRICKS_AUTH_TYPE"] == "github-oidc"
        assert "DATABRICKS_HOST" not in env, "each project's databricks.yml names its workspace"
        target = re.search(r" -t (\w+)", command.line).group(1)
        for project in PROJECTS:
            client = variable_read(env["DATABRICKS_CLIENT_ID"], env, project)
            assert client == f"{project['key']}_{CLIENT_ID_VARIABLE[command.stage]}", command
            if target in RUN_AS_VARIABLE:
                run_as = env["BUNDLE_VAR_service_principal_application_id"]
                assert variable_read(run_as, env, project) == (
                    f"{project['key']}_{RUN_AS_VARIABLE[target]}"
                ), command
    text = "".join(path.read_text() for path in (monorepo / ".github/workflows").glob("*.yml"))
    assert "DATABRICKS_HOST" not in text


def test_projects_run_side_by_side_and_never_cancel_a_deployment(monorepo):
    for name, workflow in github_workflows(monorepo).items():
        assert "concurrency" not in workflow, name
        jobs = project_jobs(workflow)
        assert jobs, name
        for job_name, job in jobs.items():
            assert job["needs"] == "discover", job_name
            assert "needs.discover.outputs.projects != '[]'" in job["if"], job_name
            assert job["strategy"] == {"fail-fast": False, "matrix": {"project": MATRIX}}
            lines = [line for step in job["steps"] for line in commands_in(step.get("run", ""))]
            deploys = any(line.startswith("databricks bundle deploy") for line in lines)
            concurrency = job["concurrency"]
            assert "${{ matrix.project.key }}" in concurrency["group"], job_name
            assert concurrency["cancel-in-progress"] is not deploys, job_name


def test_deployments_go_through_each_projects_environment(monorepo):
    for workflow in github_workflows(monorepo).values():
        stage = github_stage(workflow, ANSWERS)
        for job in workflow["jobs"].values():
            if stage == "request checks":
                assert "environment" not in job  # the token's subject is the pull request
            elif "strategy" in job:
                target = stage.split()[0]
                assert job["environment"] == {"name": f"${{{{ matrix.project.name }}}}-{target}"}


# --- Which projects a change selects --------------------------------------------------------------


def discovery_step(workflow: dict) -> dict:
    (step,) = [step for step in workflow["jobs"]["discover"]["steps"] if step.get("id")]
    return step


def test_discovery_sees_the_whole_history(monorepo):
    for name, workflow in github_workflows(monorepo).items():
        job = workflow["jobs"]["discover"]
        assert job["outputs"] == {"projects": "${{ steps.select.outputs.projects }}"}
        (checkout,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout")]
        assert checkout["with"] == {"fetch-depth": 0, "persist-credentials": False}, name
        assert discovery_step(workflow)["env"] == {"BASE": DISCOVERY_BASE[name]}, name


SHARED_WORKFLOW = ".github/workflows/request-checks.yml"
CHANGES = {
    "one project": (["fraud-detection/README.md"], ["fraud-detection"]),
    "both projects": (
        ["fraud-detection/src/fraud_detection/settings.py", "demand-forecast/Makefile"],
        ["demand-forecast", "fraud-detection"],
    ),
    "the shared CI files": ([SHARED_WORKFLOW], ["demand-forecast", "fraud-detection"]),
    "outside every project": (["NOTES.md"], []),
}


def discover(repository: Path, workflow: dict, base: str, tmp_path: Path) -> list[str]:
    """Run the workflow's discovery step as GitHub would; the names of the projects it selects."""
    output = tmp_path / "github_output"
    output.write_text("")
    step = discovery_step(workflow)
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=repository,
        env={"PATH": "/usr/bin:/bin", "BASE": base, "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    (line,) = output.read_text().splitlines()
    name, _, value = line.partition("=")
    assert name == "projects"
    projects = json.loads(value)
    # The project jobs run only when the output is not the empty list.
    assert (value == "[]") is (projects == [])
    return [project["name"] for project in projects]


@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("workflow_name", DISCOVERY_BASE)
def test_a_change_selects_the_projects_it_touches(monorepo, tmp_path, workflow_name, change):
    repository = tmp_path / "repository"
    subprocess.run(["git", "clone", "--quiet", monorepo, repository], check=True)
    workflow = github_workflows(repository)[workflow_name]
    base = git(repository, "rev-parse", "HEAD")
    paths, expected = CHANGES[change]
    for path in paths:
        with (repository / path).open("a") as file:
            file.write("\n# changed\n")
    git(repository, "add", "--all")
    git(repository, "commit", "--quiet", "-m", change)
    assert discover(repository, workflow, base, tmp_path) == expected


@pytest.mark.parametrize("base", ["0" * 40, "", "1234567890abcdef1234567890abcdef12345678"])
def test_an_unknown_base_selects_every_project(monorepo, tmp_path, base):
    """A first push sends an all-zero `before`; a force push, a commit the clone lacks."""
    workflow = github_workflows(monorepo)["deploy-staging.yml"]
    assert discover(monorepo, workflow, base, tmp_path) == ["demand-forecast", "fraud-detection"]


# --- The one check to require, and the variables --------------------------------------------------


def summarise(monorepo: Path, discovery: str, projects: str, local: str, databricks: str):
    job = github_workflows(monorepo)["request-checks.yml"]["jobs"]["passed"]
    (step,) = job["steps"]
    env = {"DISCOVERY": discovery, "PROJECTS": projects, "LOCAL": local, "DATABRICKS": databricks}
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    ("discovery", "projects", "local", "databricks", "passes"),
    [
        ("success", "[]", "skipped", "skipped", True),  # no project changed
        ("success", json.dumps(PROJECTS), "success", "success", True),
        ("success", json.dumps(PROJECTS), "success", "skipped", True),  # a fork: no OIDC token
        ("success", json.dumps(PROJECTS), "failure", "success", False),
        ("success", json.dumps(PROJECTS), "success", "failure", False),
        ("success", json.dumps(PROJECTS), "cancelled", "success", False),
        ("success", json.dumps(PROJECTS), "success", "cancelled", False),
        ("failure", "", "skipped", "skipped", False),  # e.g. two folders with the same key
    ],
)
def test_request_checks_passed_sums_up_every_project(
    monorepo, discovery, projects, local, databricks, passes
):
    result = summarise(monorepo, discovery, projects, local, databricks)
    assert (result.returncode == 0) is passes, result.stdout
    if not passes:
        assert result.stdout.startswith("::error::")


def test_request_checks_passed_waits_for_every_job(monorepo):
    workflow = github_workflows(monorepo)["request-checks.yml"]
    job = workflow["jobs"]["passed"]
    assert job["name"] == "Request checks passed"
    assert job["if"] == "always()"
    assert set(job["needs"]) == set(workflow["jobs"]) - {"passed"}


@pytest.mark.parametrize("workflow_name", DISCOVERY_BASE)
def test_a_missing_variable_is_named(monorepo, workflow_name):
    jobs = project_jobs(github_workflows(monorepo)[workflow_name]).values()
    (job,) = [job for job in jobs if "DATABRICKS_CLIENT_ID" in job.get("env", {})]
    (check,) = [step for step in job["steps"] if step.get("name", "").startswith("Check the")]
    readers: dict[str, list[str]] = {}  # each variable, and the env names that hold it
    for name, value in job["env"].items():
        if "vars[" in value:
            readers.setdefault(variable_read(value, job["env"], FRAUD), []).append(name)
    assert len(readers) == (3 if workflow_name == "request-checks.yml" else 1)
    given = dict.fromkeys(sum(readers.values(), []), "11111111-2222-3333-4444-555555555555")
    environment = {"PATH": "/usr/bin:/bin", "PROJECT_KEY": FRAUD["key"], **given}
    passed = run_check(check["run"], environment)
    assert passed.returncode == 0, passed.stdout
    for variable, names in readers.items():
        result = run_check(check["run"], {**environment, **dict.fromkeys(names, "")})
        assert result.returncode == 1
        assert f"Set the variable {variable} (docs/ci-cd-setup.md, section 3)" in result.stdout


def run_check(script: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script], env=env, capture_output=True, text=True
    )


def test_the_guide_connects_each_project(monorepo):
    guide = (monorepo / "docs/ci-cd-setup.md").read_text()
    assert "SECTION" not in guide
    enterprise = platform_of(monorepo) == "github_enterprise"
    for expected in [
        'federate "$CI_SP" "repo:$REPO:pull_request"',
        'federate "$STAGING_SP" "repo:$REPO:environment:$PROJECT-staging"',
        'federate "$PROD_SP" "repo:$REPO:environment:$PROJECT-prod"',
        "`repo:<owner>/<repository>:environment:<project>-prod`",
        'gh variable set "${KEY}_DATABRICKS_CI_CLIENT_ID"',
        'gh variable set "${KEY}_DATABRICKS_STAGING_CLIENT_ID"',
        'gh variable set "${KEY}_DATABRICKS_PROD_CLIENT_ID"',
        "`<project>-staging`: *Deployment branches and tags* → *Selected branches* →\n"
        f"  `{DEFAULT_BRANCH}`",
        f"*Selected\n  branches* → `{RELEASE_BRANCH}`",
        "**Request checks passed**",
    ]:
        assert expected in guide, expected
    assert ("/_services/token" in guide) is enterprise
    assert ("CI_RUNNER_LABEL" in guide) is enterprise
    assert ("token.actions.githubusercontent.com" in guide) is not enterprise
