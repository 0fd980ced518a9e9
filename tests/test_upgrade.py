"""Upgrading a generated project, played with git: bake at one template commit, commit,
customize, change the template, update, and check that nothing of the user's is lost.

Most scenarios use a small template built here, so they do not depend on the real template's
files; the last ones run against a clone of the real template."""

import json
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from mlops_stack.cli import main

TEMPLATE_DIR = Path(__file__).resolve().parents[1]


# --- tools -----------------------------------------------------------------------------------


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def init_repository(path: Path) -> None:
    git("init", "--quiet", "--initial-branch=main", cwd=path)
    git("config", "user.name", "Template Tests", cwd=path)
    git("config", "user.email", "template-tests@example.com", cwd=path)


def commit_all(path: Path, message: str) -> str:
    git("add", "--all", cwd=path)
    git("commit", "--quiet", "--message", message, cwd=path)
    return git("rev-parse", "HEAD", cwd=path)


def write_files(root: Path, files: dict[str, str | None]) -> None:
    """Write each file (creating folders); None deletes it."""
    for relative, text in files.items():
        path = root / relative
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))


def isolate_tools(tmp_path: Path, monkeypatch) -> None:
    """Git and cookiecutter read no user settings and write nothing outside the test directory."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    config = home / "cookiecutter.yaml"
    config.write_text(
        f"cookiecutters_dir: {json.dumps(str(home / 'cookiecutters'))}\n"
        f"replay_dir: {json.dumps(str(home / 'replay'))}\n"
    )
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(config))


@pytest.fixture(autouse=True)
def isolated_tools(tmp_path, monkeypatch):
    isolate_tools(tmp_path, monkeypatch)


@dataclass
class Result:
    code: int
    out: str
    err: str


def command_runner(capfd, monkeypatch):
    """A function that runs the `mlops-stack` command in `cwd` and returns its exit code and
    output."""

    def run(*args: str, cwd: Path) -> Result:
        monkeypatch.chdir(cwd)
        capfd.readouterr()
        code = main(list(args))
        out, err = capfd.readouterr()
        assert "Traceback" not in out + err
        return Result(code, out, err)

    return run


@pytest.fixture
def mlops_stack(capfd, monkeypatch):
    return command_runner(capfd, monkeypatch)


# --- a small template --------------------------------------------------------------------------

RULES_HOOK = '''\
"""Answer rules: cookiecutter runs this before rendering, mlops-stack imports `review`."""
import json
import sys

ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""
MAX_NAME = 30
# {% raw %}


def review(answers):
    problems = []
    name = answers.get("project_name", "")
    if len(name) > MAX_NAME:
        problems.append(f"project_name: {name!r} must be at most {MAX_NAME} characters")
    return problems, []


if __name__ == "__main__":
    problems, _ = review(json.loads(ANSWERS_JSON))
    print("\\n".join(problems), file=sys.stderr)
    sys.exit(1 if problems else 0)
# {% endraw %}
'''

CLEANUP_HOOK = '''\
import json
import os

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")
if ANSWERS["include_monitoring"] == "no":
    os.remove("monitoring.py")
print("Created", ANSWERS["project_slug"])
'''

PIPELINE = """\
    \"\"\"The {{ cookiecutter.project_name }} pipeline.\"\"\"


    def load():
        return [1, 2, 3]


    def train(rows):
        return sum(rows) / len(rows)


    def main():
        print(train(load()))
    """

PROJECT = "{{cookiecutter.project_slug}}"
TEMPLATE_V1 = {
    "cookiecutter.json": json.dumps(
        {
            "project_name": "Churn Model",
            "project_slug": "{{ cookiecutter.project_name | lower | replace(' ', '-') }}",
            "include_monitoring": ["no", "yes"],
        }
    ),
    "hooks/pre_gen_project.py": RULES_HOOK,
    "hooks/post_gen_project.py": CLEANUP_HOOK,
    f"{PROJECT}/README.md": "# {{ cookiecutter.project_name }}\n",
    f"{PROJECT}/pipeline.py": PIPELINE,
    f"{PROJECT}/config.py": "THRESHOLD = 0.5\nSEED = 7\n",
    f"{PROJECT}/old_helper.py": "def helper():\n    return 1\n",
    f"{PROJECT}/notes.md": "Notes\n",
    f"{PROJECT}/docs/extra.md": "Extra documentation\n",
    f"{PROJECT}/monitoring.py": "DRIFT_LIMIT = 0.1\n",
}

# The template's next commit: an edit the user does not conflict with (pipeline.py), one they do
# (config.py), new files, removed files.
TEMPLATE_V2 = {
    f"{PROJECT}/README.md": "# {{ cookiecutter.project_name }}\n\nRun `python pipeline.py`.\n",
    f"{PROJECT}/pipeline.py": PIPELINE.replace(
        "print(train(load()))", "print(round(train(load()), 2))"
    ),
    f"{PROJECT}/config.py": "THRESHOLD = 0.6\nSEED = 7\n",
    f"{PROJECT}/validation.py": "def validate(score):\n    return score > 0.5\n",
    f"{PROJECT}/CHANGELOG.md": "# Changes\n\n- validation step\n",
    f"{PROJECT}/old_helper.py": None,
    f"{PROJECT}/notes.md": None,
    f"{PROJECT}/monitoring.py": "DRIFT_LIMIT = 0.2\n",
}


@dataclass
class Setup:
    template: Path
    project: Path
    first_commit: str


def make_template(root: Path) -> str:
    root.mkdir()
    init_repository(root)
    write_files(root, TEMPLATE_V1)
    return commit_all(root, "Template v1")


@pytest.fixture
def baked(tmp_path, mlops_stack) -> Setup:
    """A project made from the small template's first commit, committed to its own git repo."""
    template = tmp_path / "template"
    first_commit = make_template(template)
    result = mlops_stack("new", str(template), "--no-input", "-o", "projects", cwd=tmp_path)
    assert result.code == 0, result.err
    project = tmp_path / "projects" / "churn-model"
    init_repository(project)
    commit_all(project, "Initial project")
    return Setup(template, project, first_commit)


