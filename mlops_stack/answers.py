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


def unsafe_text(answers: dict, where: str = "", examples: dict | None = None) -> list[str]:
    """Answers cookiecutter would execute or mangle: template syntax, control characters."""
    problems = []
    for name, value in answers.items():
        if not isinstance(value, str):
            continue
        if TEMPLATE_SYNTAX.search(value):
            rule = "must not contain template syntax ({{, {% or {#)"
        elif CONTROL.search(value):
            rule = "must not contain control characters (tabs, newlines)"
        else:
            continue
        problems.append(f"{name}: {value!r}{where} {rule}{example_of(name, examples)}")
    return problems


KINDS = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "a mapping",
    type(None): "null",
}


def not_text(answers: dict, variables: dict, where: str, examples: dict) -> list[str]:
    """Values of text answers that are not text: YAML reads 1.10 as the number 1.1 and 0x10 as
    16, and cookiecutter would turn them into other text than was written."""
    return [
        f"{name}: {value!r}{where} is {kind(value)}, not text: write it in quotes"
        f"{example_of(name, examples)}"
        for name, value in answers.items()
        if isinstance(variables.get(name), (str, list)) and not isinstance(value, str)
    ]


def kind(value: object) -> str:
    return KINDS.get(type(value), type(value).__name__)


def unknown_or_unlisted(
    answers: dict, variables: dict, where: str = "", examples: dict | None = None
) -> list[str]:
    """Names the template does not ask for, and values outside a choice list."""
    names = [name for name in variables if not name.startswith("_")]
    problems = []
    for name, value in answers.items():
        if name not in variables or name.startswith("_"):
            close = difflib.get_close_matches(name, names, n=1)
            hint = (
                f"did you mean {close[0]}?){example_of(close[0], examples)}"
                if close
                else f"its answers: {', '.join(names)})"
            )
            problems.append(f"{name}{where}: not an answer of this template ({hint}")
        elif isinstance(variables[name], list) and value not in variables[name]:
            choices = ", ".join(map(str, variables[name]))
            problems.append(
                f"{name}: {value!r}{where} is not one of {choices}. "
                f"Example: {name}={variables[name][0]}"
            )
    return problems


def example_of(name: str, examples: dict | None) -> str:
    """'. Example: name=value' when a valid value for `name` is known."""
    example = (examples or {}).get(name)
    return f". Example: {name}={example}" if example is not None else ""


def examples_of(variables: dict, rules: ModuleType | None) -> dict:
    """A valid value per answer: the template's own examples, else its plain defaults."""
    examples = {}
    for name, default in variables.items():
        if isinstance(default, list) and default:
            default = default[0]
        if isinstance(default, str) and default and not TEMPLATE_SYNTAX.search(default):
            examples[name] = default
    return {**examples, **getattr(rules, "EXAMPLES", {})}


def yes_no_answers(variables: dict) -> set[str]:
    """Answers whose values are yes or no (YAML reads an unquoted yes or no as a boolean)."""
    yes_no = {"yes", "no"}
    return {
        name
        for name, default in variables.items()
        if (isinstance(default, str) and default in yes_no)
        or (isinstance(default, list) and set(default) == yes_no)
    }


def read_booleans(answers: dict, yes_no: set[str]) -> dict:
    """A real boolean given for a yes/no answer means yes or no."""
    return {
        name: ("yes" if value else "no") if name in yes_no and isinstance(value, bool) else value
        for name, value in answers.items()
    }


def misspelt_in_config(defaults: dict, variables: dict) -> list[str]:
    """Config-file names close to an answer's name: cookiecutter ignores names it does not know
    (a user's config may hold other templates' answers, so only likely typos are noted)."""
    names = [name for name in variables if not name.startswith("_")]
    notes = []
    for name in defaults:
        close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.8)
        if name not in variables and close:
            notes.append(
                f"the config file's default_context names {name}, which this template does "
                f"not ask for (ignored): did you mean {close[0]}?"
            )
    return notes


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


def complete(
    template_dir: Path, defaults: dict, given: dict, no_input: bool, choices: dict
) -> dict:
    """Every answer, computed as cookiecutter computes them: derived defaults, then prompts."""
    try:
        context = generate_context(
            context_file=str(template_dir / "cookiecutter.json"),
            default_context=defaults,
            extra_context=given,
        )
        if not no_input:
            offer_menus(context["cookiecutter"], choices)
        answers = prompt_for_config(context, no_input)
    except CookiecutterException as error:
        raise UserError(f"the template cannot compute its answers: {error}") from None
    except EOFError:
        raise UserError("no answer was typed: pass --no-input to use the defaults") from None
    return {name: value for name, value in answers.items() if not name.startswith("_")}


def offer_menus(variables: dict, choices: dict) -> None:
    """Ask text answers with a fixed set of values (the template's CHOICES) as numbered menus,
    their current value first; a value outside the set is left for the rules to name."""
    for name, options in choices.items():
        value = variables.get(name)
        if isinstance(value, str) and value in options:
            variables[name] = [value, *(option for option in options if option != value)]


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
    rules = load_rules(template_dir)
    examples = examples_of(variables, rules)
    yes_no = yes_no_answers(variables)
    notes = misspelt_in_config(defaults or {}, variables)
    given = read_booleans(given, yes_no)
    defaults = read_booleans(
        {name: value for name, value in (defaults or {}).items() if name in variables}, yes_no
    )
    in_config = " (from the config file)"
    early = (
        unsafe_text(given, "", examples)
        + not_text(given, variables, "", examples)
        + unknown_or_unlisted(given, variables, "", examples)
        + unsafe_text(defaults, in_config, examples)
        + not_text(defaults, variables, in_config, examples)
        + unknown_or_unlisted(defaults, variables, in_config, examples)
    )
    if early:
        raise AnswersRefused(early)
    choices = getattr(rules, "CHOICES", {})
    answers = complete(template_dir, defaults, given, no_input, choices)
    answers, host_notes = normalise_hosts(answers, getattr(rules, "HOST_ANSWERS", []))
    problems, warnings = rules.review(answers) if rules else ([], [])
    # Typed answers are not checked above, and rendering runs template syntax: refuse it even if
    # the template's rules allow it.
    named = {line.split(":")[0] for line in problems}
    problems += [
        line for line in unsafe_text(answers, "", examples) if line.split(":")[0] not in named
    ]
    shown = [f"note: {note}" for note in notes + host_notes]
    shown += [f"warning: {line}" for line in warnings] if show_warnings else []
    for line in shown:
        print(line, file=sys.stderr)
    if problems:
        raise AnswersRefused(problems)
    return answers
