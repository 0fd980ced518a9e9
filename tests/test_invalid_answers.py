"""Invalid answer sets, each tried through both entry points, `cookiecutter --no-input` and
`mlops-stack new --no-input`, on the command line or in a config file, as separate processes.

Refused cleanly means: a non-zero exit, a line naming the answer, nothing left in the output
folder or the temporary folder, and no "Traceback" in stdout or stderr. Plain cookiecutter
renders values and makes folders before any check of the template can run: the rows it cannot
refuse cleanly say why, and are expected to fail through it (strictly: a fix shows up as a
failure to update the table)."""

import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import pre_gen_project as rules
import pytest
import yaml
from conftest import TEMPLATE_DIR

RENDERS = "cookiecutter renders command-line and config values as templates before any check"
FOLDERS = "cookiecutter makes the project folder (from the slug) before any check can run"
IGNORES = "cookiecutter silently ignores answer names it does not know"
PRIVATE = "cookiecutter takes the template's private settings from the command line"
LISTS = "cookiecutter reads a list as a choice and takes its first item"
MAPPINGS = "cookiecutter computes a mapping after the answers derived from it, naming those"
NUMBERS = "cookiecutter turns a YAML number into text other than was written"
# Runs code through a value cookiecutter renders: it makes a folder in the working directory.
MAKES_A_FOLDER = "{{ cycler.__init__.__globals__.os.makedirs('made-by-a-value') }}"


@dataclass(frozen=True)
class Refused:
    id: str
    answers: dict
    named: str  # the answer the message must name
    in_config: bool = False  # given in a config file's default_context, else on the command line
    cookiecutter_gap: str | None = field(default=None)  # why plain cookiecutter cannot refuse it