def record(project: Path) -> dict:
    return json.loads((project / ".cruft.json").read_text())


def read(project: Path, relative: str) -> str:
    return (project / relative).read_text()


# --- scenarios ---------------------------------------------------------------------------------

USER_PIPELINE = PIPELINE.replace("return [1, 2, 3]", "return [1, 2, 3, 4]")


def customize(project: Path, conflicting: bool) -> None:
    """The user's own work: edit the pipeline, add a file, delete a file (and, when
    `conflicting`, change lines the template also changes, and add a file it also adds)."""
    files = {
        "pipeline.py": textwrap.dedent(USER_PIPELINE).replace(
            "{{ cookiecutter.project_name }}", "Churn Model"
        ),
        "my_analysis.py": "print('mine')\n",
        "docs/extra.md": None,
    }
    if conflicting:
        files |= {
            "config.py": "THRESHOLD = 0.7\nSEED = 7\n",
            "notes.md": "Notes\n\nOur own notes.\n",
            "CHANGELOG.md": "# Changes\n\n- our first release\n",
        }
    write_files(project, files)
    commit_all(project, "Customize")


def test_a_clean_update_applies_the_template_and_keeps_the_users_work(baked, mlops_stack):
    customize(baked.project, conflicting=False)
    write_files(baked.template, TEMPLATE_V2)
    new_commit = commit_all(baked.template, "Template v2")

    result = mlops_stack("update", cwd=baked.project)

    assert result.code == 0, result.err
    pipeline = read(baked.project, "pipeline.py")
    assert "return [1, 2, 3, 4]" in pipeline, "the user's edit is kept"
    assert "print(round(train(load()), 2))" in pipeline, "the template's edit is applied"
    assert read(baked.project, "config.py") == "THRESHOLD = 0.6\nSEED = 7\n"
    assert read(baked.project, "README.md").endswith("Run `python pipeline.py`.\n")
    assert read(baked.project, "validation.py").startswith("def validate")
    assert read(baked.project, "CHANGELOG.md").startswith("# Changes")
    assert read(baked.project, "my_analysis.py") == "print('mine')\n"
    assert not (baked.project / "docs/extra.md").exists(), "the user's deletion is kept"
    assert not (baked.project / "old_helper.py").exists()
    assert not (baked.project / "notes.md").exists()
    assert record(baked.project)["commit"] == new_commit
    assert mlops_stack("check", cwd=baked.project).code == 0
    assert "updated  pipeline.py" not in result.out and "merged   pipeline.py" in result.out


