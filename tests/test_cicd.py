"""The generated CI/CD, for every platform: valid for its platform, free of linter findings,
authenticated by OIDC with least privilege, and the same stages running the same commands.

Each platform's files are read into one model (`Command`: the stage it belongs to, the job, the
command line and the environment it runs with), so the cross-platform rules are written once.
"""

import hashlib
import json
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from combinations import COMBINATIONS, combination_id
from conftest import full_answers

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
PROJECT_TEMPLATE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
BIN = Path(sys.executable).parent

# The stages every platform implements, with the commands of the project contract, in order.
EXPECTED_STAGES = {
    "request checks": [
        "make install",
        "make lint",
        "make test",
        "make pipeline",
        "databricks bundle validate -t staging",
        "databricks bundle validate -t prod",
        "databricks bundle deploy -t test",
        "databricks bundle run -t test feature_engineering_job",
        "databricks bundle run -t test model_training_job",
        "databricks bundle destroy -t test --auto-approve",
    ],
    "staging deploy": [
        "databricks bundle validate -t staging",
        "databricks bundle deploy -t staging",
    ],
    "prod deploy": [
        "databricks bundle validate -t prod",
        "databricks bundle deploy -t prod",
    ],
}
COMMAND = re.compile(r"(make|databricks bundle) .+")

# The service principal each stage acts as (see docs/ci-cd-setup.md).
CLIENT_ID_VARIABLE = {
    "request checks": "DATABRICKS_CI_CLIENT_ID",
    "staging deploy": "DATABRICKS_STAGING_CLIENT_ID",
    "prod deploy": "DATABRICKS_PROD_CLIENT_ID",
}
# The service principal the jobs of each deployed target run as.
RUN_AS_VARIABLE = {"staging": "DATABRICKS_STAGING_CLIENT_ID", "prod": "DATABRICKS_PROD_CLIENT_ID"}
AUTH_TYPE = {
    "github_actions": "github-oidc",
    "github_enterprise": "github-oidc",
    "azure_devops": "azure-devops-oidc",
    "gitlab": "env-oidc",
}

CI_FILES = {
    "github_actions": {
        ".github/dependabot.yml",
        ".github/workflows/request-checks.yml",
        ".github/workflows/deploy-staging.yml",
        ".github/workflows/deploy-prod.yml",
    },
    "github_enterprise": {
        ".github/dependabot.yml",
        ".github/workflows/request-checks.yml",
        ".github/workflows/deploy-staging.yml",
        ".github/workflows/deploy-prod.yml",
        "scripts/install-databricks-cli.sh",
    },
    "azure_devops": {
        ".azure/devops-pipelines/request-checks.yml",
        ".azure/devops-pipelines/deploy-staging.yml",
        ".azure/devops-pipelines/deploy-prod.yml",
        "scripts/install-databricks-cli.sh",
    },
    "gitlab": {".gitlab-ci.yml", "scripts/install-databricks-cli.sh"},
}
CI_ROOTS = (".github", ".azure", ".gitlab-ci.yml", "scripts")
INSTALL_SCRIPT = "scripts/install-databricks-cli.sh"  # shared by every platform but github.com
GITHUB_SCHEMAS = {
    "vendor.github-workflows": ".github/workflows/*.yml",
    "vendor.dependabot": ".github/dependabot.yml",
}
SCHEMAS = {
    "github_actions": GITHUB_SCHEMAS,
    "github_enterprise": GITHUB_SCHEMAS,
    "azure_devops": {"vendor.azure-pipelines": ".azure/devops-pipelines/*.yml"},
    "gitlab": {"vendor.gitlab-ci": ".gitlab-ci.yml"},
}
YAMLLINT_CONFIG = """
extends: default
rules:
  document-start: disable
  line-length: {max: 100}
  truthy: {check-keys: false}
"""
PINNED_ACTION = re.compile(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40}  # v\d+\.\d+\.\d+$")
GITHUB_COMBINATIONS = [c for c in COMBINATIONS if c["cicd_platform"].startswith("github")]