INVALID_ANSWER_SETS = [
    # Names, and what is derived from them.
    Refused("empty-project-name", {"project_name": " "}, "project_name"),
    Refused("long-project-name", {"project_name": "x" * 101}, "project_name"),
    Refused("name-without-letters", {"project_name": "!!!"}, "project_name"),
    Refused("name-too-long-for-a-slug", {"project_name": "x" * 80}, "project_name"),
    Refused("name-starting-with-a-digit", {"project_name": "2024 Forecast"}, "project_name"),
    Refused("name-giving-a-stdlib-package", {"project_name": "Logging"}, "project_name"),
    Refused("slug-uppercase", {"project_slug": "Fraud-Detection"}, "project_slug"),
    Refused("slug-underscore", {"project_slug": "fraud_detection"}, "project_slug"),
    Refused("slug-trailing-hyphen", {"project_slug": "fraud-"}, "project_slug"),
    Refused("slug-too-long", {"project_slug": "a" * 65}, "project_slug"),
    Refused("slug-one-letter", {"project_slug": "a"}, "project_slug"),
    Refused("slug-look-alike-letter", {"project_slug": "\u0441at"}, "project_slug"),
    Refused("slug-parent-folder", {"project_slug": "../escape"}, "project_slug"),
    Refused("slug-with-a-slash", {"project_slug": "abc/def"}, "project_slug", False, FOLDERS),
    Refused("slug-nested-path", {"project_slug": "a/b/c"}, "project_slug", False, FOLDERS),
    Refused(
        "slug-too-long-for-a-folder", {"project_slug": "x" * 300}, "project_slug", False, FOLDERS
    ),
    Refused(
        "name-too-long-for-a-folder", {"project_name": "x" * 300}, "project_name", False, FOLDERS
    ),
    Refused("package-hyphen", {"package_name": "fraud-detection"}, "package_name"),
    Refused("package-keyword", {"package_name": "lambda"}, "package_name"),
    Refused("package-soft-keyword", {"package_name": "match"}, "package_name"),
    Refused("package-stdlib", {"package_name": "logging"}, "package_name"),
    Refused("package-dependency", {"package_name": "pyspark"}, "package_name"),
    Refused("package-tests-folder", {"package_name": "tests"}, "package_name"),
    Refused("package-conftest", {"package_name": "conftest"}, "package_name"),
    Refused("package-leading-underscore", {"package_name": "_fraud"}, "package_name"),
    # Workspace hosts.
    Refused(
        "dev-host-no-scheme",
        {"databricks_dev_workspace_host": "dev.example.com"},
        "databricks_dev_workspace_host",
    ),
    Refused(
        "staging-host-http",
        {"databricks_staging_workspace_host": "http://a.example.com"},
        "databricks_staging_workspace_host",
    ),
    Refused(
        "staging-host-single-label",
        {"databricks_staging_workspace_host": "https://localhost"},
        "databricks_staging_workspace_host",
    ),
    Refused(
        "prod-host-port",
        {"databricks_prod_workspace_host": "https://a.b.com:8443"},
        "databricks_prod_workspace_host",
    ),
    Refused(
        "prod-host-user",
        {"databricks_prod_workspace_host": "https://me@a.b.com"},
        "databricks_prod_workspace_host",
    ),
    Refused(
        "prod-host-bad-label",
        {"databricks_prod_workspace_host": "https://a_b.com"},
        "databricks_prod_workspace_host",
    ),
    Refused(
        "prod-host-kelvin-sign",
        {"databricks_prod_workspace_host": "https://\u212aafka.example.com"},
        "databricks_prod_workspace_host",
    ),
    Refused(
        "prod-host-empty", {"databricks_prod_workspace_host": ""}, "databricks_prod_workspace_host"
    ),
    # Branches.
    Refused("branch-space", {"default_branch": "my branch"}, "default_branch"),
    Refused("branch-leading-dash", {"default_branch": "-main"}, "default_branch"),
    Refused("branch-double-dot", {"release_branch": "rel..ease"}, "release_branch"),
    Refused("branch-lock", {"release_branch": "release.lock"}, "release_branch"),
    Refused("branch-shell", {"release_branch": "release;rm"}, "release_branch"),
    Refused("branches-equal", {"release_branch": "main"}, "release_branch"),
    # Unity Catalog names.
    Refused("catalog-uppercase", {"dev_catalog": "Dev"}, "dev_catalog"),
    Refused("dev-catalog-double-underscore", {"dev_catalog": "ml__dev"}, "dev_catalog"),
    Refused("catalog-hyphen", {"test_catalog": "ml-test"}, "test_catalog"),
    Refused("catalog-leading-digit", {"staging_catalog": "1staging"}, "staging_catalog"),
    Refused("catalog-empty", {"prod_catalog": ""}, "prod_catalog"),
    Refused("catalog-system", {"prod_catalog": "system"}, "prod_catalog"),
    Refused("catalog-information-schema", {"dev_catalog": "information_schema"}, "dev_catalog"),
    Refused("catalog-hive-metastore", {"test_catalog": "hive_metastore"}, "test_catalog"),
    Refused("catalog-databricks-prefix", {"staging_catalog": "databricks_ml"}, "staging_catalog"),
    Refused("schema-dot", {"schema_name": "a.b"}, "schema_name"),
    Refused("schema-information-schema", {"schema_name": "information_schema"}, "schema_name"),
    Refused("schema-session", {"schema_name": "session"}, "schema_name"),
    # Groups and free text.
    Refused("group-quote", {"read_user_group": "data 'team'"}, "read_user_group"),
    Refused("group-empty", {"model_read_group": ""}, "model_read_group"),
    Refused("group-padded", {"model_read_group": " users"}, "model_read_group"),
    Refused("group-zero-width-space", {"read_user_group": "\u200b"}, "read_user_group"),
    Refused("group-hangul-filler", {"model_read_group": "\u3164"}, "model_read_group"),
    Refused("description-escape", {"description": "line\x1bescape"}, "description"),
    Refused("author-direction-override", {"author_name": "Eve \u202egnp.exe"}, "author_name"),
    Refused("description-line-separator", {"description": "one\u2028two"}, "description"),
    # Answers with a fixed set of values.
    Refused("cloud-unknown", {"cloud": "oracle"}, "cloud"),
    Refused("cloud-capitalised", {"cloud": "AWS"}, "cloud"),
    Refused("cicd-unknown", {"cicd_platform": "jenkins"}, "cicd_platform"),
    Refused("compute-unknown", {"compute": "gpu"}, "compute"),
    Refused("monitoring-maybe", {"include_monitoring": "maybe"}, "include_monitoring"),
    Refused("monitoring-capitalised", {"include_monitoring": "Yes"}, "include_monitoring"),
    Refused("serving-maybe", {"include_serving": "maybe"}, "include_serving"),
    Refused("setup-mode-unknown", {"setup_mode": "monorepo"}, "setup_mode"),
    Refused("setup-mode-hyphenated", {"setup_mode": "project-only"}, "setup_mode"),
    # Template syntax, and names the template does not ask for.
    Refused("value-runs-code", {"description": MAKES_A_FOLDER}, "description", False, RENDERS),
    Refused("value-raw-block", {"project_name": "{% raw %}"}, "project_name"),
    Refused("value-open-comment", {"author_name": "Ann {# x"}, "author_name", False, RENDERS),
    Refused("misspelt-answer", {"clowd": "aws"}, "clowd", False, IGNORES),
    Refused("private-setting", {"_extensions": "[]"}, "_extensions", False, PRIVATE),
    # In a config file, where YAML gives values types.
    Refused("config-cloud-capitalised", {"cloud": "AWS"}, "cloud", True),
    Refused("config-cloud-list", {"cloud": ["aws"]}, "cloud", True, LISTS),
    Refused("config-catalog-null", {"prod_catalog": None}, "prod_catalog", True),
    Refused("config-description-mapping", {"description": {"a": 1}}, "description", True),
    Refused("config-package-mapping", {"package_name": {"a": 1}}, "package_name", True, MAPPINGS),
    Refused("config-slug-look-alike", {"project_slug": "\u0441at"}, "project_slug", True),
    Refused("config-group-zero-width", {"model_read_group": "\u200b"}, "model_read_group", True),
    Refused("config-monitoring-maybe", {"include_monitoring": "maybe"}, "include_monitoring", True),
    Refused("config-serving-off", {"include_serving": "off"}, "include_serving", True),
    Refused("config-setup-mode-capitalised", {"setup_mode": "CICD_ONLY"}, "setup_mode", True),
    Refused("config-nul-character", {"author_name": "nul\x00"}, "author_name", True),
    Refused("config-branch-number", {"release_branch": 1.10}, "release_branch", True, NUMBERS),
    Refused(
        "config-template-syntax",
        {"project_name": "{{ cookiecutter.cloud }}"},
        "project_name",
        True,
        RENDERS,
    ),
]