# What happens to each file when the user and the template both worked on the project.
AFTER_A_CONFLICTING_UPDATE = [
    ("pipeline.py", "return [1, 2, 3, 4]", "the user's edit is kept"),
    ("pipeline.py", "print(round(train(load()), 2))", "the template's edit is applied"),
    ("config.py", "<<<<<<< your project\nTHRESHOLD = 0.7\n=======\nTHRESHOLD = 0.6\n", "markers"),
    ("CHANGELOG.md", "- our first release\n=======\n- validation step\n", "markers"),
    ("notes.md", "Our own notes.", "changed by the user, removed by the template: kept"),
    ("my_analysis.py", "print('mine')", "the user's new file is kept"),
    ("validation.py", "def validate", "the template's new file is added"),
    ("README.md", "Run `python pipeline.py`.", "the template's edit is applied"),
]


@pytest.fixture
def conflicting_update(baked, mlops_stack) -> tuple[Setup, Result]:
    customize(baked.project, conflicting=True)
    write_files(baked.template, TEMPLATE_V2)
    commit_all(baked.template, "Template v2")
    return baked, mlops_stack("update", cwd=baked.project)


@pytest.mark.parametrize(
    ("path", "expected", "why"),
    AFTER_A_CONFLICTING_UPDATE,
    ids=[f"{path}:{why}" for path, _, why in AFTER_A_CONFLICTING_UPDATE],
)
def test_a_conflicting_update_merges_every_file(conflicting_update, path, expected, why):
    setup, _ = conflicting_update
    assert expected in read(setup.project, path), why


def test_a_conflicting_update_fails_loudly_and_keeps_the_recorded_version(conflicting_update):
    setup, result = conflicting_update
    assert result.code == 1
    conflicted = [line.split(":")[0].strip() for line in result.err.splitlines() if ": " in line]
    assert {"CHANGELOG.md", "config.py", "notes.md"} <= set(conflicted)
    assert "pipeline.py" not in conflicted
    assert not (setup.project / "old_helper.py").exists()
    assert not (setup.project / "docs/extra.md").exists()
    assert record(setup.project)["commit"] == setup.first_commit


def test_continue_records_the_update_once_the_conflicts_are_resolved(
    conflicting_update, mlops_stack
):
    setup, _ = conflicting_update
    refused = mlops_stack("update", "--continue", cwd=setup.project)
    assert refused.code == 1
    assert "config.py" in refused.err and "CHANGELOG.md" in refused.err

    write_files(
        setup.project,
        {
            "config.py": "THRESHOLD = 0.7\nSEED = 7\n",
            "CHANGELOG.md": "# Changes\n\n- our first release\n- validation step\n",
        },
    )
    assert mlops_stack("update", "--continue", cwd=setup.project).code == 0
    assert record(setup.project)["commit"] == git("rev-parse", "HEAD", cwd=setup.template)
    assert mlops_stack("check", cwd=setup.project).code == 0
    commit_all(setup.project, "Update from the template")
    again = mlops_stack("update", cwd=setup.project)
    assert (again.code, "Already up to date" in again.out) == (0, True)


def test_continue_refuses_an_update_whose_changes_were_discarded(conflicting_update, mlops_stack):
    setup, _ = conflicting_update
    git("reset", "--hard", "--quiet", cwd=setup.project)
    git("clean", "-d", "--force", "--quiet", cwd=setup.project)
    result = mlops_stack("update", "--continue", cwd=setup.project)
    assert result.code == 1
    assert "no longer in the working tree" in result.err
    assert record(setup.project)["commit"] == setup.first_commit