@dataclass(frozen=True)
class Command:
    stage: str
    job: str
    line: str
    env: dict
    job_config: dict

    @property
    def target(self) -> str | None:
        match = re.search(r" -t (\w+)", self.line)
        return match.group(1) if match else None

    @property
    def calls_databricks(self) -> bool:
        return self.line.startswith("databricks ")


answers = full_answers


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def commands_in(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines() if COMMAND.fullmatch(line.strip())]


def stage_of_branch(branch: str, answer: dict) -> str:
    return {answer["default_branch"]: "staging deploy", answer["release_branch"]: "prod deploy"}[
        branch
    ]


# --- GitHub Actions and GitHub Enterprise -------------------------------------------------------


def github_workflows(project: Path) -> dict[str, dict]:
    return {
        path.name: load_yaml(path) for path in sorted((project / ".github/workflows").glob("*.yml"))
    }


def github_triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as true


def github_stage(workflow: dict, answer: dict) -> str:
    triggers = github_triggers(workflow)
    if set(triggers) == {"pull_request"}:
        assert triggers["pull_request"]["branches"] == [answer["default_branch"]]
        return "request checks"
    assert set(triggers) == {"push"}
    (branch,) = triggers["push"]["branches"]
    return stage_of_branch(branch, answer)


def github_commands(project: Path, answer: dict) -> list[Command]:
    commands = []
    for workflow in github_workflows(project).values():
        stage = github_stage(workflow, answer)
        for name, job in workflow["jobs"].items():
            for step in job["steps"]:
                env = {**workflow.get("env", {}), **job.get("env", {}), **step.get("env", {})}
                for line in commands_in(step.get("run", "")):
                    commands.append(Command(stage, name, line, env, job))
    return commands


# --- Azure DevOps --------------------------------------------------------------------------------


def azure_pipelines(project: Path) -> dict[str, dict]:
    folder = project / ".azure/devops-pipelines"
    return {path.name: load_yaml(path) for path in sorted(folder.glob("*.yml"))}


def azure_stage(pipeline: dict, answer: dict) -> str:
    if pipeline["trigger"] == "none":
        assert pipeline["pr"]["branches"]["include"] == [answer["default_branch"]]
        return "request checks"
    assert pipeline["pr"] == "none"
    (branch,) = pipeline["trigger"]["branches"]["include"]
    return stage_of_branch(branch, answer)


def azure_steps(job: dict) -> list[dict]:
    if "deployment" in job:
        return job["strategy"]["runOnce"]["deploy"]["steps"]
    return job["steps"]


def azure_commands(project: Path, answer: dict) -> list[Command]:
    commands = []
    for pipeline in azure_pipelines(project).values():
        stage = azure_stage(pipeline, answer)
        for job in pipeline["jobs"]:
            name = job.get("job") or job["deployment"]
            for step in azure_steps(job):
                env = {**job.get("variables", {}), **step.get("env", {})}
                for line in commands_in(step.get("script", "") + step.get("bash", "")):
                    commands.append(Command(stage, name, line, env, job))
    return commands


# --- GitLab --------------------------------------------------------------------------------------


