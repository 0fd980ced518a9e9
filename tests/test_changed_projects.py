"""Which projects of a monorepo a change selects (`scripts/changed_projects.py` of a cicd_only
bake): first the rules on lists of paths, then the script itself on a real git repository."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from monorepo import git

SCRIPT = (
    Path(__file__).resolve().parents[1]
    / "{{cookiecutter.project_slug}}/.monorepo/scripts/changed_projects.py"
)
_spec = importlib.util.spec_from_file_location("changed_projects", SCRIPT)
selection = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(selection)

FILES = [
    ".github/workflows/request-checks.yml",
    "docs/ci-cd-setup.md",
    "fraud-detection/databricks.yml",
    "fraud-detection/src/fraud_detection/training.py",
    "demand-forecast/databricks.yml",
    "demand-forecast/tests/test_training.py",
    "README.md",
]
PROJECTS = selection.projects_in(FILES)


def paths(projects) -> list[str]:
    return [project.path for project in projects]


# --- The rules ------------------------------------------------------------------------------------


def test_every_folder_with_a_bundle_is_a_project_in_path_order():
    assert paths(PROJECTS) == ["demand-forecast", "fraud-detection"]


def test_a_bundle_at_the_root_is_no_project_of_the_monorepo():
    assert selection.projects_in(["databricks.yml", *FILES]) == PROJECTS


@pytest.mark.parametrize(
    "changed, expected",
    [
        (["fraud-detection/src/fraud_detection/training.py"], ["fraud-detection"]),
        (["demand-forecast/tests/test_training.py"], ["demand-forecast"]),
        (
            ["fraud-detection/databricks.yml", "demand-forecast/resources/training.yml"],
            ["demand-forecast", "fraud-detection"],
        ),
        ([".github/workflows/request-checks.yml"], ["demand-forecast", "fraud-detection"]),
        (["scripts/changed_projects.py"], ["demand-forecast", "fraud-detection"]),
        ([".gitlab-ci.yml"], ["demand-forecast", "fraud-detection"]),
        ([".gitlab/project-jobs.yml"], ["demand-forecast", "fraud-detection"]),
        ([".azure/devops-pipelines/deploy-prod.yml"], ["demand-forecast", "fraud-detection"]),
        (["README.md", "docs/ci-cd-setup.md"], []),
        ([], []),
        # A folder whose name starts like a project's is not that project.
        (["fraud-detection-notes/plan.md"], []),
    ],
    ids=[
        "one project's code",
        "the other project's tests",
        "both projects",
        "the GitHub workflows",
        "the selection script",
        "the GitLab pipeline",
        "the GitLab job templates",
        "an Azure pipeline",
        "files outside every project",
        "no change",
        "a folder named like a project",
    ],
)
def test_a_change_selects_the_projects_it_touches(changed, expected):
    assert paths(selection.selected(PROJECTS, changed)) == expected


def test_an_unknown_change_selects_every_project():
    assert selection.selected(PROJECTS, None) == PROJECTS


def test_a_file_of_a_nested_project_selects_only_the_innermost():
    projects = selection.projects_in(["ml/databricks.yml", "ml/churn/databricks.yml"])
    assert paths(selection.selected(projects, ["ml/churn/src/train.py"])) == ["ml/churn"]
    assert paths(selection.selected(projects, ["ml/README.md"])) == ["ml"]


@pytest.mark.parametrize(
    "path, key",
    [("fraud-detection", "FRAUD_DETECTION"), ("ml/churn.v2", "CHURN_V2"), ("x1", "X1")],
)
def test_a_projects_variables_are_prefixed_with_its_folder_name_in_capitals(path, key):
    assert selection.Project(path).key == key


def test_two_folders_with_one_variable_prefix_are_refused_naming_both():
    with pytest.raises(selection.SelectionError) as refused:
        selection.projects_in(["a/churn/databricks.yml", "b/churn/databricks.yml"])
    assert str(refused.value) == (
        "the projects a/churn and b/churn share the variable prefix CHURN: "
        "rename one of the folders"
    )


# --- The script on a git repository ---------------------------------------------------------------


def commit(repository: Path, files: dict[str, str | None], message: str) -> str:
    """Write (or, for None, delete) files, commit them and return the commit."""
    for name, text in files.items():
        path = repository / name
        if text is None:
            git(repository, "rm", "-rq", name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    git(repository, "add", "-A")
    git(repository, "commit", "-qm", message)
    return git(repository, "rev-parse", "HEAD")


@pytest.fixture
def monorepo(tmp_path) -> Path:
    repository = tmp_path / "monorepo"
    repository.mkdir()
    git(repository, "init", "-qb", "main")
    commit(repository, {name: f"{name}\n" for name in FILES}, "Two projects")
    (repository / "scripts").mkdir()
    (repository / "scripts/changed_projects.py").write_bytes(SCRIPT.read_bytes())
    commit(repository, {}, "The selection script")
    return repository


def select(repository: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/changed_projects.py", *args],
        cwd=repository,
        capture_output=True,
        text=True,
    )


def selected_paths(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    return [project["path"] for project in json.loads(result.stdout)]


def test_a_branch_selects_what_it_changed_since_it_left_main(monorepo):
    git(monorepo, "checkout", "-qb", "feature")
    commit(monorepo, {"fraud-detection/src/fraud_detection/training.py": "new\n"}, "Train better")
    # main moves on meanwhile: its own changes are not the branch's.
    git(monorepo, "checkout", "-q", "main")
    commit(monorepo, {"demand-forecast/tests/test_training.py": "moved on\n"}, "Elsewhere")
    git(monorepo, "checkout", "-q", "feature")
    result = select(monorepo, "--base", "main")
    assert selected_paths(result) == ["fraud-detection"]
    assert json.loads(result.stdout) == [
        {"path": "fraud-detection", "name": "fraud-detection", "key": "FRAUD_DETECTION"}
    ]
    assert result.stderr == "projects to check: fraud-detection\n"


def test_a_push_selects_the_projects_of_its_commits(monorepo):
    before = git(monorepo, "rev-parse", "HEAD")
    commit(monorepo, {"demand-forecast/databricks.yml": "changed\n"}, "One")
    commit(monorepo, {"fraud-detection/databricks.yml": "changed\n"}, "Two")
    assert selected_paths(select(monorepo, "--base", before)) == [
        "demand-forecast",
        "fraud-detection",
    ]


def test_a_change_to_the_selection_script_selects_every_project(monorepo):
    before = git(monorepo, "rev-parse", "HEAD")
    commit(monorepo, {"scripts/changed_projects.py": SCRIPT.read_text() + "\n"}, "Script")
    assert len(selected_paths(select(monorepo, "--base", before))) == 2


def test_a_change_outside_every_project_selects_none(monorepo):
    before = git(monorepo, "rev-parse", "HEAD")
    commit(monorepo, {"README.md": "Read me\n"}, "Docs")
    result = select(monorepo, "--base", before)
    assert selected_paths(result) == []
    assert result.stderr == "projects to check: none\n"


@pytest.mark.parametrize("base", ["", "0" * 40], ids=["no base", "a new branch"])
def test_a_push_without_a_base_selects_every_project(monorepo, base):
    assert len(selected_paths(select(monorepo, "--base", base))) == 2


def test_a_base_the_clone_lacks_selects_every_project_with_a_note(monorepo):
    # A force push: the previous head is in no clone.
    result = select(monorepo, "--base", "1234567" * 5 + "12345")
    assert len(selected_paths(result)) == 2
    assert "note: cannot compare with 1234567" in result.stderr
    assert "every project is selected" in result.stderr


def test_a_shallow_clone_selects_every_project(monorepo, tmp_path):
    base = git(monorepo, "rev-parse", "HEAD")
    commit(monorepo, {"fraud-detection/databricks.yml": "changed\n"}, "One")
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{monorepo}", "shallow")
    assert len(selected_paths(select(tmp_path / "shallow", "--base", base))) == 2


def test_a_deleted_project_is_not_selected(monorepo):
    before = git(monorepo, "rev-parse", "HEAD")
    removed = {name: None for name in FILES if name.startswith("demand-forecast/")}
    commit(monorepo, removed, "Retire the forecast")
    assert selected_paths(select(monorepo, "--base", before)) == []


def test_a_new_project_is_found_without_being_listed(monorepo):
    before = git(monorepo, "rev-parse", "HEAD")
    commit(monorepo, {"churn/databricks.yml": "bundle\n"}, "A third project")
    assert selected_paths(select(monorepo, "--base", before)) == ["churn"]
    assert len(selected_paths(select(monorepo))) == 3


def test_the_azure_matrix_has_one_leg_per_project_named_by_its_key(monorepo):
    result = select(monorepo, "--format", "azure-matrix")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEMAND_FORECAST": {"PROJECT_PATH": "demand-forecast", "PROJECT_KEY": "DEMAND_FORECAST"},
        "FRAUD_DETECTION": {"PROJECT_PATH": "fraud-detection", "PROJECT_KEY": "FRAUD_DETECTION"},
    }


def test_a_clash_of_variable_prefixes_is_one_line_and_exit_1(monorepo):
    commit(monorepo, {"old/fraud-detection/databricks.yml": "bundle\n"}, "A copy")
    result = select(monorepo)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: the projects fraud-detection and old/fraud-detection share the variable prefix "
        "FRAUD_DETECTION: rename one of the folders\n"
    )


def test_outside_a_git_repository_the_error_is_one_line(tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts/changed_projects.py").write_bytes(SCRIPT.read_bytes())
    result = select(tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: git ls-files failed: fatal: not a git repository")
    assert len(result.stderr.splitlines()) == 1
