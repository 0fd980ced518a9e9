"""`mlops-stack new`: answers are checked with the template's own rules before anything is
rendered, and the project records where it came from."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from combinations import CHOICES, TEMPLATE_FILE
from test_upgrade import (
    PROJECT,
    TEMPLATE_DIR,
    command_runner,
    commit_all,
    git,
    init_repository,
    isolate_tools,
    make_template,
    record,
    write_files,
)

REAL = str(TEMPLATE_DIR)


@pytest.fixture(autouse=True)
def isolated_tools(tmp_path, monkeypatch):
    isolate_tools(tmp_path, monkeypatch)


@pytest.fixture
def mlops_stack(capfd, monkeypatch):
    return command_runner(capfd, monkeypatch)


# (readable id, answers on the command line, the answer the message must name)
REFUSED_BEFORE_RENDERING = [
    ("template-syntax", ["project_name={{ 7 * 7 }}"], "project_name"),
    ("statement-syntax", ["description={% if true %}x{% endif %}"], "description"),
    ("comment-syntax", ["author_name=Ann {# x #}"], "author_name"),
    ("control-character", ["description=two\nlines"], "description"),
    ("unknown-answer", ["colour=blue"], "colour"),
    ("misspelt-answer", ["clowd=aws"], "clowd"),
    ("value-outside-the-choices", ["cloud=oracle"], "cloud"),
    ("rule-of-the-template", ["project_slug=Fraud_Detection"], "project_slug"),
    ("rule-between-answers", ["release_branch=main"], "release_branch"),
    ("rule-on-a-derived-answer", ["project_name=2024 Forecast"], "project_name"),
]


@pytest.mark.parametrize(
    ("answers", "named"),
    [pytest.param(answers, named, id=case) for case, answers, named in REFUSED_BEFORE_RENDERING],
)
def test_bad_answers_are_refused_by_name_with_nothing_written(
    mlops_stack, tmp_path, answers, named
):
    result = mlops_stack("new", REAL, "--no-input", "-o", "out", *answers, cwd=tmp_path)
    assert result.code == 1
    assert named in [line.strip().split(":")[0] for line in result.err.splitlines()], result.err
    assert not (tmp_path / "out").exists()
    assert "49" not in result.out + result.err, "template syntax must never run"


def test_a_misspelt_answer_gets_a_suggestion(mlops_stack, tmp_path):
    result = mlops_stack("new", REAL, "--no-input", "clowd=aws", cwd=tmp_path)
    assert "clowd: not an answer of this template (did you mean cloud?)" in result.err


def test_a_value_outside_the_choices_lists_them(mlops_stack, tmp_path):
    result = mlops_stack("new", REAL, "--no-input", "cloud=oracle", cwd=tmp_path)
    assert "cloud: 'oracle' must be one of azure, aws, gcp. Example: cloud=aws" in result.err


def test_the_rules_come_from_the_template_being_rendered(mlops_stack, tmp_path):
    make_template(tmp_path / "template")
    name = "A Model Name Longer Than Thirty"
    result = mlops_stack(
        "new", "template", "--no-input", "-o", "out", f"project_name={name}", cwd=tmp_path
    )
    assert result.code == 1
    assert f"project_name: {name!r} must be at most 30 characters" in result.err
    assert not (tmp_path / "out").exists()


def test_answers_may_come_before_and_after_the_options(mlops_stack, tmp_path):
    result = mlops_stack(
        "new", REAL, "cloud=aws", "--no-input", "-o", "out", "compute=classic", cwd=tmp_path
    )
    assert result.code == 0, result.err
    answers = record(tmp_path / "out" / "my-mlops-project")["context"]["cookiecutter"]
    assert (answers["cloud"], answers["compute"]) == ("aws", "classic")


def test_a_workspace_url_with_a_path_is_reduced_to_its_host(mlops_stack, tmp_path):
    pasted = "https://adb-1234.5.azuredatabricks.net/?o=1234#"
    result = mlops_stack(
        "new",
        REAL,
        "--no-input",
        "-o",
        "out",
        f"databricks_staging_workspace_host={pasted}",
        cwd=tmp_path,
    )
    assert result.code == 0, result.err
    assert (
        "note: databricks_staging_workspace_host: using https://adb-1234.5.azuredatabricks.net"
        in result.err
    )
    answers = record(tmp_path / "out" / "my-mlops-project")["context"]["cookiecutter"]
    assert answers["databricks_staging_workspace_host"] == "https://adb-1234.5.azuredatabricks.net"


def write_config(path: Path, default_context: dict) -> Path:
    path.write_text(json.dumps({"default_context": default_context}))  # JSON is valid YAML
    return path


def test_a_config_file_gives_defaults_that_the_command_line_overrides(mlops_stack, tmp_path):
    config = write_config(
        tmp_path / "config.yaml", {"project_name": "Fraud Detection", "cloud": "aws"}
    )
    result = mlops_stack(
        "new",
        REAL,
        "--no-input",
        "-o",
        "out",
        "--config-file",
        str(config),
        "cloud=gcp",
        cwd=tmp_path,
    )
    assert result.code == 0, result.err
    answers = record(tmp_path / "out" / "fraud-detection")["context"]["cookiecutter"]
    assert (answers["project_name"], answers["package_name"]) == (
        "Fraud Detection",
        "fraud_detection",
    )
    assert answers["cloud"] == "gcp"


@pytest.mark.parametrize(
    ("default_context", "expected"),
    [
        pytest.param(
            {"project_name": "{{ cookiecutter.cloud }}"},
            "project_name: '{{ cookiecutter.cloud }}' (from the config file) must not contain",
            id="template-syntax",
        ),
        pytest.param(
            {"cloud": "oracle"},
            "cloud: 'oracle' must be one of azure, aws, gcp. Example: cloud=aws",
            id="value-outside-the-choices",
        ),
        pytest.param(
            {"release_branch": 1.10},
            "release_branch: 1.1 (from the config file) is a number, not text: write it in "
            "quotes. Example: release_branch=release",
            id="a-number-yaml-changed",
        ),
        pytest.param(
            {"dev_catalog": ["dev"]},
            "dev_catalog: ['dev'] (from the config file) is a list, not text",
            id="a-list",
        ),
        pytest.param(
            {"include_monitoring": "maybe"},
            "include_monitoring: 'maybe' must be one of yes, no. Example: include_monitoring=no",
            id="neither-yes-nor-no",
        ),
    ],
)
def test_bad_config_file_answers_are_refused(mlops_stack, tmp_path, default_context, expected):
    config = write_config(tmp_path / "config.yaml", default_context)
    result = mlops_stack(
        "new", REAL, "--no-input", "-o", "out", "--config-file", str(config), cwd=tmp_path
    )
    assert result.code == 1
    assert expected in result.err
    assert not (tmp_path / "out").exists()


@pytest.fixture
def typed(monkeypatch):
    """Answers typed at the prompts; the other prompts take their defaults."""
    from cookiecutter import prompt

    answers = {}
    monkeypatch.setattr(
        prompt, "read_user_variable", lambda name, default, *args, **kw: answers.get(name, default)
    )
    monkeypatch.setattr(
        prompt, "read_user_choice", lambda name, options, *args, **kw: answers.get(name, options[0])
    )
    return answers


def test_typed_answers_are_checked_before_rendering(mlops_stack, tmp_path, typed):
    typed["project_name"] = "{{ 7 * 7 }}"
    result = mlops_stack("new", REAL, "-o", "out", cwd=tmp_path)
    assert result.code == 1
    assert "project_name: '{{ 7 * 7 }}' must not contain template syntax" in result.err
    assert not (tmp_path / "out").exists()


def test_typed_template_syntax_is_refused_even_if_the_templates_rules_allow_it(
    mlops_stack, tmp_path, typed
):
    make_template(tmp_path / "template")  # its rules only limit the name's length
    typed["project_name"] = "{{ 7 * 7 }}"
    result = mlops_stack("new", "template", "-o", "out", cwd=tmp_path)
    assert result.code == 1
    assert "project_name: '{{ 7 * 7 }}' must not contain template syntax" in result.err
    assert not (tmp_path / "out").exists()


def test_typed_answers_make_the_project(mlops_stack, tmp_path, typed):
    typed.update(project_name="Fraud Detection", cloud="gcp")
    result = mlops_stack("new", REAL, "-o", "out", cwd=tmp_path)
    assert result.code == 0, result.err
    answers = record(tmp_path / "out" / "fraud-detection")["context"]["cookiecutter"]
    assert (answers["project_slug"], answers["cloud"]) == ("fraud-detection", "gcp")


def test_the_record_is_complete_and_holds_no_path_of_this_machine(mlops_stack, tmp_path):
    template = tmp_path / "template"
    commit = make_template(template)
    result = mlops_stack("new", str(template), "--no-input", "-o", "projects", cwd=tmp_path)
    assert result.code == 0, result.err
    project = tmp_path / "projects" / "churn-model"
    origin = record(project)
    assert origin == {
        "template": "../../template",
        "commit": commit,
        "checkout": None,
        "context": {
            "cookiecutter": {
                "project_name": "Churn Model",
                "project_slug": "churn-model",
                "include_monitoring": "no",
                "_template": "../../template",
                "_commit": commit,
            }
        },
        "directory": None,
        "skip": [],
    }
    assert (project / origin["template"]).resolve() == template.resolve()


def test_a_shared_url_can_be_recorded_instead_of_the_local_path(mlops_stack, tmp_path):
    make_template(tmp_path / "template")
    url = "https://git.example.com/ml/mlops-stack.git"
    result = mlops_stack(
        "new", "template", "--no-input", "-o", "projects", "--template-source", url, cwd=tmp_path
    )
    assert result.code == 0, result.err
    origin = record(tmp_path / "projects" / "churn-model")
    assert origin["template"] == origin["context"]["cookiecutter"]["_template"] == url


def test_a_template_in_a_folder_of_its_repository(mlops_stack, tmp_path):
    repository = tmp_path / "templates"
    repository.mkdir()
    init_repository(repository)
    write_files(repository, {"README.md": "Templates\n"})
    commit_all(repository, "Start")
    make_template(repository / "ml")
    git("rm", "-r", "--cached", "--quiet", ".", cwd=repository / "ml")
    (repository / "ml" / ".git").rename(tmp_path / "unused.git")
    commit_all(repository, "Add the ml template")

    result = mlops_stack("new", "templates/ml", "--no-input", "-o", "projects", cwd=tmp_path)

    assert result.code == 0, result.err
    origin = record(tmp_path / "projects" / "churn-model")
    assert (origin["template"], origin["directory"]) == ("../../templates", "ml")


def test_the_committed_template_is_used_not_its_uncommitted_changes(mlops_stack, tmp_path):
    template = tmp_path / "template"
    make_template(template)
    write_files(template, {f"{PROJECT}/README.md": "Uncommitted\n"})
    result = mlops_stack("new", "template", "--no-input", "-o", "projects", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "has uncommitted changes" in result.err
    assert (tmp_path / "projects" / "churn-model" / "README.md").read_text() == "# Churn Model\n"


def test_a_checkout_is_made_from_and_recorded(mlops_stack, tmp_path):
    template = tmp_path / "template"
    first = make_template(template)
    git("tag", "v1", cwd=template)
    write_files(template, {f"{PROJECT}/later.md": "Later\n"})
    commit_all(template, "Later")
    result = mlops_stack(
        "new", "template", "--no-input", "-o", "projects", "--checkout", "v1", cwd=tmp_path
    )
    assert result.code == 0, result.err
    project = tmp_path / "projects" / "churn-model"
    assert (record(project)["commit"], record(project)["checkout"]) == (first, "v1")
    assert not (project / "later.md").exists()


def test_refusals_before_rendering_come_with_a_valid_example(mlops_stack, tmp_path):
    result = mlops_stack("new", REAL, "--no-input", "dev_catalog={{ x }}", cwd=tmp_path)
    assert result.code == 1
    assert (
        "dev_catalog: '{{ x }}' must not contain template syntax ({{, {% or {#). "
        "Example: dev_catalog=ml_dev"
    ) in result.err


@pytest.mark.parametrize(
    ("written", "meaning"), [("no", "no"), ("yes", "yes"), ("false", "no"), ("true", "yes")]
)
def test_an_unquoted_yes_or_no_in_a_config_file_means_what_was_written(
    mlops_stack, tmp_path, written, meaning
):
    config = tmp_path / "config.yaml"
    config.write_text(f"default_context:\n  include_monitoring: {written}\n")
    result = mlops_stack(
        "new", REAL, "--no-input", "-o", "out", "--config-file", str(config), cwd=tmp_path
    )
    assert result.code == 0, result.err
    project = tmp_path / "out" / "my-mlops-project"
    assert record(project)["context"]["cookiecutter"]["include_monitoring"] == meaning
    assert (project / "resources" / "monitoring.yml").exists() == (meaning == "yes")


def test_a_misspelt_name_in_a_config_file_gets_a_note(mlops_stack, tmp_path):
    config = write_config(tmp_path / "config.yaml", {"clowd": "aws", "full_name": "Ann"})
    result = mlops_stack(
        "new", REAL, "--no-input", "-o", "out", "--config-file", str(config), cwd=tmp_path
    )
    assert result.code == 0, result.err
    assert "names clowd, which this template does not ask for (ignored): did you mean cloud?" in (
        result.err
    )
    assert "full_name" not in result.err, "other templates' answers are no concern of this one"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            "default_context: [cloud, aws]\n",
            "default_context is a list, not a mapping of answers",
            id="default-context-a-list",
        ),
        pytest.param(
            "default_context: aws\n",
            "default_context is a str, not a mapping of answers",
            id="default-context-text",
        ),
        pytest.param(
            "cookiecutters_dir: 5\n",
            "cookiecutters_dir and replay_dir must be folder paths",
            id="a-number-for-a-folder",
        ),
        pytest.param(
            "abbreviations: [gh]\n",
            "abbreviations is not a mapping of prefixes to URL patterns",
            id="abbreviations-a-list",
        ),
        pytest.param("- a\n", "Top-level element of YAML file", id="a-list"),
        pytest.param(": :\n", "Unable to parse YAML file", id="not-yaml"),
    ],
)
def test_a_config_file_of_the_wrong_shape_is_one_message(mlops_stack, tmp_path, content, message):
    config = tmp_path / "config.yaml"
    config.write_text(content)
    result = mlops_stack(
        "new", REAL, "--no-input", "-o", "out", "--config-file", str(config), cwd=tmp_path
    )
    assert result.code == 1
    assert result.err.startswith("error: ") and message in result.err, result.err
    assert str(config) in result.err or "config.yaml" in result.err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda path: path.mkdir(), "Is a directory", id="a-folder"),
        pytest.param(lambda path: path.write_bytes(b"\xff\xfe"), "can't decode", id="not-utf-8"),
    ],
)
def test_an_unreadable_config_file_is_one_message(mlops_stack, tmp_path, make, message):
    config = tmp_path / "config.yaml"
    make(config)
    result = mlops_stack("new", REAL, "--no-input", "--config-file", str(config), cwd=tmp_path)
    assert result.code == 1
    assert result.err.startswith("error: cannot read the config file") and message in result.err


def test_an_output_folder_that_is_a_file_is_one_message(mlops_stack, tmp_path):
    (tmp_path / "out").write_text("a file\n")
    result = mlops_stack("new", REAL, "--no-input", "-o", "out", cwd=tmp_path)
    assert result.code == 1
    assert (
        "error: Unable to create directory at out/my-mlops-project (check the path and its "
        "permissions)\n"
    ) in result.err


def test_answers_with_a_fixed_set_of_values_are_asked_as_menus(mlops_stack, tmp_path, monkeypatch):
    from cookiecutter import prompt

    asked = {}

    def read_user_choice(name, options, *args, **kw):
        asked[name] = list(options)
        return options[-1]

    monkeypatch.setattr(prompt, "read_user_choice", read_user_choice)
    monkeypatch.setattr(prompt, "read_user_variable", lambda name, default, *args, **kw: default)
    config = write_config(tmp_path / "config.yaml", {"cloud": "aws"})
    result = mlops_stack("new", REAL, "-o", "out", "--config-file", str(config), cwd=tmp_path)
    assert result.code == 0, result.err
    # Each menu lists the template's choices, the default first (the config file's, if it has one).
    defaults = {**json.loads(TEMPLATE_FILE.read_text(encoding="utf-8")), "cloud": "aws"}
    assert asked == {
        name: sorted(values, key=lambda value: value != defaults[name])
        for name, values in CHOICES.items()
    }
    assert asked["setup_mode"] == ["project_and_cicd", "project_only", "cicd_only"]
    answers = record(tmp_path / "out" / "my-mlops-project")["context"]["cookiecutter"]
    assert (answers["cloud"], answers["include_monitoring"]) == ("gcp", "no")
    # The last choice of each menu: cicd_only, the repository's CI/CD and its guide alone.
    assert answers["setup_mode"] == "cicd_only"
    made = sorted(path.name for path in (tmp_path / "out" / "my-mlops-project").iterdir())
    assert made == [".cruft.json", ".gitlab", ".gitlab-ci.yml", "docs", "scripts"]


def make_directory(path: Path, files: dict[str, str], repository: bool) -> None:
    path.mkdir()
    write_files(path, files)
    if repository:
        init_repository(path)
        commit_all(path, "Start")


@pytest.mark.parametrize(
    ("setup", "arguments", "message"),
    [
        pytest.param(
            None, ["missing"], "template not found: missing is neither", id="no-such-path"
        ),
        pytest.param(
            None, ["file:///nowhere/template.git"], "template not found: cannot clone", id="bad-url"
        ),
        pytest.param(
            ({"cookiecutter.json": "{}"}, False),
            ["plain"],
            "is not a git repository",
            id="not-a-repository",
        ),
        pytest.param(
            ({"README.md": "x\n"}, True), ["plain"], "no cookiecutter.json", id="not-a-template"
        ),
        pytest.param(
            None,
            [REAL, "--checkout", "no-such-tag"],
            "unknown template ref 'no-such-tag'",
            id="unknown-checkout",
        ),
        pytest.param(
            None, [REAL, "cloud"], "'cloud' is not an answer: write name=value", id="no-equals"
        ),
        pytest.param(
            None,
            [REAL, "--config-file", "missing.yaml"],
            "cannot use the config file",
            id="missing-config-file",
        ),
    ],
)
def test_errors_are_one_message_without_a_traceback(
    mlops_stack, tmp_path, setup, arguments, message
):
    if setup:
        make_directory(tmp_path / "plain", *setup)
    result = mlops_stack("new", *arguments, "--no-input", "-o", "out", cwd=tmp_path)
    assert result.code == 1
    assert result.err.startswith("error: ") and message in result.err, result.err
    assert not (tmp_path / "out").exists()


def test_an_existing_project_directory_is_left_alone(mlops_stack, tmp_path):
    assert mlops_stack("new", REAL, "--no-input", "-o", "out", cwd=tmp_path).code == 0
    readme = tmp_path / "out" / "my-mlops-project" / ".cruft.json"
    before = readme.read_text()
    result = mlops_stack("new", REAL, "--no-input", "-o", "out", cwd=tmp_path)
    assert result.code == 1
    assert "already exists" in result.err
    assert readme.read_text() == before


def test_the_command_runs_as_a_module_and_is_installed_as_mlops_stack(tmp_path):
    pyproject = tomllib.loads((TEMPLATE_DIR / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["mlops-stack"] == "mlops_stack.cli:main"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlops_stack",
            "new",
            REAL,
            "--no-input",
            "project_name={{ 7 * 7 }}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(TEMPLATE_DIR)},
    )
    assert result.returncode == 1
    assert "project_name: '{{ 7 * 7 }}' must not contain template syntax" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "home"]