def merge(base: dict, override: dict) -> dict:
    """GitLab's `extends`: mappings merge key by key, everything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def gitlab_jobs(project: Path) -> tuple[dict, dict[str, dict]]:
    config = load_yaml(project / ".gitlab-ci.yml")
    reserved = {"workflow", "stages", "default", "variables", "include"}
    jobs = {}
    for name, job in config.items():
        if name in reserved or name.startswith("."):
            continue
        parents = job.get("extends", [])
        resolved = {}
        for parent in [parents] if isinstance(parents, str) else parents:
            resolved = merge(resolved, config[parent])
        jobs[name] = merge(resolved, job)
    return config, jobs


def gitlab_stage(job: dict, answer: dict) -> str:
    (rule,) = job["rules"]
    if rule["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"':
        return "request checks"
    match = re.fullmatch(
        r'\$CI_PIPELINE_SOURCE == "push" && \$CI_COMMIT_BRANCH == "(.+)"', rule["if"]
    )
    return stage_of_branch(match.group(1), answer)


def gitlab_commands(project: Path, answer: dict) -> list[Command]:
    config, jobs = gitlab_jobs(project)
    commands = []
    for name, job in jobs.items():
        stage = gitlab_stage(job, answer)
        env = {**config.get("variables", {}), **job.get("variables", {})}
        for line in job.get("before_script", []) + job["script"] + job.get("after_script", []):
            export = re.fullmatch(r'export (\w+)="(.*)"', line)
            if export:
                env = {**env, export.group(1): export.group(2)}
            elif COMMAND.fullmatch(line):
                commands.append(Command(stage, name, line, env, job))
    return commands


# --- All platforms -------------------------------------------------------------------------------

COMMAND_READERS = {
    "github_actions": github_commands,
    "github_enterprise": github_commands,
    "azure_devops": azure_commands,
    "gitlab": gitlab_commands,
}


def ci_commands(project: Path, combination: dict) -> list[Command]:
    answer = answers(combination)
    return COMMAND_READERS[answer["cicd_platform"]](project, answer)


def resolve(value: str, env: dict) -> str:
    """A variable reference the way the platform expands it, for values this file defines."""
    reference = re.fullmatch(r"\$(\w+)|\$\((\w+)\)", value)
    if reference:
        name = reference.group(1) or reference.group(2)
        return resolve(env[name], env) if name in env else value
    return value


def variable_named(value: str) -> str:
    """The CI/CD variable a value reads: ${{ vars.X }}, $(X) or $X."""
    match = re.fullmatch(r"\$\{\{ vars\.(\w+) \}\}|\$\((\w+)\)|\$(\w+)", value)
    assert match, f"{value!r} does not read a CI/CD variable"
    return next(group for group in match.groups() if group)


def ci_files(project: Path) -> set[str]:
    found = set()
    for root in CI_ROOTS:
        path = project / root
        if path.is_file():
            found.add(root)
        elif path.is_dir():
            found |= {str(p.relative_to(project)) for p in path.rglob("*") if p.is_file()}
    return found


def run(command: list, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


# --- Tests: every platform -----------------------------------------------------------------------


def test_only_the_chosen_platform_has_files(project, combination):
    assert ci_files(project) == CI_FILES[answers(combination)["cicd_platform"]]


def test_ci_files_match_the_platform_schema(project, combination):
    for schema, pattern in SCHEMAS[answers(combination)["cicd_platform"]].items():
        files = sorted(str(path) for path in project.glob(pattern))
        assert files
        # The Azure Pipelines schema holds patterns that only compile without unicode mode.
        result = run(
            [BIN / "check-jsonschema", "--regex-variant", "nonunicode"]
            + ["--builtin-schema", schema, *files]
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_ci_files_pass_yamllint(project, combination):
    files = sorted(path for path in ci_files(project) if path.endswith(".yml"))
    result = run([BIN / "yamllint", "--strict", "-d", YAMLLINT_CONFIG, *files], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_platform_runs_the_same_stages_and_commands(project, combination):
    stages = {stage: [] for stage in EXPECTED_STAGES}
    for command in ci_commands(project, combination):
        stages[command.stage].append(command.line)
    assert stages == EXPECTED_STAGES


def test_databricks_commands_authenticate_with_oidc(project, combination):
    answer = answers(combination)
    hosts = {
        "test": answer["databricks_staging_workspace_host"],
        "staging": answer["databricks_staging_workspace_host"],
        "prod": answer["databricks_prod_workspace_host"],
    }
    databricks_commands = [c for c in ci_commands(project, combination) if c.calls_databricks]
    assert databricks_commands
    for command in databricks_commands:
        env = command.env
        assert env["DATABRICKS_AUTH_TYPE"] == AUTH_TYPE[answer["cicd_platform"]], command
        assert resolve(env["DATABRICKS_HOST"], env) == hosts[command.target], command
        assert variable_named(env["DATABRICKS_CLIENT_ID"]) == CLIENT_ID_VARIABLE[command.stage]
        if command.target in RUN_AS_VARIABLE:
            run_as = env["BUNDLE_VAR_service_principal_application_id"]
            assert variable_named(run_as) == RUN_AS_VARIABLE[command.target], command


def test_only_jobs_that_call_databricks_get_an_identity(project, combination):
    platform = answers(combination)["cicd_platform"]
    commands = ci_commands(project, combination)
    calling_jobs = {c.job for c in commands if c.calls_databricks}
    for command in commands:
        if platform == "azure_devops":  # the job token goes only to the steps that need it
            has_identity = command.env.get("SYSTEM_ACCESSTOKEN") == "$(System.AccessToken)"
            assert has_identity == command.calls_databricks, command
        elif platform == "gitlab":
            has_identity = "DATABRICKS_OIDC_TOKEN" in command.job_config.get("id_tokens", {})
            assert has_identity == (command.job in calling_jobs), command
        else:
            has_identity = command.job_config["permissions"].get("id-token") == "write"
            assert has_identity == (command.job in calling_jobs), command


def test_no_secret_or_token_is_referenced(project, combination):
    forbidden = re.compile(
        r"secrets\.|DATABRICKS_TOKEN\b|CLIENT_SECRET|PASSWORD|^\s*secrets:", re.MULTILINE
    )
    for path in sorted(ci_files(project)):
        text = (project / path).read_text(encoding="utf-8")
        assert not forbidden.search(text), path
        # Azure DevOps: the job's own token, mapped only for the OIDC exchange.
        for match in re.finditer(r".*System\.AccessToken.*", text):
            assert match.group(0).strip() == "SYSTEM_ACCESSTOKEN: $(System.AccessToken)", path


def test_scripts_expand_no_platform_expression(project, combination):
    """Scripts read values from environment variables, never from text the platform pastes in."""
    platform = answers(combination)["cicd_platform"]
    pasted = {
        "github_actions": r"\$\{\{",
        "github_enterprise": r"\$\{\{",
        "azure_devops": r"\$\(|\$\{\{|\$\[",
        "gitlab": r"\$\[\[",
    }[platform]
    for script in ci_scripts(project, platform):
        assert not re.search(pasted, script), script


def ci_scripts(project: Path, platform: str) -> list[str]:
    if platform.startswith("github"):
        return [
            step["run"]
            for workflow in github_workflows(project).values()
            for job in workflow["jobs"].values()
            for step in job["steps"]
            if "run" in step
        ]
    if platform == "azure_devops":
        return [
            step.get("script", "") + step.get("bash", "")
            for pipeline in azure_pipelines(project).values()
            for job in pipeline["jobs"]
            for step in azure_steps(job)
        ]
    _, jobs = gitlab_jobs(project)
    return [
        line
        for job in jobs.values()
        for key in ("before_script", "script", "after_script")
        for line in job.get(key, [])
    ]


def test_every_job_has_a_timeout(project, combination):
    platform = answers(combination)["cicd_platform"]
    if platform.startswith("github"):
        jobs = [j for w in github_workflows(project).values() for j in w["jobs"].values()]
        assert all(isinstance(job["timeout-minutes"], int) for job in jobs)
    elif platform == "azure_devops":
        jobs = [j for p in azure_pipelines(project).values() for j in p["jobs"]]
        assert all(job["timeoutInMinutes"].isdigit() for job in jobs)
    else:
        jobs = list(gitlab_jobs(project)[1].values())
        assert all(re.fullmatch(r"\d+m", job["timeout"]) for job in jobs)
    assert jobs


def test_runs_never_overlap_on_shared_targets(project, combination):
    """Newer pushes supersede the local checks; deployments (of the shared test target too) queue
    and are never cancelled, because a deployment cut off midway leaves its lock behind."""
    platform = answers(combination)["cicd_platform"]
    if platform.startswith("github"):
        for name, workflow in github_workflows(project).items():
            for job in workflow["jobs"].values():
                lines = [line for step in job["steps"] for line in commands_in(step.get("run", ""))]
                deploys = any(line.startswith("databricks bundle deploy") for line in lines)
                concurrency = job.get("concurrency", workflow.get("concurrency"))
                assert concurrency["cancel-in-progress"] is not deploys, f"{name}: {job['name']}"
    elif platform == "azure_devops":
        for name, pipeline in azure_pipelines(project).items():
            if name == "request-checks.yml":
                assert pipeline["pr"]["autoCancel"] == "false"
            else:
                assert pipeline["trigger"]["batch"] == "true"
                assert pipeline["lockBehavior"] == "sequential"
            for job in pipeline["jobs"]:
                deploys = any(
                    line.startswith("databricks bundle deploy")
                    for step in azure_steps(job)
                    for line in commands_in(step.get("script", ""))
                )
                # Deployments hold their environment's exclusive lock.
                assert ("environment" in job) is deploys
    else:
        config, jobs = gitlab_jobs(project)
        assert config["workflow"]["auto_cancel"]["on_new_commit"] == "interruptible"
        for job in jobs.values():
            deploys = any(line.startswith("databricks bundle deploy") for line in job["script"])
            assert job.get("interruptible", config["default"]["interruptible"]) is not deploys
            assert ("resource_group" in job) is deploys


def test_python_version_is_quoted(project, combination):
    """An unquoted 3.10 reads as 3.1: the version is a string on every platform."""
    platform = answers(combination)["cicd_platform"]
    if platform.startswith("github"):
        versions = [
            step["with"]["python-version"]
            for workflow in github_workflows(project).values()
            for job in workflow["jobs"].values()
            for step in job["steps"]
            if "setup-python" in step.get("uses", "")
        ]
    elif platform == "azure_devops":
        versions = [
            step["inputs"]["versionSpec"]
            for pipeline in azure_pipelines(project).values()
            for job in pipeline["jobs"]
            for step in azure_steps(job)
            if step.get("task") == "UsePythonVersion@0"
        ]
    else:
        config, _ = gitlab_jobs(project)
        versions = [re.fullmatch(r"python:(\d+\.\d+)-.+", config["default"]["image"]).group(1)]
    assert versions and set(versions) == {"3.11"}


def test_databricks_cli_release_is_pinned(project, combination):
    platform = answers(combination)["cicd_platform"]
    if platform == "github_actions":
        steps = [
            step
            for workflow in github_workflows(project).values()
            for job in workflow["jobs"].values()
            for step in job["steps"]
            if step.get("uses", "").startswith("databricks/setup-cli@")
        ]
        assert steps and {step["with"]["version"] for step in steps} == {pinned_cli_version()}
    else:
        (script,) = [path for path in ci_files(project) if path.endswith(".sh")]
        assert (project / script).read_text() == (PROJECT_TEMPLATE / script).read_text()


def variables_read(project: Path, platform: str) -> set[str]:
    """The CI/CD variables the files expect someone to set (not the ones they define)."""
    files = [project / path for path in ci_files(project) if path.endswith(".yml")]
    text = "\n".join(path.read_text(encoding="utf-8") for path in files)
    if platform.startswith("github"):
        return set(re.findall(r"\bvars\.(\w+)", text))
    if platform == "azure_devops":
        return set(re.findall(r"\$\((\w+)\)", text))
    config, jobs = gitlab_jobs(project)
    defined = set(config["variables"]) | {
        name for job in jobs.values() for name in job.get("variables", {})
    }
    referenced = set(re.findall(r"\$(\w+)", text)) | set(re.findall(r"\$\{(\w+)", text))
    return {name for name in referenced - defined if not name.startswith("CI_")}


def test_setup_guide_names_every_variable_to_set(project, combination):
    platform = answers(combination)["cicd_platform"]
    guide = (project / "docs/ci-cd-setup.md").read_text(encoding="utf-8")
    expected = set(CLIENT_ID_VARIABLE.values()) | (
        {"DATABRICKS_ACCOUNT_ID"} if platform == "gitlab" else set()
    )
    if platform == "github_enterprise":
        expected.add("CI_RUNNER_LABEL")
    assert variables_read(project, platform) == expected
    assert all(f"{name}`" in guide or f"{name} " in guide for name in expected)


def test_setup_guide_trusts_exactly_the_answered_branches(project, combination):
    answer = answers(combination)
    platform, slug = answer["cicd_platform"], answer["project_slug"]
    guide = (project / "docs/ci-cd-setup.md").read_text(encoding="utf-8")
    default, release = answer["default_branch"], answer["release_branch"]
    trusted = {
        "github_actions": [":pull_request", ":environment:staging", ":environment:prod"],
        "github_enterprise": ["/_services/token", ":environment:staging", ":environment:prod"],
        "azure_devops": [
            f'"{slug}-request-checks"',
            f'"{slug}-deploy-staging"',
            f'"{slug}-deploy-prod"',
            f"`refs/heads/{default}`",
            f"`refs/heads/{release}`",
        ],
        "gitlab": [
            f'ref_type:branch:ref:{default}"',
            f'ref_type:branch:ref:{release}"',
            'project_path "$PROJECT"',
        ],
    }[platform]
    for value in trusted:
        assert value in guide, value
    # The platform's own names for its stages are the ones the guide protects.
    if platform == "azure_devops":
        for pipeline in azure_pipelines(project).values():
            for job in pipeline["jobs"]:
                if "environment" in job:
                    assert f"`{job['environment']}`" in guide
    if platform.startswith("github"):
        assert f"*Selected branches* → `{default}`" in guide
        assert f"*Selected branches* → `{release}`" in guide


# --- Tests: GitHub Actions and GitHub Enterprise -------------------------------------------------


@pytest.fixture
def github_project(baked_projects, github_combination) -> Path:
    result = baked_projects(github_combination)
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


github_cases = pytest.mark.parametrize(
    "github_combination", GITHUB_COMBINATIONS, ids=combination_id
)


def zizmor_findings(repository: Path) -> list:
    """What zizmor finds in the repository's .github, offline, with every audit and no ignores."""
    result = run(
        [BIN / "zizmor", "--offline", "--no-config", "--no-ignores", "--no-progress"]
        + ["--format", "json", ".github"],
        cwd=repository,
    )
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"zizmor did not run (exit status {result.returncode}): {result.stderr}")


