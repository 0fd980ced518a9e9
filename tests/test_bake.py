"""Every supported combination of answers bakes into a clean, well-formed project."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from combinations import COMBINATIONS, combination_id
from conftest import bake

# Jinja that cookiecutter should have consumed. Literal `{{` stays legal where the target platform
# uses it: GitHub/Azure expressions `${{ ... }}` and Databricks dynamic value references. A `%}`
# right after a digit ends a Python percent format, `f"{share:.0%}"`, not a Jinja tag.
LEFTOVER_JINJA = re.compile(
    r"\{%|(?<!\d)%\}|\{#|#\}|cookiecutter\.|(?<!\$)\{\{(?!\s*(job|task|tasks|run|workspace|backfill)\.)"
)
# Files that legitimately name cookiecutter (the record of what the project was made from).
ORIGIN_RECORDS = {".cruft.json"}


def project_files(project: Path) -> list[Path]:
    skipped = {".venv", ".local", "__pycache__", ".ruff_cache", ".pytest_cache"}
    return [
        path
        for path in sorted(project.rglob("*"))
        if path.is_file() and not skipped.intersection(path.relative_to(project).parts)
    ]


def test_bake_succeeds(baked_projects, combination):
    result = baked_projects(combination)
    assert result.exception is None
    assert result.exit_code == 0


def test_directory_is_named_after_the_slug(project, combination):
    expected = combination.get("project_slug", "my-mlops-project")
    assert project.name == expected
    package = combination.get("package_name", expected.replace("-", "_"))
    assert (project / "src" / package / "__init__.py").is_file()


def test_no_leftover_jinja_in_paths(project):
    leftovers = [str(path) for path in project.rglob("*") if "{" in path.name or "}" in path.name]
    assert leftovers == []


def test_no_leftover_jinja_in_content(project):
    leftovers = [
        f"{path.relative_to(project)}:{number}: {line.strip()}"
        for path in project_files(project)
        if path.name not in ORIGIN_RECORDS
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if LEFTOVER_JINJA.search(line)
    ]
    assert leftovers == []


PARSERS = {
    ".json": json.loads,
    ".toml": tomllib.loads,
    ".yml": yaml.safe_load,
    ".yaml": yaml.safe_load,
}


def test_data_files_parse(project):
    data_files = [path for path in project_files(project) if path.suffix in PARSERS]
    assert data_files, "expected YAML, TOML or JSON files in the project"
    for path in data_files:
        try:
            PARSERS[path.suffix](path.read_text(encoding="utf-8"))
        except Exception as error:  # each parser raises its own error type
            pytest.fail(f"{path.relative_to(project)} does not parse: {error}")


@pytest.mark.parametrize(
    "ruff_command", [["check"], ["format", "--check"]], ids=["ruff-check", "ruff-format"]
)
def test_python_passes_ruff(project, ruff_command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *ruff_command, "--no-cache", "."],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("package_name", ["aaa_model", "churn_model", "zzz_model"])
def test_imports_are_in_order_whatever_the_package_sorts_next_to(tmp_path, package_name):
    """The tests import the package, then their own modules (conftest, other tests' helpers):
    a package name sorting before or after those must not change the order ruff expects."""
    project = bake(tmp_path, {"package_name": package_name})
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "I", "."],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_fraud_detection_example(tmp_path):
    """The README's example: a project name alone derives the directory and package names."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            str(Path(__file__).parents[1]),
            "-o",
            str(tmp_path),
            "project_name=Fraud Detection",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fraud-detection" / "src" / "fraud_detection").is_dir()


def lines_naming(project: Path, words: tuple[str, ...]) -> list[str]:
    """Every line of the project (and every path) that names one of `words`, in lowercase."""
    lines = [
        f"{path.relative_to(project)}:{number}: {line.strip()}"
        for path in project_files(project)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if any(word in line.lower() for word in words)
    ]
    paths = [
        str(path.relative_to(project))
        for path in project_files(project)
        if any(word in str(path.relative_to(project)).lower() for word in words)
    ]
    return lines + paths


@pytest.mark.parametrize(
    "answers", [c for c in COMBINATIONS if c["include_monitoring"] == "no"], ids=combination_id
)
def test_monitoring_off_leaves_no_trace(baked_projects, answers):
    assert lines_naming(Path(baked_projects(answers).project_path), ("monitor",)) == []


# What serving brings: the endpoint, its inference tables and the local server.
SERVING_WORDS = ("endpoint", "inference table", "inference_table", "served_entit", "make serve")


@pytest.mark.parametrize(
    "answers", [c for c in COMBINATIONS if c["include_serving"] == "no"], ids=combination_id
)
def test_serving_off_leaves_no_trace(baked_projects, answers):
    assert lines_naming(Path(baked_projects(answers).project_path), SERVING_WORDS) == []
