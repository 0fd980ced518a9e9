"""The setup modes: project_only is a whole project without its CI/CD files, cicd_only is the CI/CD
files and their setup guide without a project, and each ignores (with a note, unchecked) the
answers it does not use. Both are compared with the default mode, project_and_cicd, baked from
the same answers."""

import subprocess
import sys
from pathlib import Path

import pre_gen_project as rules
import pytest
from combinations import CHOICES
from conftest import bake, full_answers
from test_bake import LEFTOVER_JINJA
from test_changed_projects import selection
from test_cicd import CI_FILES, CI_ROOTS
from test_invalid_answers import ENTRY_POINTS, Scratch

PLATFORMS = CHOICES["cicd_platform"]
SETUP_GUIDE = "docs/ci-cd-setup.md"
# The files of a project_only bake that differ from the default bake: they describe its CI/CD.
DESCRIBE_THE_CI = {"README.md", SETUP_GUIDE}
# Files only the CI/CD of a monorepo has: the selection of the changed projects.
MONOREPO_ONLY_FILES = {
    "github_actions": {"scripts/changed_projects.py"},
    "github_enterprise": {"scripts/changed_projects.py"},
    "azure_devops": {"scripts/changed_projects.py", "scripts/azure_last_deployment.py"},
    "gitlab": {
        "scripts/changed_projects.py",
        "scripts/gitlab_child_pipeline.py",
        ".gitlab/project-jobs.yml",
    },
}
# Answers cicd_only ignores, each with a value its rule refuses in the other modes.
PROJECT_ANSWERS_BROKEN = {
    "package_name": "pyspark",
    "databricks_dev_workspace_host": "http://dev.example.com",
    "read_user_group": "data 'team'",
    "model_read_group": " users",
    "dev_catalog": "Dev",
    "databricks_prod_workspace_host": "prod.example.com",
    "staging_catalog": "Staging",
    "schema_name": "My Schema",
    "compute": "gpu",
    "include_monitoring": "maybe",
    "include_serving": "sometimes",
}


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """The files a bake writes, by relative path, for a set of answers (each set baked once)."""
    baked = {}

    def files(**answers: str) -> dict[str, str]:
        key = tuple(sorted(answers.items()))
        if key not in baked:
            project = bake(tmp_path_factory.mktemp("setup-mode"), answers)
            baked[key] = {
                path.relative_to(project).as_posix(): path.read_text(encoding="utf-8")
                for path in sorted(project.rglob("*"))
                if path.is_file()
            }
        return baked[key]

    return files


def is_ci_file(path: str) -> bool:
    return path.startswith(CI_ROOTS)


# --- project_only ---------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_project_only_is_the_whole_project_without_its_ci_files(rendered, platform):
    whole = rendered(cicd_platform=platform)
    project = rendered(setup_mode="project_only", cicd_platform=platform)
    assert set(project) == {path for path in whole if not is_ci_file(path)}
    assert {"tests/conftest.py", "Makefile", "pyproject.toml", SETUP_GUIDE} <= set(project)
    changed = {path for path in project if project[path] != whole[path]}
    assert changed == DESCRIBE_THE_CI


@pytest.mark.parametrize("platform", PLATFORMS[1:])
def test_project_only_ignores_the_ci_platform(rendered, platform):
    assert rendered(setup_mode="project_only", cicd_platform=platform) == rendered(
        setup_mode="project_only", cicd_platform=PLATFORMS[0]
    )


def test_project_only_describes_no_ci_platform(rendered):
    project = rendered(setup_mode="project_only")
    platform_words = ("github", "gitlab", "azure devops", "devops-pipelines", "install-databricks")
    naming = [
        f"{path}: {line}"
        for path in DESCRIBE_THE_CI
        for line in project[path].splitlines()
        if any(word in line.lower() for word in platform_words) or LEFTOVER_JINJA.search(line)
    ]
    assert naming == []
    assert project[SETUP_GUIDE].startswith("# Databricks setup for my-mlops-project\n")
    assert "## 2. Create the service principals" in project[SETUP_GUIDE]


def test_project_only_takes_a_ci_platform_outside_the_choices(rendered):
    assert rendered(setup_mode="project_only", cicd_platform="jenkins") == rendered(
        setup_mode="project_only"
    )


def test_project_only_names_the_variables_the_monorepo_ci_reads(rendered):
    guide = rendered(setup_mode="project_only", project_name="Fraud Detection")[SETUP_GUIDE]
    key = selection.Project("fraud-detection").key
    for stage in ("CI", "STAGING", "PROD"):
        assert f"`{key}_DATABRICKS_{stage}_CLIENT_ID`" in guide


