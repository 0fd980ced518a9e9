"""Settle a project's answers before anything is rendered.

Cookiecutter renders answers given on the command line or in a config file as Jinja before any
hook runs, so their template syntax is refused here first. The answers are then completed the way
cookiecutter completes them (derived defaults, prompts) and checked with the rules of the template
being rendered: its `hooks/pre_gen_project.py` defines `review`, loaded from that template's files.
"""

import difflib
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

from cookiecutter.exceptions import CookiecutterException
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config

from mlops_stack.errors import UserError

TEMPLATE_SYNTAX = re.compile(r"\{[{%#]")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
RULES_FILE = "hooks/pre_gen_project.py"


class AnswersRefused(UserError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  {line}" for line in problems)
        super().__init__(f"the answers need fixing; nothing was written:\n{lines}")


def parse_assignments(items: list[str]) -> dict[str, str]:
    """`name=value` arguments as a dict (the value may itself hold '=')."""
    answers = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise UserError(f"{item!r} is not an answer: write name=value, e.g. cloud=aws")
        answers[name] = value
    return answers


def unsafe_text(answers: dict, where: str = "") -> list[str]:
    """Answers cookiecutter would execute or mangle: template syntax, control characters."""
    problems = []
    for name, value in answers.items():
        if not isinstance(value, str):
            continue
        if TEMPLATE_SYNTAX.search(value):
            problems.append(
                f"{name}: {value!r}{where} must not contain template syntax ({{{{, {{% or {{#)"
            )
        elif CONTROL.search(value):
            problems.append(
                f"{name}: {value!r}{where} must not contain control characters (tabs, newlines)"
            )
    return problems


def unknown_or_unlisted(answers: dict, variables: dict, where: str = "") -> list[str]:
    """Names the template does not ask for, and values outside a choice list."""
    names = [name for name in variables if not name.startswith("_")]
    problems = []
    for name, value in answers.items():
        if name not in variables or name.startswith("_"):
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]}?" if close else f"its answers: {', '.join(names)}"
            problems.append(f"{name}{where}: not an answer of this template ({hint})")
        elif isinstance(variables[name], list) and value not in variables[name]:
            choices = ", ".join(map(str, variables[name]))
            problems.append(
                f"{name}: {value!r}{where} is not one of {choices}. "
                f"Example: {name}={variables[name][0]}"
            )
    return problems


def template_variables(template_dir: Path) -> dict:
    try:
        return json.loads((template_dir / "cookiecutter.json").read_text(encoding="utf-8"))
    except ValueError as error:
        raise UserError(f"the template's cookiecutter.json is not valid JSON: {error}") from None


def load_rules(template_dir: Path) -> ModuleType | None:
    """The template's own answer rules, or None when its pre-generation hook defines none.

    A hook that does not define `review` may be a script that acts when imported: it is left alone.
    """
    path = template_dir / RULES_FILE
    if not path.is_file() or "def review(" not in path.read_text(encoding="utf-8"):
        return None
    spec = importlib.util.spec_from_file_location("mlops_stack_template_rules", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the template's code: any failure means its rules are unusable
        raise UserError(
            f"cannot load the template's answer rules from {RULES_FILE}: {error}"
        ) from None
    return module


def complete(template_dir: Path, defaults: dict, given: dict, no_input: bool) -> dict:
    """Every answer, computed as cookiecutter computes them: derived defaults, then prompts."""
    try:
        context = generate_context(
            context_file=str(template_dir / "cookiecutter.json"),
            default_context=defaults,
            extra_context=given,
        )
        answers = prompt_for_config(context, no_input)
    except CookiecutterException as error:
        raise UserError(f"the template cannot compute its answers: {error}") from None
    except EOFError:
        raise UserError("no answer was typed: pass --no-input to use the defaults") from None
    return {name: value for name, value in answers.items() if not name.startswith("_")}


def normalise_hosts(answers: dict, names: list[str]) -> tuple[dict, list[str]]:
    """Reduce workspace URLs pasted from a browser (https://host/?o=1#) to https://host."""
    answers, notes = dict(answers), []
    for name in names:
        value = answers.get(name)
        if not isinstance(value, str) or not value.startswith("https://"):
            continue
        try:
            host = urlsplit(value).netloc
        except ValueError:
            continue  # the template's rules name the problem
        if host and value != f"https://{host}":
            answers[name] = f"https://{host}"
            notes.append(f"{name}: using https://{host} (dropped {value[len(host) + 8 :]!r})")
    return answers, notes


def settle(
    template_dir: Path,
    given: dict,
    defaults: dict | None = None,
    no_input: bool = True,
    show_warnings: bool = True,
) -> dict:
    """The complete, checked answers for rendering `template_dir`; raise AnswersRefused if any
    answer is unusable. Notes, and the template's warnings unless its hook will print them as it
    renders (show_warnings=False), go to stderr."""
    variables = template_variables(template_dir)
    defaults = {name: value for name, value in (defaults or {}).items() if name in variables}
    in_config = " (from the config file)"
    early = (
        unsafe_text(given)
        + unknown_or_unlisted(given, variables)
        + unsafe_text(defaults, in_config)
        + unknown_or_unlisted(defaults, variables, in_config)
    )
    if early:
        raise AnswersRefused(early)
    rules = load_rules(template_dir)
    answers = complete(template_dir, defaults, given, no_input)
    answers, notes = normalise_hosts(answers, getattr(rules, "HOST_ANSWERS", []))
    problems, warnings = rules.review(answers) if rules else ([], [])
    # Typed answers are not checked above, and rendering runs template syntax: refuse it even if
    # the template's rules allow it.
    named = {line.split(":")[0] for line in problems}
    problems += [line for line in unsafe_text(answers) if line.split(":")[0] not in named]
    shown = [f"note: {note}" for note in notes]
    shown += [f"warning: {line}" for line in warnings] if show_warnings else []
    for line in shown:
        print(line, file=sys.stderr)
    if problems:
        raise AnswersRefused(problems)
    return answers
