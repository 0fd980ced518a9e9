"""Property-based fuzzing of the answer rules through both entry points, on the command line and
in a config file: whatever the answers, a run ends either with exit 0 and the project, or with
exit 1 and problem lines, never with a traceback, and a refusal leaves nothing on disk or in the
temporary folder.

The runs are in-process (the hooks still run as processes) to keep the example counts useful
and the suite fast. Plain cookiecutter is fuzzed within what it can refuse (see
test_invalid_answers.py for what it cannot): no template syntax, a slug it can make a folder of,
only the template's answer names, and no numbers, lists or mappings in a config file.
"""

import json
import logging
import re
import shutil
import tempfile
from pathlib import Path

import pre_gen_project as rules
import pytest
import yaml
from cookiecutter.cli import main as cookiecutter_cli
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from slugify import slugify

from mlops_stack.cli import main as mlops_stack

ANSWERS = sorted(rules.RULES)
HOSTILE = [
    "",
    " ",
    "-",
    ".",
    "..",
    "../up",
    "a/b",
    "/abs",
    "C:\\x",
    "{{ 7 * 7 }}",
    "{% raw %}",
    "{#",
    "}}",
    "${{ github.token }}",
    "$(id)",
    "`id`",
    "'; drop table x; --",
    '"quoted"',
    "a: b",
    "# comment",
    "- item",
    "&anchor",
    "*alias",
    "!!python/object",
    "null",
    "~",
    "yes",
    "no",
    "True",
    "0x10",
    "1e3",
    "x" * 300,
    "\u200b",
    "\u202e",
    "\u2028",
    "\x85",
    "\ufeff",
    "\u3164",
    "\u0441at",
    "\u212a",
    "tests",
    "system",
    "hive_metastore",
    "https://",
    "https://a.b.com:1/x?y#z",
    "https://user:pw@a.b.com",
]
TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    st.sampled_from(list(rules.EXAMPLES.values())),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    st.lists(st.sampled_from(HOSTILE), min_size=2, max_size=3).map("".join),
)
CONFIG_VALUES = st.one_of(
    TEXT, st.booleans(), st.none(), st.integers(), st.floats(allow_nan=False), st.just({"a": 1})
)
NAMES = st.one_of(st.sampled_from(ANSWERS), st.sampled_from(["clowd", "_extensions", "colour"]))
TEMPLATE_SYNTAX = re.compile(r"\{[{%#]")

FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """HOME, the temporary folder and the output folder of every run of one test."""
    home, tmp, out = (tmp_path / name for name in ("home", "tmp", "out"))
    for folder in (home, tmp, out):
        folder.mkdir()
    settings_file = home / "cookiecutter.yaml"
    settings_file.write_text(
        json.dumps({"cookiecutters_dir": str(home / "cc"), "replay_dir": str(home / "replay")})
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(settings_file))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("TMPDIR", str(tmp))  # the hooks' processes
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # this process, which renders them
    monkeypatch.chdir(out)
    return {"home": home, "tmp": tmp, "out": out}


def config_file(home: Path, answers: dict) -> Path:
    """A config file holding `answers` exactly (escaped, so YAML reads back what was meant)."""
    text = yaml.safe_dump({"default_context": answers}, allow_unicode=False)
    assume(yaml.safe_load(text) == {"default_context": answers})
    path = home / "answers.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def arguments(answers: dict, home: Path, in_config: bool) -> list[str]:
    if in_config:
        return ["--config-file", str(config_file(home, answers))]
    return [f"{name}={value}" for name, value in answers.items()]


def run_mlops_stack(template: Path, given: list[str], capfd) -> tuple[int, str]:
    capfd.readouterr()
    code = mlops_stack(["new", str(template), "--no-input", "-o", ".", *given])
    out, err = capfd.readouterr()
    return code, out + err