@dataclass
class Scratch:
    """Folders of one run: HOME, TMPDIR, and the working directory, also the output folder."""

    home: Path
    tmp: Path
    work: Path

    @classmethod
    def made_in(cls, parent: Path) -> "Scratch":
        folders = cls(parent / "home", parent / "tmp", parent / "work")
        for folder in (folders.home, folders.tmp, folders.work):
            folder.mkdir()
        return folders

    @property
    def env(self) -> dict:
        return {
            **os.environ,
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "COOKIECUTTER_CONFIG": str(self.config({})),
            "GIT_CONFIG_GLOBAL": str(self.home / ".gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
        }

    def config(self, default_context: dict) -> Path:
        path = self.home / ("answers.yaml" if default_context else "cookiecutter.yaml")
        settings = {
            "cookiecutters_dir": str(self.home / "cookiecutters"),
            "replay_dir": str(self.home / "replay"),
            "default_context": default_context,
        }
        path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
        return path


@pytest.fixture
def scratch(tmp_path) -> Scratch:
    return Scratch.made_in(tmp_path)


ENTRY_POINTS = {
    "cookiecutter": ["-m", "cookiecutter", "--no-input"],
    "mlops-stack": ["-m", "mlops_stack", "new", "--no-input"],
}


def run(entry_point: str, template: Path, scratch: Scratch, answers: dict, in_config=False):
    given = ["--config-file", str(scratch.config(answers))] if in_config else []
    given += [] if in_config else [f"{name}={value}" for name, value in answers.items()]
    command = [sys.executable, *ENTRY_POINTS[entry_point], str(template), "-o", ".", *given]
    return subprocess.run(
        command, cwd=scratch.work, env=scratch.env, capture_output=True, text=True
    )


def names_the_answer(output: str, name: str) -> bool:
    """One of the problem lines starts with the answer's name."""
    line = re.compile(rf"^\s*{re.escape(name)}( \(from the config file\))?: ", re.MULTILINE)
    return line.search(output) is not None


def table() -> list:
    return list(table_rows())


def table_rows():
    for case in INVALID_ANSWER_SETS:
        for entry_point in ENTRY_POINTS:
            gap = case.cookiecutter_gap if entry_point == "cookiecutter" else None
            marks = [pytest.mark.xfail(reason=gap, strict=True)] if gap else []
            yield pytest.param(entry_point, case, id=f"{entry_point}-{case.id}", marks=marks)


def test_the_table_is_large_enough_and_its_ids_are_unique():
    ids = [case.id for case in INVALID_ANSWER_SETS]
    assert len(ids) >= 60
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(("entry_point", "case"), table())
def test_invalid_answers_are_refused_cleanly(template_repository, scratch, entry_point, case):
    result = run(entry_point, template_repository, scratch, case.answers, case.in_config)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode != 0, output
    assert names_the_answer(output, case.named), output
    assert list(scratch.work.iterdir()) == [], "nothing may be left in the output folder"
    assert list(scratch.tmp.iterdir()) == [], "nothing may be left in the temporary folder"


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_a_successful_run_leaves_nothing_in_the_temporary_folder(
    template_repository, scratch, entry_point
):
    result = run(entry_point, template_repository, scratch, {"cloud": "aws"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert [path.name for path in scratch.work.iterdir()] == ["my-mlops-project"]
    assert list(scratch.tmp.iterdir()) == [], "the rendered hooks hold every answer"


@pytest.mark.parametrize(("written", "meaning"), [(False, "no"), (True, "yes")])
def test_a_yaml_boolean_means_yes_or_no_to_mlops_stack_new(
    template_repository, scratch, written, meaning
):
    result = run("mlops-stack", template_repository, scratch, {"include_monitoring": written}, True)
    assert result.returncode == 0, result.stderr
    project = scratch.work / "my-mlops-project"
    assert (project / "resources" / "monitoring.yml").exists() == (meaning == "yes")
    assert f'"include_monitoring": "{meaning}"' in (project / ".cruft.json").read_text()


@pytest.mark.parametrize("written", [False, True])
def test_a_yaml_boolean_is_refused_by_cookiecutter_with_the_quoting_that_fixes_it(
    template_repository, scratch, written
):
    result = run(
        "cookiecutter", template_repository, scratch, {"include_monitoring": written}, True
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert f"include_monitoring: {written} is a YAML boolean" in result.stderr
    assert "write it in quotes" in result.stderr
    assert list(scratch.work.iterdir()) == []


def test_a_slug_with_a_slash_names_the_folder_cookiecutter_leaves(template_repository, scratch):
    result = run("cookiecutter", template_repository, scratch, {"project_slug": "abc/def"})
    assert result.returncode == 1
    assert f"note: cookiecutter made {scratch.work.resolve() / 'abc'} before this check" in (
        result.stderr
    )


def test_the_cookiecutter_range_that_ends_refusals_cleanly_is_required_and_documented():
    pyproject = tomllib.loads((TEMPLATE_DIR / "pyproject.toml").read_text())
    [requirement] = [
        item for item in pyproject["project"]["dependencies"] if item.startswith("cookiecutter")
    ]
    assert requirement == "cookiecutter>=2.6,<2.7"
    assert f'pip install "{requirement}"' in (TEMPLATE_DIR / "README.md").read_text()
    assert version("cookiecutter").startswith("2.6.")


@pytest.mark.parametrize(
    ("installed", "warned"), [("2.6.0", False), ("2.7.1", True), ("3.0", True)]
)
def test_the_hook_warns_of_the_traceback_newer_cookiecutters_print(monkeypatch, installed, warned):
    monkeypatch.setattr(rules, "version", lambda name: installed)
    assert rules.cookiecutter_prints_a_traceback() is warned


def test_typed_answers_with_template_syntax_are_refused(tmp_path, monkeypatch):
    """Typed answers reach the hook verbatim; template syntax in them is refused by name."""
    from cookiecutter import prompt
    from cookiecutter.exceptions import FailedHookException
    from cookiecutter.main import cookiecutter

    typed = {"project_name": "{{ 7 * 7 }}"}

    def read_user_variable(name, default, prompts=None, prefix=""):
        return typed.get(name, default)

    monkeypatch.setattr(prompt, "read_user_variable", read_user_variable)
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE_DIR), output_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_host_outside_the_cloud_domain_warns_but_bakes(template_repository, scratch):
    result = run(
        "cookiecutter",
        template_repository,
        scratch,
        {"cloud": "aws", "databricks_prod_workspace_host": "https://pl.example.com"},
    )
    assert result.returncode == 0, result.stderr
    assert "warning: databricks_prod_workspace_host" in result.stderr