@github_cases
def test_zizmor_reports_no_findings(github_project):
    assert zizmor_findings(github_project) == []


@github_cases
def test_github_jobs_hold_least_privilege(github_project):
    for name, workflow in github_workflows(github_project).items():
        assert workflow["permissions"] == {}, name
        for job_name, job in workflow["jobs"].items():
            runs = "\n".join(step.get("run", "") for step in job["steps"])
            expected = {"contents": "read"}
            if re.search(r"^databricks ", runs, re.MULTILINE):
                expected["id-token"] = "write"
            assert job["permissions"] == expected, f"{name}: {job_name}"


@github_cases
def test_github_triggers_are_not_privileged(github_project):
    for name, workflow in github_workflows(github_project).items():
        assert set(github_triggers(workflow)) <= {"pull_request", "push"}, name


@github_cases
def test_github_checkouts_keep_no_credentials(github_project):
    for workflow in github_workflows(github_project).values():
        for job in workflow["jobs"].values():
            checkouts = [
                s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout")
            ]
            assert checkouts and all(s["with"]["persist-credentials"] is False for s in checkouts)


@github_cases
def test_actions_are_pinned_to_commits_with_their_version(github_project):
    for path in sorted((github_project / ".github/workflows").glob("*.yml")):
        for line in path.read_text().splitlines():
            if "uses:" in line:
                assert PINNED_ACTION.search(line.strip()), f"{path.name}: {line.strip()}"