def test_abort_puts_the_project_back_as_it_was(conflicting_update, mlops_stack):
    setup, _ = conflicting_update
    assert mlops_stack("update", "--abort", cwd=setup.project).code == 0
    assert git("status", "--porcelain", cwd=setup.project) == ""
    assert mlops_stack("update", "--continue", cwd=setup.project).code == 1


def test_abort_after_a_commit_restores_nothing_and_keeps_the_old_record(
    conflicting_update, mlops_stack
):
    setup, _ = conflicting_update
    commit_all(setup.project, "Commit the conflicts by mistake")
    result = mlops_stack("update", "--abort", cwd=setup.project)
    assert result.code == 0
    assert "no file was restored" in result.out
    assert record(setup.project)["commit"] == setup.first_commit
    assert mlops_stack("update", "--continue", cwd=setup.project).code == 1


def test_a_new_update_waits_for_the_pending_one(conflicting_update, mlops_stack):
    setup, _ = conflicting_update
    result = mlops_stack("update", cwd=setup.project)
    assert result.code == 1
    assert "an update is in progress" in result.err
    assert "An update is in progress" in mlops_stack("check", cwd=setup.project).out


def test_skipped_paths_are_left_alone(baked, mlops_stack):
    origin = record(baked.project)
    origin["skip"] = ["README.md", "docs/"]
    (baked.project / ".cruft.json").write_text(json.dumps(origin))
    commit_all(baked.project, "Skip the README")
    write_files(baked.template, TEMPLATE_V2 | {f"{PROJECT}/docs/extra.md": "Changed\n"})
    commit_all(baked.template, "Template v2")

    assert mlops_stack("update", cwd=baked.project).code == 0

    assert read(baked.project, "README.md") == "# Churn Model\n"
    assert read(baked.project, "docs/extra.md") == "Extra documentation\n"
    assert read(baked.project, "config.py") == "THRESHOLD = 0.6\nSEED = 7\n"
    assert record(baked.project)["skip"] == ["README.md", "docs/"]


def test_check_says_when_the_project_is_behind(baked, mlops_stack):
    assert mlops_stack("check", cwd=baked.project).code == 0
    write_files(baked.template, TEMPLATE_V2)
    commit_all(baked.template, "Template v2")
    write_files(baked.template, {f"{PROJECT}/more.md": "More\n"})
    commit_all(baked.template, "Template v3")

    result = mlops_stack("check", cwd=baked.project)

    assert result.code == 1
    assert "Behind the template by 2 commits" in result.out
    assert mlops_stack("check", "--to", baked.first_commit, cwd=baked.project).code == 0


def test_update_to_a_given_ref(baked, mlops_stack):
    git("tag", "v1", cwd=baked.template)
    write_files(baked.template, TEMPLATE_V2)
    v2 = commit_all(baked.template, "Template v2")
    git("tag", "v2", cwd=baked.template)
    write_files(baked.template, {f"{PROJECT}/more.md": "More\n"})
    commit_all(baked.template, "Template v3")

    assert mlops_stack("update", "--to", "v2", cwd=baked.project).code == 0
    assert record(baked.project)["commit"] == v2
    assert not (baked.project / "more.md").exists()


def test_changing_an_answer_during_an_update(baked, mlops_stack):
    assert not (baked.project / "monitoring.py").exists()
    write_files(baked.template, TEMPLATE_V2)
    commit_all(baked.template, "Template v2")

    result = mlops_stack("update", "include_monitoring=yes", cwd=baked.project)

    assert result.code == 0, result.err
    assert read(baked.project, "monitoring.py") == "DRIFT_LIMIT = 0.2\n"
    assert record(baked.project)["context"]["cookiecutter"]["include_monitoring"] == "yes"


def test_changing_an_answer_without_a_new_template_commit(baked, mlops_stack):
    result = mlops_stack("update", "include_monitoring=yes", cwd=baked.project)
    assert result.code == 0, result.err
    assert read(baked.project, "monitoring.py") == "DRIFT_LIMIT = 0.1\n"
    assert record(baked.project)["commit"] == baked.first_commit


