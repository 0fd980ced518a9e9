"""The Azure DevOps pipelines of a repository of ML projects (setup_mode=cicd_only): valid for
Azure Pipelines, the single project's commands run per project in its folder as its own service
principals, and the selection of projects run for real, the way the pipelines run it."""

import json
import os
import re
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from conftest import full_answers
from monorepo import PROJECTS, build_monorepo, git
from test_cicd import (
    BIN,
    EXPECTED_STAGES,
    SCHEMAS,
    YAMLLINT_CONFIG,
    azure_stage,
    azure_steps,
    commands_in,
    load_yaml,
    run,
)

ANSWERS = {"setup_mode": "cicd_only", "cicd_platform": "azure_devops"}
PIPELINES = "devops-pipelines"
PIPELINE_FILES = ["deploy-prod.yml", "deploy-staging.yml", "request-checks.yml"]
MATRIX = "$[ dependencies.Discover.outputs['select.projects'] ]"
ANY_PROJECT = "and(succeeded(), ne(dependencies.Discover.outputs['select.projects'], '{}'))"
SET_PROJECTS = "##vso[task.setvariable variable=projects;isOutput=true]"
# The service principals each stage reads, and the one its Databricks commands act as.
ROLES = {
    "request checks": ["CI", "STAGING", "PROD"],
    "staging deploy": ["STAGING"],
    "prod deploy": ["PROD"],
}
ACTS_AS = {"request checks": "CI", "staging deploy": "STAGING", "prod deploy": "PROD"}
RUN_AS = {"staging": "STAGING", "prod": "PROD"}
ENVIRONMENT = {"request checks": "test", "staging deploy": "staging", "prod deploy": "prod"}


@pytest.fixture(scope="module")
def answer() -> dict:
    return full_answers(ANSWERS)


@pytest.fixture(scope="module")
def monorepo(tmp_path_factory) -> Path:
    """The CI/CD bake with two projects baked into it, committed on the default branch."""
    return build_monorepo(tmp_path_factory.mktemp("monorepo"), ANSWERS)


@pytest.fixture(scope="module")
def pipelines(monorepo) -> dict[str, dict]:
    folder = monorepo / ".azure" / PIPELINES
    return {path.name: load_yaml(path) for path in sorted(folder.glob("*.yml"))}


def stage_of(pipeline: dict, answer: dict) -> str:
    return azure_stage(pipeline, answer)


def job_named(pipeline: dict, name: str) -> dict:
    (job,) = [job for job in pipeline["jobs"] if name in (job.get("job"), job.get("deployment"))]
    return job


def step_named(job: dict, display_name: str) -> dict:
    (step,) = [step for step in azure_steps(job) if step.get("displayName") == display_name]
    return step


def principal_step(job: dict) -> dict:
    (step,) = [
        step
        for step in azure_steps(job)
        if step.get("displayName", "").startswith("Find the project's service principal")
    ]
    return step


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A step's script as the agent runs it: bash, with only the given variables set."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, capture_output=True, text=True, env={**base, **env}
    )


# --- The files ------------------------------------------------------------------------------------


def test_only_the_azure_files_are_made(monorepo):
    ci = {p.relative_to(monorepo).as_posix() for p in monorepo.rglob("*") if p.is_file()}
    ci = {path for path in ci if path.startswith((".azure", ".github", ".gitlab", "scripts"))}
    assert ci == {
        *(f".azure/{PIPELINES}/{name}" for name in PIPELINE_FILES),
        "scripts/install-databricks-cli.sh",
        "scripts/changed_projects.py",
        "scripts/azure_last_deployment.py",
    }