@github_cases
def test_deployments_go_through_environments(github_project, github_combination):
    answer = answers(github_combination)
    for workflow in github_workflows(github_project).values():
        stage = github_stage(workflow, answer)
        for job in workflow["jobs"].values():
            if stage == "request checks":
                assert "environment" not in job
            else:
                target = stage.split()[0]
                host = answer[f"databricks_{target}_workspace_host"]
                assert job["environment"] == {"name": target, "url": host}


@github_cases
def test_github_enterprise_needs_no_marketplace_action(github_project, github_combination):
    """GitHub Enterprise Server ships the actions/* actions, not databricks/setup-cli, and has no
    GitHub-hosted runners."""
    enterprise = github_combination["cicd_platform"] == "github_enterprise"
    uses, runners = set(), set()
    for workflow in github_workflows(github_project).values():
        for job in workflow["jobs"].values():
            uses |= {step["uses"].split("@")[0] for step in job["steps"] if "uses" in step}
            runners.add(job["runs-on"])
    shipped = {"actions/checkout", "actions/setup-python", "actions/setup-java"}
    assert uses == (shipped if enterprise else shipped | {"databricks/setup-cli"})
    if enterprise:
        assert runners == {"${{ vars.CI_RUNNER_LABEL || 'self-hosted' }}"}
    else:
        assert runners == {"ubuntu-24.04"}