def test_an_answer_the_new_template_adds_takes_its_default(baked, mlops_stack):
    variables = json.loads(read(baked.template, "cookiecutter.json"))
    write_files(
        baked.template,
        {
            "cookiecutter.json": json.dumps({**variables, "owner": "data-team"}),
            f"{PROJECT}/OWNERS": "{{ cookiecutter.owner }}\n",
        },
    )
    commit_all(baked.template, "Ask for an owner")

    result = mlops_stack("update", cwd=baked.project)

    assert result.code == 0, result.err
    assert "owner=data-team" in result.err
    assert read(baked.project, "OWNERS") == "data-team\n"
    assert record(baked.project)["context"]["cookiecutter"]["owner"] == "data-team"


def test_answers_are_checked_with_the_new_templates_rules(baked, mlops_stack):
    hook = read(baked.template, "hooks/pre_gen_project.py")
    write_files(
        baked.template, {"hooks/pre_gen_project.py": hook.replace("MAX_NAME = 30", "MAX_NAME = 20")}
    )
    commit_all(baked.template, "Shorter names")
    before = git("rev-parse", "HEAD", cwd=baked.project)

    result = mlops_stack("update", "project_name=A Rather Longer Model Name", cwd=baked.project)

    assert result.code == 1
    assert "project_name: 'A Rather Longer Model Name' must be at most 20 characters" in result.err
    assert git("status", "--porcelain", cwd=baked.project) == ""
    assert git("rev-parse", "HEAD", cwd=baked.project) == before


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        pytest.param("project_name={{ 7 * 7 }}", "project_name", id="template-syntax"),
        pytest.param("include_monitoring=maybe", "include_monitoring", id="not-a-choice"),
        pytest.param("colour=blue", "colour", id="unknown-answer"),
    ],
)
def test_bad_answers_to_update_change_nothing(baked, mlops_stack, answer, named):
    result = mlops_stack("update", answer, cwd=baked.project)
    assert result.code == 1
    assert any(line.strip().startswith(named) for line in result.err.splitlines())
    assert git("status", "--porcelain", cwd=baked.project) == ""


@pytest.mark.parametrize(
    "dirt",
    [
        pytest.param({"pipeline.py": "changed\n"}, id="modified-file"),
        pytest.param({"scratch.py": "x = 1\n"}, id="untracked-file"),
    ],
)
def test_update_refuses_a_dirty_working_tree(baked, mlops_stack, dirt):
    write_files(baked.template, TEMPLATE_V2)
    commit_all(baked.template, "Template v2")
    write_files(baked.project, dirt)

    result = mlops_stack("update", cwd=baked.project)

    assert result.code == 1
    assert "uncommitted changes" in result.err
    assert not (baked.project / "validation.py").exists()


def test_update_needs_a_git_repository(baked, mlops_stack, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / ".cruft.json").write_text(read(baked.project, ".cruft.json"))
    result = mlops_stack("update", cwd=copy)
    assert result.code == 1
    assert "not in a git repository" in result.err


def test_update_outside_a_project_says_so(mlops_stack, tmp_path):
    result = mlops_stack("update", cwd=tmp_path)
    assert result.code == 1
    assert "has no .cruft.json" in result.err


# A damaged record: what it holds, and what the message must say about it.
DAMAGED_RECORDS = [
    pytest.param(
        {"commit": 12345}, "commit is 12345, not a full template commit hash", id="commit-a-number"
    ),
    pytest.param(
        {"commit": "abc"}, "commit is 'abc', not a full template commit hash", id="commit-short"
    ),
    pytest.param(
        {"template": None}, "template is None, not the template's git URL", id="template-null"
    ),
    pytest.param(
        {"template": ""}, "template is '', not the template's git URL", id="template-empty"
    ),
    pytest.param({"context": []}, "context is [], not a mapping", id="context-a-list"),
    pytest.param({"context": {"cookiecutter": "x"}}, "context is", id="answers-not-a-mapping"),
    pytest.param({"skip": "docs"}, "skip is 'docs', not a list of paths", id="skip-text"),
    pytest.param(
        {"checkout": 7}, "checkout is 7, not a branch, tag or commit", id="checkout-number"
    ),
    pytest.param({"directory": ["a"]}, "directory is ['a'], not a folder", id="directory-list"),
]