# --- cicd_only ------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_cicd_only_is_the_monorepo_ci_files_and_their_guide(rendered, platform):
    whole = rendered(cicd_platform=platform)
    cicd = rendered(setup_mode="cicd_only", cicd_platform=platform)
    assert set(cicd) == CI_FILES[platform] | MONOREPO_ONLY_FILES[platform] | {SETUP_GUIDE}
    assert not any(path.startswith(("src/", "tests/", "resources/")) for path in cicd)
    # Dependabot's settings and the CLI's installer serve one project or many alike.
    shared = {".github/dependabot.yml", "scripts/install-databricks-cli.sh"} & set(cicd)
    assert {path: whole[path] for path in shared} == {path: cicd[path] for path in shared}
    pipelines = set(CI_FILES[platform]) - shared
    # Each pipeline starts by selecting the changed projects (GitLab's writes a child pipeline).
    selects = ("scripts/changed_projects.py", "scripts/gitlab_child_pipeline.py")
    assert all(any(script in cicd[path] for script in selects) for path in pipelines)
    assert "# CI/CD setup for a repository of ML projects" in cicd[SETUP_GUIDE]


def test_cicd_only_ignores_the_answers_of_a_project(rendered):
    assert rendered(setup_mode="cicd_only", **PROJECT_ANSWERS_BROKEN) == (
        rendered(setup_mode="cicd_only")
    )


# --- The rules: which answers each mode checks ----------------------------------------------------


def answers(**given: str) -> dict:
    """The default answers, as the template computes them, with some given."""
    return {**full_answers({}), **given}


def named(problems: list[str]) -> set[str]:
    return {line.split(":")[0] for line in problems}


def test_the_default_mode_checks_every_answer():
    problems, _ = rules.review(answers(**PROJECT_ANSWERS_BROKEN, cicd_platform="jenkins"))
    assert named(problems) == {*PROJECT_ANSWERS_BROKEN, "cicd_platform"}


def test_cicd_only_checks_only_the_answers_of_the_ci():
    broken = {**PROJECT_ANSWERS_BROKEN, "cicd_platform": "jenkins", "release_branch": "a..b"}
    problems, warnings = rules.review(answers(setup_mode="cicd_only", **broken))
    assert named(problems) == {"cicd_platform", "release_branch"}
    assert warnings == []


def test_project_only_checks_every_answer_but_the_ci_platform():
    problems, _ = rules.review(
        answers(setup_mode="project_only", cicd_platform="jenkins", compute="gpu")
    )
    assert named(problems) == {"compute"}


def test_an_unknown_mode_is_named_and_every_answer_checked():
    problems, _ = rules.review(answers(setup_mode="monorepo", compute="gpu"))
    assert named(problems) == {"setup_mode", "compute"}
    [line] = [line for line in problems if line.startswith("setup_mode")]
    assert line == (
        "setup_mode: 'monorepo' must be one of project_and_cicd, project_only, cicd_only. "
        "Example: setup_mode=project_only"
    )


def test_an_ignored_answer_missing_is_no_problem():
    given = answers(setup_mode="cicd_only")
    del given["compute"]
    assert rules.review(given) == ([], [])


@pytest.mark.parametrize(
    ("value", "refused"),
    [("pyspark", False), ("a/b", True), ("..", True), ("{{ 7 * 7 }}", True), ("x\u200b", True)],
)
def test_an_ignored_package_name_must_still_name_a_folder(value, refused):
    problems, _ = rules.review(answers(setup_mode="cicd_only", package_name=value))
    assert named(problems) == ({"package_name"} if refused else set())


def test_the_notes_name_what_each_mode_ignores():
    assert rules.ignored_note(answers()) is None
    assert rules.ignored_note(answers(setup_mode="monorepo")) is None
    assert rules.ignored_note(answers(setup_mode="project_only")) == (
        "setup_mode=project_only makes no CI/CD files (the repository's own come from a "
        "setup_mode=cicd_only bake): cicd_platform is ignored"
    )
    note = rules.ignored_note(answers(setup_mode="cicd_only"))
    assert note.startswith("setup_mode=cicd_only makes no project (add projects with ")
    assert note.endswith(", include_monitoring and include_serving are ignored")
    assert all(name in note for name in [*PROJECT_ANSWERS_BROKEN, "description", "author_name"])


# --- Both entry points print the notes ------------------------------------------------------------


@pytest.fixture
def scratch(tmp_path) -> Scratch:
    return Scratch.made_in(tmp_path)


def run(entry_point: str, template: Path, scratch: Scratch, answers: dict):
    given = [f"{name}={value}" for name, value in answers.items()]
    command = [sys.executable, *ENTRY_POINTS[entry_point], str(template), "-o", ".", *given]
    return subprocess.run(
        command, cwd=scratch.work, env=scratch.env, capture_output=True, text=True
    )


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
@pytest.mark.parametrize(
    ("mode", "ignored", "made"),
    [
        ("project_only", {"cicd_platform": "jenkins"}, "src"),
        ("cicd_only", {"compute": "gpu", "include_serving": "maybe"}, ".github"),
    ],
)
def test_both_entry_points_note_the_ignored_answers(
    template_repository, scratch, entry_point, mode, ignored, made
):
    result = run(entry_point, template_repository, scratch, {"setup_mode": mode, **ignored})
    assert result.returncode == 0, result.stdout + result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: setup_mode=")]
    assert notes == [f"note: {rules.ignored_note(answers(setup_mode=mode))}"]
    project = scratch.work / "my-mlops-project"
    assert (project / made).exists()
    assert (project / ".github").exists() == (mode == "cicd_only")
    assert (project / "src").exists() == (mode == "project_only")
