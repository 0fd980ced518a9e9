"""Bad answers are refused by `cookiecutter --no-input`: exit status 1, one message naming the
answer, and nothing left on disk."""

import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE_DIR = Path(__file__).resolve().parents[1]

# (readable id, answers given on the command line, the answer the message must name)
INVALID_ANSWER_SETS = [
    ("empty-project-name", {"project_name": " "}, "project_name"),
    ("long-project-name", {"project_name": "x" * 101}, "project_name"),
    ("slug-uppercase", {"project_slug": "Fraud-Detection"}, "project_slug"),
    ("slug-underscore", {"project_slug": "fraud_detection"}, "project_slug"),
    ("slug-trailing-hyphen", {"project_slug": "fraud-"}, "project_slug"),
    ("slug-too-long", {"project_slug": "a" * 65}, "project_slug"),
    ("name-of-symbols-only", {"project_name": "!!!"}, "project_slug"),
    ("package-hyphen", {"package_name": "fraud-detection"}, "package_name"),
    ("package-keyword", {"package_name": "lambda"}, "package_name"),
    ("package-soft-keyword", {"package_name": "match"}, "package_name"),
    ("package-stdlib", {"package_name": "logging"}, "package_name"),
    ("package-dependency", {"package_name": "pyspark"}, "package_name"),
    ("package-leading-digit", {"project_name": "2024 Forecast"}, "package_name"),
    (
        "dev-host-no-scheme",
        {"databricks_dev_workspace_host": "dev.example.com"},
        "databricks_dev_workspace_host",
    ),
    (
        "staging-host-http",
        {"databricks_staging_workspace_host": "http://a.example.com"},
        "databricks_staging_workspace_host",
    ),
    (
        "staging-host-path",
        {"databricks_staging_workspace_host": "https://a.b.com/x"},
        "databricks_staging_workspace_host",
    ),
    (
        "prod-host-query",
        {"databricks_prod_workspace_host": "https://a.b.com?o=1"},
        "databricks_prod_workspace_host",
    ),
    (
        "prod-host-port",
        {"databricks_prod_workspace_host": "https://a.b.com:8443"},
        "databricks_prod_workspace_host",
    ),
    (
        "prod-host-bad-label",
        {"databricks_prod_workspace_host": "https://a_b.com"},
        "databricks_prod_workspace_host",
    ),
    ("prod-host-empty", {"databricks_prod_workspace_host": ""}, "databricks_prod_workspace_host"),
    ("branch-space", {"default_branch": "my branch"}, "default_branch"),
    ("branch-double-dot", {"release_branch": "rel..ease"}, "release_branch"),
    ("branch-lock", {"release_branch": "release.lock"}, "release_branch"),
    ("branch-shell", {"release_branch": "release;rm"}, "release_branch"),
    ("branches-equal", {"release_branch": "main"}, "release_branch"),
    ("catalog-uppercase", {"dev_catalog": "Dev"}, "dev_catalog"),
    ("dev-catalog-double-underscore", {"dev_catalog": "ml__dev"}, "dev_catalog"),
    ("catalog-hyphen", {"test_catalog": "ml-test"}, "test_catalog"),
    ("catalog-leading-digit", {"staging_catalog": "1staging"}, "staging_catalog"),
    ("catalog-empty", {"prod_catalog": ""}, "prod_catalog"),
    ("schema-dot", {"schema_name": "a.b"}, "schema_name"),
    ("group-quote", {"read_user_group": "data 'team'"}, "read_user_group"),
    ("group-empty", {"model_read_group": ""}, "model_read_group"),
    ("group-padded", {"model_read_group": " users"}, "model_read_group"),
    ("description-control", {"description": "line\x1bescape"}, "description"),
]


def run_cookiecutter(output_dir: Path, answers: dict) -> subprocess.CompletedProcess:
    arguments = [f"{name}={value}" for name, value in answers.items()]
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE_DIR)]
        + ["-o", str(output_dir), *arguments],
        capture_output=True,
        text=True,
    )


def test_the_table_is_large_enough():
    assert len(INVALID_ANSWER_SETS) >= 30


@pytest.mark.parametrize(
    ("answers", "named"),
    [pytest.param(answers, named, id=case) for case, answers, named in INVALID_ANSWER_SETS],
)
def test_invalid_answers_are_refused(tmp_path, answers, named):
    result = run_cookiecutter(tmp_path, answers)
    assert result.returncode != 0
    problems = [line.strip() for line in result.stderr.splitlines() if "Example: " in line]
    assert named in [line.split(":")[0] for line in problems], result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing may be left on disk"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("cloud", "oracle"),
        ("cicd_platform", "jenkins"),
        ("compute", "gpu"),
        ("include_monitoring", "maybe"),
    ],
)
def test_unknown_choices_are_refused_before_the_hook(tmp_path, name, value):
    """Cookiecutter itself rejects a value outside a choice list, naming the answer."""
    result = run_cookiecutter(tmp_path, {name: value})
    assert result.returncode != 0
    assert f"{value} provided for choice variable {name}" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_typed_answers_with_template_syntax_are_refused(tmp_path, monkeypatch):
    """Typed answers reach the hook verbatim; template syntax in them is refused by name."""
    from cookiecutter import prompt
    from cookiecutter.exceptions import FailedHookException
    from cookiecutter.main import cookiecutter

    typed = {"project_name": "{{ 7 * 7 }}"}

    def read_user_variable(name, default, prompts=None, prefix=""):
        return typed.get(name, default)

    monkeypatch.setattr(prompt, "read_user_variable", read_user_variable)
    monkeypatch.setattr(prompt, "read_user_choice", lambda name, options, *args, **kw: options[0])
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE_DIR), output_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_host_outside_the_cloud_domain_warns_but_bakes(tmp_path):
    result = run_cookiecutter(
        tmp_path, {"cloud": "aws", "databricks_prod_workspace_host": "https://pl.example.com"}
    )
    assert result.returncode == 0, result.stderr
    assert "warning: databricks_prod_workspace_host" in result.stderr