def test_pipelines_match_the_azure_pipelines_schema(monorepo):
    ((schema, pattern),) = SCHEMAS["azure_devops"].items()
    files = sorted(str(path) for path in monorepo.glob(pattern))
    assert len(files) == len(PIPELINE_FILES)
    result = run(
        [BIN / "check-jsonschema", "--regex-variant", "nonunicode", "--builtin-schema", schema]
        + files
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pipelines_pass_yamllint(monorepo):
    files = [f".azure/{PIPELINES}/{name}" for name in PIPELINE_FILES]
    result = run([BIN / "yamllint", "--strict", "-d", YAMLLINT_CONFIG, *files], cwd=monorepo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_job_has_a_timeout_and_no_step_hides_a_failure(pipelines):
    for name, pipeline in pipelines.items():
        for job in pipeline["jobs"]:
            assert job["timeoutInMinutes"].isdigit(), name
            assert "continueOnError" not in job, name
            assert all("continueOnError" not in step for step in azure_steps(job)), name


def test_checkouts_keep_no_credentials(pipelines):
    for name, pipeline in pipelines.items():
        for job in pipeline["jobs"]:
            checkouts = [step for step in azure_steps(job) if "checkout" in step]
            assert len(checkouts) == 1, name
            (checkout,) = checkouts
            if checkout["checkout"] == "self":
                assert checkout["persistCredentials"] == "false", name
            else:  # the environment's gate needs no sources
                assert checkout["checkout"] == "none" and "deployment" in job, name


def test_no_secret_host_or_pasted_expression(monorepo, pipelines):
    for name in PIPELINE_FILES:
        text = (monorepo / ".azure" / PIPELINES / name).read_text(encoding="utf-8")
        # Each project's databricks.yml names its workspaces.
        assert "DATABRICKS_HOST" not in text and "DATABRICKS_TOKEN" not in text, name
        assert not re.search(r"secrets?\b|CLIENT_SECRET|PASSWORD", text, re.IGNORECASE), name
        for match in re.finditer(r".*System\.AccessToken.*", text):
            assert match.group(0).strip() == "SYSTEM_ACCESSTOKEN: $(System.AccessToken)", name
    for pipeline in pipelines.values():
        for job in pipeline["jobs"]:
            for step in azure_steps(job):
                script = step.get("script", "") + step.get("bash", "")
                assert not re.search(r"\$\(|\$\{\{|\$\[", script), script


def test_python_version_is_quoted(pipelines):
    versions = [
        step["inputs"]["versionSpec"]
        for pipeline in pipelines.values()
        for job in pipeline["jobs"]
        for step in azure_steps(job)
        if step.get("task") == "UsePythonVersion@0"
    ]
    assert len(versions) == len(PIPELINE_FILES) and set(versions) == {"3.11"}


# --- What runs, where, as whom --------------------------------------------------------------------


def test_each_stage_runs_the_single_project_commands_in_the_project_folder(pipelines, answer):
    stages = {}
    for pipeline in pipelines.values():
        stage = stage_of(pipeline, answer)
        lines = []
        for job in pipeline["jobs"]:
            for step in azure_steps(job):
                for line in commands_in(step.get("script", "") + step.get("bash", "")):
                    assert job.get("job") == "project", line  # only the per-project legs
                    assert step["workingDirectory"] == "$(PROJECT_PATH)", line
                    lines.append(line)
        stages[stage] = lines
    assert stages == EXPECTED_STAGES


def test_databricks_commands_act_as_the_project_own_principals(pipelines, answer):
    for pipeline in pipelines.values():
        stage = stage_of(pipeline, answer)
        legs = job_named(pipeline, "project")
        assert legs["variables"] == {"DATABRICKS_AUTH_TYPE": "azure-devops-oidc"}
        for step in azure_steps(legs):
            lines = commands_in(step.get("script", "") + step.get("bash", ""))
            calls_databricks = any(line.startswith("databricks ") for line in lines)
            env = step.get("env", {})
            # The job token goes only to the steps that call Databricks.
            assert (env.get("SYSTEM_ACCESSTOKEN") == "$(System.AccessToken)") is calls_databricks
            if not calls_databricks:
                continue
            assert env["DATABRICKS_CLIENT_ID"] == f"$(PROJECT_{ACTS_AS[stage]}_CLIENT_ID)"
            target = re.search(r" -t (\w+)", lines[0]).group(1)
            run_as = env.get("BUNDLE_VAR_service_principal_application_id")
            if target in RUN_AS:
                assert run_as == f"$(PROJECT_{RUN_AS[target]}_CLIENT_ID)", lines
            else:
                assert run_as is None, lines


@pytest.mark.parametrize("name", PIPELINE_FILES)
def test_the_principals_are_read_from_the_leg_project_variables(monorepo, pipelines, answer, name):
    pipeline = pipelines[name]
    stage = stage_of(pipeline, answer)
    step = principal_step(job_named(pipeline, "project"))
    variables = {
        f"{key}_DATABRICKS_{role}_CLIENT_ID": f"{key.lower()}-{role.lower()}-id"
        for key in ("FRAUD_DETECTION", "DEMAND_FORECAST")
        for role in ("CI", "STAGING", "PROD")
    }
    result = bash(step["bash"], monorepo, {"PROJECT_KEY": "DEMAND_FORECAST", **variables})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"##vso[task.setvariable variable=PROJECT_{role}_CLIENT_ID]demand_forecast-"
        f"{role.lower()}-id"
        for role in ROLES[stage]
    ]
    # Every variable the Databricks steps read is one this step sets.
    read = {
        value
        for step in azure_steps(job_named(pipeline, "project"))
        for value in step.get("env", {}).values()
        if value.startswith("$(PROJECT_")
    }
    assert read == {f"$(PROJECT_{role}_CLIENT_ID)" for role in ROLES[stage]}


@pytest.mark.parametrize("name", PIPELINE_FILES)
def test_a_missing_project_variable_fails_the_leg_naming_it(monorepo, pipelines, answer, name):
    pipeline = pipelines[name]
    roles = ROLES[stage_of(pipeline, answer)]
    step = principal_step(job_named(pipeline, "project"))
    variables = {f"FRAUD_DETECTION_DATABRICKS_{role}_CLIENT_ID": "an-id" for role in roles[:-1]}
    result = bash(step["bash"], monorepo, {"PROJECT_KEY": "FRAUD_DETECTION", **variables})
    assert result.returncode == 1
    missing = f"FRAUD_DETECTION_DATABRICKS_{roles[-1]}_CLIENT_ID"
    assert result.stdout.splitlines()[-1] == (
        f"##vso[task.logissue type=error]The pipeline variable {missing} is not set "
        "(docs/ci-cd-setup.md, section 3)."
    )
    guide = (monorepo / "docs/ci-cd-setup.md").read_text(encoding="utf-8")
    assert "## 3. Each project's service principals and variables" in guide


# --- The matrix, the gates and the locks ----------------------------------------------------------


def test_each_selected_project_gets_a_leg_that_stops_no_other(pipelines):
    for name, pipeline in pipelines.items():
        assert [job.get("job") or job["deployment"] for job in pipeline["jobs"]][0] == "Discover"
        discover = job_named(pipeline, "Discover")
        (select,) = [step for step in discover["steps"] if step.get("name") == "select"]
        assert SET_PROJECTS in select["bash"], name
        legs = job_named(pipeline, "project")
        assert legs["strategy"] == {"matrix": MATRIX}, name  # no maxParallel: all side by side
        assert "Discover" in legs["dependsOn"], name
        # Nothing selected: the legs and the gate are skipped, and the run passes.
        assert legs["condition"] == ANY_PROJECT, name


def test_runs_go_through_one_environment_whose_checks_hold_the_run(pipelines, answer):
    slug = answer["project_slug"]
    for name, pipeline in pipelines.items():
        stage = stage_of(pipeline, answer)
        assert "stages" not in pipeline, name  # one stage: the environment's checks hold it all
        assert pipeline["lockBehavior"] == "sequential", name
        (gate,) = [job for job in pipeline["jobs"] if "deployment" in job]
        assert gate["environment"] == f"{slug}-{ENVIRONMENT[stage]}", name
        assert gate["dependsOn"] == "Discover" and gate["condition"] == ANY_PROJECT, name
        assert gate["deployment"] in job_named(pipeline, "project")["dependsOn"], name
        # The gate itself runs nothing of the project and gets no identity.
        assert all("env" not in step for step in azure_steps(gate)), name
        if stage == "request checks":
            assert pipeline["pr"]["autoCancel"] == "false"
        else:
            assert pipeline["trigger"]["batch"] == "true"


def test_the_integration_test_cleans_up_once_it_deployed(pipelines):
    legs = job_named(pipelines["request-checks.yml"], "project")
    steps = azure_steps(legs)
    marker = step_named(legs, "Mark the test target as used")
    deploy = step_named(legs, "Deploy the test target")
    destroy = step_named(legs, "Remove what the test deployed")
    assert steps.index(marker) + 1 == steps.index(deploy)
    assert marker["bash"].strip() == 'echo "##vso[task.setvariable variable=TEST_TARGET_USED]true"'
    assert destroy["condition"] == "and(always(), eq(variables['TEST_TARGET_USED'], 'true'))"
    assert steps[-1] is destroy


# --- The selection, run as the pipelines run it ---------------------------------------------------


def discovery(pipeline: dict) -> str:
    (step,) = [s for s in job_named(pipeline, "Discover")["steps"] if s.get("name") == "select"]
    return step["bash"]


def matrix_of(result: subprocess.CompletedProcess) -> dict:
    """The matrix the step hands to the legs: its one output line, as Azure Pipelines reads it."""
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith(SET_PROJECTS), line
    return json.loads(line.removeprefix(SET_PROJECTS))


def legs(*paths: str) -> dict:
    keys = {"fraud-detection": "FRAUD_DETECTION", "demand-forecast": "DEMAND_FORECAST"}
    return {keys[path]: {"PROJECT_PATH": path, "PROJECT_KEY": keys[path]} for path in paths}


@pytest.fixture
def pull_request(monorepo, answer, tmp_path):
    """A clone of the repository checked out as Azure Pipelines checks out a pull request: the
    merge of its branch into the target branch, which moved on since the branch started (with a
    change to demand-forecast that is not the pull request's)."""

    def make(changes: dict[str, str]) -> Path:
        clone = tmp_path / "clone"
        default = answer["default_branch"]
        subprocess.run(["git", "clone", "--quiet", str(monorepo), str(clone)], check=True)
        git(clone, "switch", "--quiet", "-c", "feature")
        for path, text in changes.items():  # added at the end of the file
            (clone / path).parent.mkdir(parents=True, exist_ok=True)
            with (clone / path).open("a", encoding="utf-8") as file:
                file.write(text)
        git(clone, "add", "--all")
        git(clone, "commit", "--quiet", "-m", "The pull request")
        git(clone, "switch", "--quiet", default)
        (clone / "demand-forecast/NOTES.md").write_text("merged elsewhere\n", encoding="utf-8")
        git(clone, "add", "--all")
        git(clone, "commit", "--quiet", "-m", "Another pull request")
        # As fetched by the checkout: the target branch as the server has it now.
        git(clone, "update-ref", f"refs/remotes/origin/{default}", "HEAD")
        git(clone, "switch", "--quiet", "--detach", f"origin/{default}")
        git(clone, "merge", "--quiet", "--no-ff", "-m", "Merge pull request", "feature")
        return clone

    return make


PULL_REQUEST_CASES = {
    "one project": ({"fraud-detection/README.md": "changed\n"}, legs("fraud-detection")),
    "both projects": (
        {"fraud-detection/README.md": "changed\n", "demand-forecast/README.md": "changed\n"},
        legs("demand-forecast", "fraud-detection"),
    ),
    "the shared CI files": (
        {f".azure/{PIPELINES}/request-checks.yml": "# changed\n"},
        legs("demand-forecast", "fraud-detection"),
    ),
    "the selection script": (
        {"scripts/changed_projects.py": "# changed\n"},
        legs("demand-forecast", "fraud-detection"),
    ),
    "outside every project": ({"CONTRIBUTING.md": "new\n"}, {}),
}


@pytest.mark.parametrize("changed", PULL_REQUEST_CASES)
@pytest.mark.parametrize("target", ["refs/heads/{}", "{}"], ids=["azure-repos", "github"])
def test_a_pull_request_checks_the_projects_it_changes(
    pipelines, pull_request, answer, changed, target
):
    changes, expected = PULL_REQUEST_CASES[changed]
    clone = pull_request(changes)
    env = {"SYSTEM_PULLREQUEST_TARGETBRANCH": target.format(answer["default_branch"])}
    result = bash(discovery(pipelines["request-checks.yml"]), clone, env)
    assert matrix_of(result) == expected
    if not expected:  # what the legs' and the gate's conditions compare with
        assert result.stdout.strip() == SET_PROJECTS + "{}"
        assert "projects to check: none" in result.stderr


def test_a_run_without_a_pull_request_checks_every_project(pipelines, pull_request):
    clone = pull_request({"fraud-detection/README.md": "changed\n"})
    result = bash(discovery(pipelines["request-checks.yml"]), clone, {})
    assert matrix_of(result) == legs("demand-forecast", "fraud-detection")


def test_an_unknown_target_branch_checks_every_project(pipelines, pull_request):
    clone = pull_request({"fraud-detection/README.md": "changed\n"})
    env = {"SYSTEM_PULLREQUEST_TARGETBRANCH": "refs/heads/gone"}
    result = bash(discovery(pipelines["request-checks.yml"]), clone, env)
    assert matrix_of(result) == legs("demand-forecast", "fraud-detection")
    assert "every project is selected" in result.stderr


def test_a_shallow_checkout_checks_every_project(pipelines, pull_request, tmp_path, answer):
    clone = pull_request({"fraud-detection/README.md": "changed\n"})
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", clone.as_uri(), str(shallow)], check=True
    )
    env = {"SYSTEM_PULLREQUEST_TARGETBRANCH": f"refs/heads/{answer['default_branch']}"}
    result = bash(discovery(pipelines["request-checks.yml"]), shallow, env)
    assert matrix_of(result) == legs("demand-forecast", "fraud-detection")