# --- Tests: the pinned Databricks CLI install script ---------------------------------------------


def pinned_cli_version() -> str:
    script = (PROJECT_TEMPLATE / INSTALL_SCRIPT).read_text()
    return re.search(r'^VERSION="(.+)"$', script, re.MULTILINE).group(1)


def test_every_platform_pins_the_same_cli_release():
    workflows = "".join(
        path.read_text() for path in (PROJECT_TEMPLATE / ".github/workflows").glob("*.yml")
    )
    version = pinned_cli_version()
    setup_cli = re.findall(
        r"databricks/setup-cli@[0-9a-f]{40}  # v(.+)\n.*\n.*version: \"(.+)\"", workflows
    )
    assert setup_cli and set(setup_cli) == {(version, version)}


@pytest.fixture
def fake_release(tmp_path) -> tuple[Path, str]:
    """A `curl` on PATH that 'downloads' a small archive holding a `databricks` program, and the
    SHA-256 of that archive (which is not the pinned release's)."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    archive = tmp_path / "release.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("databricks", "#!/bin/sh\necho 'Databricks CLI v0.0.0'\n")
        bundle.writestr("LICENSE", "not installed")
    curl = fake_bin / "curl"
    curl.write_text(
        f'#!/bin/sh\nwhile [ "$1" != "--output" ]; do shift; done\ncp "{archive}" "$2"\n'
    )
    curl.chmod(0o755)
    return fake_bin, hashlib.sha256(archive.read_bytes()).hexdigest()


def run_install_script(script: Path, target: Path, fake_bin: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", script, target],
        capture_output=True,
        text=True,
        env={"PATH": f"{fake_bin}:{Path(sys.executable).parent}:/usr/bin:/bin"},
    )


def test_install_script_refuses_an_archive_with_another_checksum(tmp_path, fake_release):
    fake_bin, _ = fake_release
    target = tmp_path / "installed"
    result = run_install_script(PROJECT_TEMPLATE / INSTALL_SCRIPT, target, fake_bin)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr
    assert not (target / "databricks").exists()


def test_install_script_installs_an_archive_with_the_pinned_checksum(tmp_path, fake_release):
    fake_bin, checksum = fake_release
    script = tmp_path / "install-databricks-cli.sh"
    pinned = (PROJECT_TEMPLATE / INSTALL_SCRIPT).read_text()
    script.write_text(re.sub(r'(SHA256_LINUX_\w+)=".*"', rf'\1="{checksum}"', pinned))
    target = tmp_path / "installed"
    result = run_install_script(script, target, fake_bin)
    assert result.returncode == 0, result.stderr
    assert "Databricks CLI v0.0.0" in result.stdout
    assert sorted(path.name for path in target.iterdir()) == ["databricks"]


def test_install_script_needs_a_target_directory():
    result = run(["bash", PROJECT_TEMPLATE / INSTALL_SCRIPT])
    assert result.returncode != 0
    assert "usage: install-databricks-cli.sh TARGET_DIR" in result.stderr


def test_install_script_parses():
    assert run(["bash", "-n", PROJECT_TEMPLATE / INSTALL_SCRIPT]).returncode == 0