def run_cookiecutter(template: Path, given: list[str], capfd) -> tuple[int, str]:
    """The cookiecutter command as a user runs it; an exception escaping it is a traceback."""
    logger = logging.getLogger("cookiecutter")
    handlers = logger.handlers[:]
    capfd.readouterr()
    try:
        cookiecutter_cli.main(["--no-input", str(template), *given], standalone_mode=False)
        code = 0
    except SystemExit as exit:
        code = exit.code
    finally:
        logger.handlers[:] = handlers  # the command sets its own, bound to this capture
    out, err = capfd.readouterr()
    return code, out + err


def assert_clean_ending(code: int, output: str, scratch: dict, given_names) -> None:
    assert "Traceback" not in output, output
    assert code in (0, 1), output
    left = list(scratch["out"].iterdir())
    if code == 0:
        assert [path.name for path in left] == [left[0].name] and left[0].is_dir()
        shutil.rmtree(left[0])
    else:
        assert left == [], output
        problem_names = set(re.findall(r"^\s*(\w+)(?: \(from the config file\))?: ", output, re.M))
        assert problem_names & (set(given_names) | set(ANSWERS)), output
    assert list(scratch["tmp"].iterdir()) == [], "nothing may stay in the temporary folder"


@FUZZ
@given(answers=st.dictionaries(NAMES, TEXT, max_size=4), in_config=st.booleans())
def test_mlops_stack_new_ends_cleanly_for_any_text_answers(
    template_repository, scratch, capfd, answers, in_config
):
    if not in_config:  # a command line cannot carry a NUL character
        assume(all("\x00" not in value for value in answers.values()))
    given = arguments(answers, scratch["home"], in_config)
    code, output = run_mlops_stack(template_repository, given, capfd)
    assert_clean_ending(code, output, scratch, answers)


@FUZZ
@given(answers=st.dictionaries(NAMES, CONFIG_VALUES, min_size=1, max_size=4))
def test_mlops_stack_new_ends_cleanly_for_any_config_file_values(
    template_repository, scratch, capfd, answers
):
    given = arguments(answers, scratch["home"], in_config=True)
    code, output = run_mlops_stack(template_repository, given, capfd)
    assert_clean_ending(code, output, scratch, answers)


def folder_name(answers: dict) -> object:
    """The name cookiecutter gives the project folder: the slug, given or derived."""
    name = answers.get("project_name", "My MLOps Project")
    return answers.get("project_slug", slugify(name) if isinstance(name, str) else name)


def makes_a_folder(answers: dict) -> bool:
    """Whether cookiecutter can make the project folder it names after the slug."""
    folder = folder_name(answers)
    return (
        isinstance(folder, str)
        and folder not in ("", ".", "..")
        and not re.search(r"[/\\\x00]", folder)
        and len(folder.encode()) <= 255
    )


# What plain cookiecutter hands to the checks as written: only the template's answer names, no
# template syntax, no numbers, lists or mappings.
PLAIN_TEXT = TEXT.filter(lambda value: not TEMPLATE_SYNTAX.search(value))
PLAIN_CONFIG_VALUES = st.one_of(PLAIN_TEXT, st.booleans(), st.none())


@FUZZ
@given(answers=st.dictionaries(st.sampled_from(ANSWERS), PLAIN_TEXT, max_size=4))
def test_cookiecutter_ends_cleanly_for_any_command_line_answers_it_passes_to_the_checks(
    template_repository, scratch, capfd, answers
):
    assume(makes_a_folder(answers) and all("\x00" not in value for value in answers.values()))
    given = arguments(answers, scratch["home"], in_config=False)
    code, output = run_cookiecutter(template_repository, given, capfd)
    assert_clean_ending(code, output, scratch, answers)


@FUZZ
@given(answers=st.dictionaries(st.sampled_from(ANSWERS), PLAIN_CONFIG_VALUES, max_size=4))
def test_cookiecutter_ends_cleanly_for_any_config_file_answers_it_passes_to_the_checks(
    template_repository, scratch, capfd, answers
):
    assume(makes_a_folder(answers))
    given = arguments(answers, scratch["home"], in_config=True)
    code, output = run_cookiecutter(template_repository, given, capfd)
    assert_clean_ending(code, output, scratch, answers)