def damage_record(project: Path, changes: dict | str) -> None:
    if isinstance(changes, str):
        text = changes
    else:
        text = json.dumps({**record(project), **changes})
    (project / ".cruft.json").write_text(text)
    commit_all(project, "Damage the record")


@pytest.mark.parametrize("command", ["update", "check"])
@pytest.mark.parametrize(("changes", "message"), DAMAGED_RECORDS)
def test_a_damaged_record_is_one_message_naming_the_field(
    baked, mlops_stack, command, changes, message
):
    damage_record(baked.project, changes)
    result = mlops_stack(command, cwd=baked.project)
    assert result.code == 1
    assert result.err.startswith(f"error: {baked.project / '.cruft.json'}: ")
    assert message in result.err
    assert "restore it from git (`git checkout -- .cruft.json`)" in result.err


@pytest.mark.parametrize("command", ["update", "check"])
@pytest.mark.parametrize(
    "text", ["{not json", "[]", "\xff"], ids=["not-json", "not-an-object", "not-utf-8"]
)
def test_a_record_that_is_not_a_json_object_is_one_message(baked, mlops_stack, command, text):
    if text == "\xff":
        (baked.project / ".cruft.json").write_bytes(b"\xff")
        commit_all(baked.project, "Damage the record")
    else:
        damage_record(baked.project, text)
    result = mlops_stack(command, cwd=baked.project)
    assert result.code == 1
    assert result.err.startswith(f"error: {baked.project / '.cruft.json'}")
    assert "restore it from git" in result.err


def test_check_and_update_agree_when_the_recorded_commit_is_missing(baked, mlops_stack):
    damage_record(baked.project, {"commit": "0" * 40})
    checked = mlops_stack("check", cwd=baked.project)
    updated = mlops_stack("update", cwd=baked.project)
    assert checked.code == updated.code == 1
    assert checked.err == updated.err
    assert "the template commit recorded in .cruft.json, 000000000000, is not in" in checked.err
    assert "pass --template PATH_OR_URL to a copy of the template that has it" in checked.err
    assert "Run `mlops-stack update`" not in checked.out


def test_check_advises_an_update_that_update_then_makes(baked, mlops_stack):
    """A recorded commit off the template's history: check says update, and update works."""
    git("checkout", "--quiet", "-b", "side", cwd=baked.template)
    write_files(baked.template, {f"{PROJECT}/side.md": "Side\n"})
    side = commit_all(baked.template, "Side branch")
    git("checkout", "--quiet", "main", cwd=baked.template)
    write_files(baked.template, TEMPLATE_V2)
    commit_all(baked.template, "Template v2")
    damage_record(baked.project, {"commit": side})

    checked = mlops_stack("check", cwd=baked.project)
    assert checked.code == 1 and "Run `mlops-stack update`" in checked.out
    assert mlops_stack("update", cwd=baked.project).code == 0


@pytest.mark.parametrize("command", [["check"], ["update", "--continue"], ["update", "--abort"]])
def test_a_damaged_record_of_a_pending_update_is_one_message(
    conflicting_update, mlops_stack, command
):
    setup, _ = conflicting_update
    pending = (
        Path(git("rev-parse", "--absolute-git-dir", cwd=setup.project)) / "mlops-stack-update.json"
    )
    pending.write_text('{"commit": 1}')
    result = mlops_stack(*command, cwd=setup.project)
    assert result.code == 1
    assert f"the record of the update in progress, {pending}, is damaged: delete it" in result.err


def test_an_unknown_ref_is_named(baked, mlops_stack):
    for command in ("update", "check"):
        result = mlops_stack(command, "--to", "no-such-branch", cwd=baked.project)
        assert result.code == 1
        assert "unknown template ref 'no-such-branch'" in result.err