class BuildsApi:
    """A stand-in for the Builds API of Azure DevOps, which no test can reach: it answers the
    one query the deploy pipelines make with a fixed status and body, and records the request."""

    def __init__(self):
        self.status, self.body, self.requests = 200, {"count": 0, "value": []}, []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                api.requests.append((self.path, self.headers.get("Authorization")))
                payload = json.dumps(api.body).encode()
                self.send_response(api.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/org/"

    def last_success(self, commit: str) -> None:
        run = {"id": 41, "result": "succeeded", "sourceVersion": commit}
        self.body = {"count": 1, "value": [run]}


@pytest.fixture
def builds_api():
    api = BuildsApi()
    yield api
    api.server.shutdown()


@pytest.fixture
def pushed(monorepo, tmp_path):
    """A clone of the repository at a push of one commit: (the clone, the commit before it)."""

    def make(changes: dict[str, str]) -> tuple[Path, str]:
        clone = tmp_path / "pushed"
        subprocess.run(["git", "clone", "--quiet", str(monorepo), str(clone)], check=True)
        before = git(clone, "rev-parse", "HEAD").strip()
        for path, text in changes.items():
            (clone / path).parent.mkdir(parents=True, exist_ok=True)
            with (clone / path).open("a", encoding="utf-8") as file:
                file.write(text)
        git(clone, "add", "--all")
        git(clone, "commit", "--quiet", "-m", "The push")
        return clone, before

    return make


def deploy_selection(
    pipeline: dict, clone: Path, api: BuildsApi, **agent: str
) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """Run the deploy pipeline's two discovery steps as the agent does: the first sets
    LAST_DEPLOYED_COMMIT, which the agent hands to the second as an environment variable."""
    steps = job_named(pipeline, "Discover")["steps"]
    (find,) = [step for step in steps if "azure_last_deployment" in step.get("bash", "")]
    assert find["env"] == {"SYSTEM_ACCESSTOKEN": "$(System.AccessToken)"}
    env = {
        "SYSTEM_COLLECTIONURI": api.url,
        "SYSTEM_TEAMPROJECTID": "project-id",
        "SYSTEM_DEFINITIONID": "7",
        "BUILD_SOURCEBRANCH": "refs/heads/main",
        "SYSTEM_ACCESSTOKEN": "job-token",
        **agent,
    }
    env = {name: value for name, value in env.items() if value}
    found = bash(find["bash"], clone, env)
    assert found.returncode == 0, found.stderr
    (line,) = found.stdout.splitlines()
    prefix = "##vso[task.setvariable variable=LAST_DEPLOYED_COMMIT]"
    assert line.startswith(prefix), line
    selected = bash(discovery(pipeline), clone, {"LAST_DEPLOYED_COMMIT": line.removeprefix(prefix)})
    return found, selected


DEPLOY_PIPELINES = pytest.mark.parametrize("name", ["deploy-staging.yml", "deploy-prod.yml"])


@DEPLOY_PIPELINES
def test_a_push_deploys_the_projects_changed_since_the_last_successful_run(
    pipelines, pushed, builds_api, name
):
    clone, before = pushed({"fraud-detection/README.md": "changed\n"})
    builds_api.last_success(before)
    found, selected = deploy_selection(pipelines[name], clone, builds_api)
    assert matrix_of(selected) == legs("fraud-detection")
    assert found.stderr == f"last successful run deployed {before}\n"
    [(path, authorization)] = builds_api.requests
    assert authorization == "Bearer job-token"
    assert path.startswith("/org/project-id/_apis/build/builds?")
    query = dict(parse_qsl(path.split("?", 1)[1]))
    assert query == {
        "definitions": "7",
        "branchName": "refs/heads/main",
        "statusFilter": "completed",
        "resultFilter": "succeeded",
        "queryOrder": "finishTimeDescending",
        "$top": "1",
        "api-version": "7.1",
    }


@DEPLOY_PIPELINES
def test_changes_since_a_failed_run_are_deployed_again(pipelines, pushed, builds_api, name):
    """The run of a push to demand-forecast failed; the next push changes fraud-detection: the
    last successful run is older than both, and both projects are deployed."""
    clone, before = pushed({"demand-forecast/README.md": "changed\n"})
    (clone / "fraud-detection/README.md").write_text("changed\n", encoding="utf-8")
    git(clone, "commit", "--quiet", "--all", "-m", "The next push")
    builds_api.last_success(before)
    _, selected = deploy_selection(pipelines[name], clone, builds_api)
    assert matrix_of(selected) == legs("demand-forecast", "fraud-detection")


UNKNOWN_LAST_DEPLOYMENT = {
    "the pipeline's first run": (200, {"count": 0, "value": []}, {}, "no successful run yet"),
    "a token that may not read builds": (401, {"message": "denied"}, {}, "HTTP Error 401"),
    "a run of a commit the clone lacks": (
        200,
        {"value": [{"sourceVersion": "1" * 40}]},
        {},
        "cannot compare with 1111111",
    ),
    "a run that names no commit": (200, {"value": [{"id": 3}]}, {}, "names no commit"),
    "the token not mapped": (200, {}, {"SYSTEM_ACCESSTOKEN": ""}, "SYSTEM_ACCESSTOKEN not set"),
}


@DEPLOY_PIPELINES
@pytest.mark.parametrize("case", UNKNOWN_LAST_DEPLOYMENT)
def test_a_push_whose_last_deployment_is_unknown_deploys_every_project(
    pipelines, pushed, builds_api, name, case
):
    status, body, agent, note = UNKNOWN_LAST_DEPLOYMENT[case]
    builds_api.status, builds_api.body = status, body
    clone, _ = pushed({"fraud-detection/README.md": "changed\n"})
    found, selected = deploy_selection(pipelines[name], clone, builds_api, **agent)
    assert matrix_of(selected) == legs("demand-forecast", "fraud-detection")
    assert note in found.stderr + selected.stderr
    assert "job-token" not in found.stdout + found.stderr


def test_a_repository_without_projects_selects_none(pipelines, monorepo, tmp_path):
    empty = tmp_path / "empty"
    shutil.copytree(monorepo, empty, ignore=shutil.ignore_patterns(".git", *PROJECTS))
    git(empty, "init", "--quiet")
    git(empty, "add", "--all")
    git(empty, "commit", "--quiet", "-m", "CI/CD only")
    for pipeline in pipelines.values():
        assert matrix_of(bash(discovery(pipeline), empty, {})) == {}


# --- The guide ------------------------------------------------------------------------------------


def test_the_guide_connects_what_the_pipelines_use(monorepo, pipelines, answer):
    guide = (monorepo / "docs/ci-cd-setup.md").read_text(encoding="utf-8")
    slug = answer["project_slug"]
    assert "SECTION" not in guide
    for stage in ("request-checks", "deploy-staging", "deploy-prod"):
        assert f'"{slug}-{stage}"' in guide  # the federation policy of each project
        assert f"`p://<organization>/<devops project>/{slug}-{stage}`" in guide
    for branch in (answer["default_branch"], answer["release_branch"]):
        assert f"`refs/heads/{branch}`" in guide
    for pipeline in pipelines.values():
        for job in pipeline["jobs"]:
            if "environment" in job:
                assert f"`{job['environment']}`" in guide
    for role in ("CI", "STAGING", "PROD"):
        assert f'"${{KEY}}_DATABRICKS_{role}_CLIENT_ID"' in guide
    assert "Projects are kept apart by variables, not by the token." in guide


def test_a_selection_error_fails_the_run(pipelines, pull_request, answer):
    """Two folders with one key: the step fails instead of handing the legs an empty matrix."""
    clone = pull_request({"fraud_detection/databricks.yml": "bundle: {name: twin}\n"})
    env = {"SYSTEM_PULLREQUEST_TARGETBRANCH": f"refs/heads/{answer['default_branch']}"}
    for pipeline in pipelines.values():
        result = bash(discovery(pipeline), clone, env)
        assert result.returncode != 0
        assert SET_PROJECTS not in result.stdout
        assert "share the variable prefix FRAUD_DETECTION" in result.stderr