def test_a_moved_template_can_be_given_with_template(baked, mlops_stack, tmp_path):
    moved = tmp_path / "elsewhere" / "template"
    moved.parent.mkdir()
    baked.template.rename(moved)
    assert "template not found" in mlops_stack("check", cwd=baked.project).err
    write_files(moved, TEMPLATE_V2)
    new_commit = commit_all(moved, "Template v2")

    result = mlops_stack("update", "--template", str(moved), cwd=baked.project)

    assert result.code == 0, result.err
    assert record(baked.project)["commit"] == new_commit
    assert record(baked.project)["template"] == "../../template", "the recorded source stays"


def test_a_template_from_a_git_url(tmp_path, mlops_stack):
    template = tmp_path / "template"
    make_template(template)
    url = template.as_uri()
    result = mlops_stack("new", url, "--no-input", "-o", "projects", cwd=tmp_path)
    assert result.code == 0, result.err
    project = tmp_path / "projects" / "churn-model"
    assert record(project)["template"] == url
    init_repository(project)
    commit_all(project, "Initial project")
    write_files(template, TEMPLATE_V2)
    commit_all(template, "Template v2")

    assert mlops_stack("check", cwd=project).code == 1
    assert mlops_stack("update", cwd=project).code == 0
    assert (project / "validation.py").exists()


# --- the real template -------------------------------------------------------------------------


@pytest.fixture
def real_template(tmp_path) -> Path:
    """A clone of this template's committed files, free to receive test commits."""
    clone = tmp_path / "mlops-stack"
    git("clone", "--quiet", str(TEMPLATE_DIR), str(clone), cwd=tmp_path)
    git("config", "user.name", "Template Tests", cwd=clone)
    git("config", "user.email", "template-tests@example.com", cwd=clone)
    return clone


def project_files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
        and ".git" not in path.relative_to(root).parts
        and path.name != ".cruft.json"
    }


def a_template_text_file(template: Path) -> Path:
    """Any Markdown file the template generates at a fixed path (none of the real template's
    files is relied on by name)."""
    candidates = sorted(
        path
        for path in (template / PROJECT).rglob("*.md")
        if "{{" not in str(path.relative_to(template / PROJECT))
        # .monorepo/ holds the files only a setup_mode=cicd_only bake moves into place.
        and ".monorepo" not in path.relative_to(template / PROJECT).parts
    )
    assert candidates, "the template generates no Markdown file"
    return candidates[0]


def test_the_real_template_new_check_and_a_clean_update(real_template, tmp_path, mlops_stack):
    made = mlops_stack("new", str(real_template), "--no-input", "-o", "projects", cwd=tmp_path)
    assert made.code == 0, made.err
    [project] = (tmp_path / "projects").iterdir()
    origin = record(project)
    assert origin["commit"] == git("rev-parse", "HEAD", cwd=real_template)
    assert (project / origin["template"]).resolve() == real_template.resolve()
    assert str(tmp_path) not in read(project, ".cruft.json")
    init_repository(project)
    commit_all(project, "Initial project")
    assert mlops_stack("check", cwd=project).code == 0

    edited = a_template_text_file(real_template)
    edited.write_text(edited.read_text() + "\nUpgrade test line.\n")
    (real_template / PROJECT / "UPGRADE-TEST.md").write_text("Added by a template commit.\n")
    new_commit = commit_all(real_template, "A trivial template change")
    assert mlops_stack("check", cwd=project).code == 1

    updated = mlops_stack("update", cwd=project)

    assert updated.code == 0, updated.err
    relative = edited.relative_to(real_template / PROJECT)
    assert read(project, str(relative)).endswith("\nUpgrade test line.\n")
    assert read(project, "UPGRADE-TEST.md") == "Added by a template commit.\n"
    assert record(project)["commit"] == new_commit
    assert mlops_stack("check", cwd=project).code == 0


def test_the_real_template_updated_with_a_changed_answer_equals_a_fresh_bake(
    real_template, tmp_path, mlops_stack
):
    made = mlops_stack(
        "new",
        str(real_template),
        "--no-input",
        "-o",
        "projects",
        "include_monitoring=yes",
        cwd=tmp_path,
    )
    assert made.code == 0, made.err
    [project] = (tmp_path / "projects").iterdir()
    init_repository(project)
    commit_all(project, "Initial project")

    updated = mlops_stack("update", "include_monitoring=no", cwd=project)

    assert updated.code == 0, updated.err
    fresh = cookiecutter(
        str(real_template),
        no_input=True,
        extra_context={"include_monitoring": "no"},
        output_dir=str(tmp_path / "fresh"),
    )
    assert project_files(project) == project_files(Path(fresh))
    assert record(project)["context"]["cookiecutter"]["include_monitoring"] == "no"


def test_a_monorepos_ci_and_each_project_update_from_their_own_records(
    real_template, tmp_path, mlops_stack
):
    root = tmp_path / "ml-monorepo"
    made = mlops_stack(
        "new",
        str(real_template),
        "--no-input",
        "setup_mode=cicd_only",
        "project_name=ML Monorepo",
        cwd=tmp_path,
    )
    assert made.code == 0, made.err
    init_repository(root)
    commit_all(root, "CI/CD")
    for name in ("Fraud Detection", "Demand Forecast"):
        made = mlops_stack(
            "new",
            str(real_template),
            "--no-input",
            "setup_mode=project_only",
            f"project_name={name}",
            cwd=root,
        )
        assert made.code == 0, made.err
    fraud, forecast = root / "fraud-detection", root / "demand-forecast"
    # The user's own work in a project and in the CI/CD's guide.
    (fraud / "NOTES.md").write_text("Fraud team notes.\n")
    guide = read(root, "docs/ci-cd-setup.md")
    (root / "docs/ci-cd-setup.md").write_text(guide + "\nOur runners: large.\n")
    commit_all(root, "Two projects, customized")
    # One template commit changes the monorepo's guide and every project's README.
    template_guide = real_template / PROJECT / ".monorepo/docs/ci-cd-setup.md"
    improved = template_guide.read_text().replace("holds one CI/CD", "holds one improved CI/CD")
    template_guide.write_text(improved)
    template_readme = real_template / PROJECT / "README.md"
    template_readme.write_text(template_readme.read_text() + "\nA template improvement.\n")
    new_commit = commit_all(real_template, "Improve the guide and the README")
    before = project_files(root)

    ci_update = mlops_stack("update", cwd=root)

    assert ci_update.code == 0, ci_update.err
    assert "holds one improved CI/CD" in read(root, "docs/ci-cd-setup.md")
    assert read(root, "docs/ci-cd-setup.md").endswith("\nOur runners: large.\n")
    assert record(root)["commit"] == new_commit
    changed = {path for path, text in project_files(root).items() if before.get(path) != text}
    assert changed == {"docs/ci-cd-setup.md"}, "the root's update touched a project"
    commit_all(root, "Update the CI/CD")

    # A project's update waits on its own: a conflict pending in one project blocks no other.
    (fraud / "README.md").write_text(read(fraud, "README.md") + "\nA template improvement?\n")
    commit_all(root, "Fraud's own README ending")
    assert mlops_stack("update", cwd=fraud).code == 1
    forecast_update = mlops_stack("update", cwd=forecast)

    assert forecast_update.code == 0, forecast_update.err
    assert read(forecast, "README.md").endswith("\nA template improvement.\n")
    assert record(forecast)["commit"] == new_commit
    assert read(fraud, "NOTES.md") == "Fraud team notes.\n"
    assert mlops_stack("update", "--abort", cwd=fraud).code == 0
    assert record(fraud)["commit"] != new_commit
    assert read(fraud, "README.md").endswith("\nA template improvement?\n")


def test_cruft_itself_checks_and_updates_the_project(baked, monkeypatch):
    """The record is cruft's own format (this runs where cruft is installed)."""
    cruft = pytest.importorskip("cruft")
    monkeypatch.chdir(baked.project)
    assert cruft.check() is True
    write_files(baked.template, TEMPLATE_V2)
    new_commit = commit_all(baked.template, "Template v2")
    assert cruft.check() is False

    assert cruft.update() is True

    assert (baked.project / "validation.py").exists()
    assert record(baked.project)["commit"] == new_commit
