"""Check every answer before anything is written.

Each rule is a plain function that returns the value when it is valid and raises `InvalidAnswer`
otherwise; `RULES` pairs every answer with its rule and a valid example. `review` applies them to
a whole set of answers, and `main` prints one line per problem and exits 1. The answers are read
as JSON data: no value is ever pasted into this file's source.
"""

import difflib
import json
import keyword
import re
import sys
import tempfile
import unicodedata
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from slugify import slugify  # cookiecutter's own dependency, the filter of cookiecutter.json

# Cookiecutter renders this file with Jinja: only the next line is a template (tojson escapes
# quotes, so no answer can end the raw string); the raw block keeps the rest verbatim.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""
# {% raw %}


def template_settings() -> dict:
    """The answers cookiecutter rendered into this file, private settings included. Imported
    unrendered from the template (by `mlops-stack new`, the tests), it reads the template's
    cookiecutter.json instead: the same settings, before any answer."""
    if ANSWERS_JSON.startswith("{{"):
        template_file = Path(__file__).resolve().parents[1] / "cookiecutter.json"
        return json.loads(template_file.read_text(encoding="utf-8"))
    return json.loads(ANSWERS_JSON)


# The answers with a fixed set of values, defined once in cookiecutter.json (`_choices`).
CHOICES = {name: tuple(values) for name, values in template_settings()["_choices"].items()}

# Usual workspace domains per cloud; others (private links, sovereign clouds) only get a warning.
CLOUD_DOMAINS = {
    "azure": (".azuredatabricks.net", ".databricks.azure.cn", ".databricks.azure.us"),
    "aws": (".cloud.databricks.com", ".cloud.databricks.us", ".cloud.databricks.mil"),
    "gcp": (".gcp.databricks.com",),
}

# Packages the generated project imports or runs on: a package of the same name would shadow them.
DEPENDENCY_NAMES = {
    "cloudpickle",
    "databricks",
    "delta",
    "joblib",
    "mlflow",
    "numpy",
    "pandas",
    "py4j",
    "pyarrow",
    "pyspark",
    "pytest",
    "scipy",
    "sklearn",
    "threadpoolctl",
    "yaml",
}
# The generated project's own top-level folders and test module: a package named like one of
# them is shadowed by it, or shadows it, depending on the working directory.
PROJECT_NAMES = {"conftest", "docs", "resources", "scripts", "src", "tests"}

# Unity Catalog names Databricks reserves (SQL reference, "Reserved words and schemas"), and the
# catalogs every workspace already has, which cannot hold a project's tables and models.
UC_RESERVED_PREFIXES = ("sys", "databricks")
UC_RESERVED_NAMES = {"information_schema", "builtin", "session"}
UC_WORKSPACE_CATALOGS = {"hive_metastore", "samples"}

SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
PACKAGE = re.compile(r"[a-z][a-z0-9_]*")
UC_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
HOST_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", re.IGNORECASE | re.ASCII)
BRANCH_CHARACTERS = re.compile(r"[A-Za-z0-9._/-]+")
TEMPLATE_SYNTAX = re.compile(r"\{[{%#]")
# Controls, format characters (zero-width spaces, direction overrides), line and paragraph
# separators, surrogates, private-use and unassigned code points: invisible, or line breaks to
# YAML, in every answer.
INVISIBLE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
# Letters and symbols that render as blank space.
BLANK_LETTERS = {"\u115f", "\u1160", "\u2800", "\u3164", "\uffa0"}


class InvalidAnswer(ValueError):
    """An answer broke a rule; `rule` says which."""

    def __init__(self, rule: str):
        super().__init__(rule)
        self.rule = rule


def plain_text(value: str) -> str:
    """Every answer: no template syntax and no control or invisible characters."""
    if TEMPLATE_SYNTAX.search(value):
        raise InvalidAnswer("must not contain template syntax ({{, {% or {#)")
    if any(is_invisible(character) for character in value):
        raise InvalidAnswer(
            "must not contain control or invisible characters (tabs, line breaks, zero-width "
            "or direction marks)"
        )
    return value


def is_invisible(character: str) -> bool:
    return unicodedata.category(character) in INVISIBLE_CATEGORIES or character in BLANK_LETTERS


def title(value: str) -> str:
    if not value.strip():
        raise InvalidAnswer("must not be empty")
    if len(value) > 100:
        raise InvalidAnswer("must be at most 100 characters")
    return value


def project_slug(value: str) -> str:
    if not SLUG.fullmatch(value):
        raise InvalidAnswer(
            "must be lowercase letters a-z and digits in words joined by single hyphens, "
            "starting with a letter"
        )
    if not 2 <= len(value) <= 64:
        raise InvalidAnswer("must be 2 to 64 characters long")
    return value


def package_name(value: str) -> str:
    if not PACKAGE.fullmatch(value):
        raise InvalidAnswer(
            "must be a Python identifier of lowercase letters a-z, digits and underscores, "
            "starting with a letter"
        )
    if len(value) > 64:
        raise InvalidAnswer("must be at most 64 characters long")
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        raise InvalidAnswer("is a Python keyword")
    if value in sys.stdlib_module_names:
        raise InvalidAnswer("would shadow a standard-library module")
    if value in DEPENDENCY_NAMES:
        raise InvalidAnswer("would shadow a package the project depends on")
    if value in PROJECT_NAMES:
        raise InvalidAnswer(f"collides with the project's own {value} folder or module")
    return value


def folder_name(value: str) -> str:
    """package_name when the setup mode ignores it: it still names the folder src/<package_name>,
    rendered and then removed."""
    if not PACKAGE.fullmatch(value) or len(value) > 64:
        raise InvalidAnswer(
            "must be lowercase letters a-z, digits and underscores, starting with a letter, even "
            "when ignored (it names a folder that is rendered, then removed)"
        )
    return value


# The only rule an ignored answer keeps, besides being plain text.
RULES_WHEN_IGNORED = {"package_name": folder_name}


def one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def choice(value: str) -> str:
        if value not in choices:
            raise InvalidAnswer(f"must be one of {', '.join(choices)}")
        return value

    return choice


def workspace_host(value: str) -> str:
    if not value.startswith("https://"):
        raise InvalidAnswer("must start with https://")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise InvalidAnswer("is not a valid URL") from None
    host = parts.netloc
    if parts.username is not None or port is not None or ":" in host:
        raise InvalidAnswer("must hold only a host name: no user, password or port")
    if value != f"https://{host}":
        raise InvalidAnswer(f"must end after the host name: use https://{host}")
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2:
        raise InvalidAnswer("must name a full host, such as a workspace URL")
    if not all(HOST_LABEL.fullmatch(label) and len(label) <= 63 for label in labels):
        raise InvalidAnswer(
            "must be a valid host name (letters a-z, digits and inner hyphens between dots)"
        )
    return value


def optional_workspace_host(value: str) -> str:
    return value and workspace_host(value)


def git_branch(value: str) -> str:
    """The rules of `git check-ref-format --branch`, then a character set safe in CI files."""
    components = value.split("/")
    if not value or value in ("@", "HEAD") or value.startswith("-"):
        raise InvalidAnswer("is not a valid git branch name")
    if ".." in value or "@{" in value or value.endswith("."):
        raise InvalidAnswer("must not contain '..' or '@{' or end with '.'")
    if any(not part or part.startswith(".") or part.endswith(".lock") for part in components):
        raise InvalidAnswer(
            "must not start or end with '/', hold '//', or have a part starting with '.' "
            "or ending with '.lock'"
        )
    if not BRANCH_CHARACTERS.fullmatch(value):
        raise InvalidAnswer(
            "may hold only letters a-z, A-Z, digits and . _ - / (other characters are special "
            "in git or in CI branch filters)"
        )
    return value


def uc_identifier(value: str) -> str:
    if not UC_IDENTIFIER.fullmatch(value) or len(value) > 255:
        raise InvalidAnswer(
            "must be a Unity Catalog name: lowercase letters a-z, digits and underscores, "
            "not starting with a digit"
        )
    if value in UC_RESERVED_NAMES or value.lstrip("_").startswith(UC_RESERVED_PREFIXES):
        raise InvalidAnswer(
            "is reserved by Databricks (information_schema, builtin, session and names "
            "starting with sys or databricks)"
        )
    return value


def uc_catalog(value: str) -> str:
    if uc_identifier(value) in UC_WORKSPACE_CATALOGS:
        raise InvalidAnswer(
            "is a catalog every workspace already has (the legacy Hive metastore or the "
            "read-only samples): use a Unity Catalog catalog of your own"
        )
    return value


def dev_catalog(value: str) -> str:
    """The catalog of the dev and local targets: locally it is half of a Spark database name."""
    uc_catalog(value)
    if "__" in value or value.endswith("_"):
        raise InvalidAnswer(
            "must not contain '__' or end with '_' (the local target keeps catalog and schema as "
            "one Spark database, <catalog>__<schema>)"
        )
    return value


def group_name(value: str) -> str:
    if not value.strip():
        raise InvalidAnswer("must not be empty")
    if value != value.strip():
        raise InvalidAnswer("must not start or end with spaces")
    if any(quote in value for quote in "'\"`"):
        raise InvalidAnswer("must not contain quotes")
    if len(value) > 255:
        raise InvalidAnswer("must be at most 255 characters")
    return value


def any_text(value: str) -> str:
    return value


class Rule(NamedTuple):
    check: Callable[[str], str]
    example: str  # a valid value, shown with every problem


AZURE_HOST = "https://adb-1234567890123456.7.azuredatabricks.net"
RULES = {
    "setup_mode": Rule(one_of(CHOICES["setup_mode"]), "project_only"),
    "project_name": Rule(title, "Fraud Detection"),
    "project_slug": Rule(project_slug, "fraud-detection"),
    "package_name": Rule(package_name, "fraud_detection"),
    "description": Rule(any_text, "Scores card payments for fraud"),
    "author_name": Rule(any_text, "ML Engineering"),
    "cloud": Rule(one_of(CHOICES["cloud"]), "aws"),
    "cicd_platform": Rule(one_of(CHOICES["cicd_platform"]), "github_actions"),
    "databricks_dev_workspace_host": Rule(optional_workspace_host, AZURE_HOST),
    "databricks_staging_workspace_host": Rule(workspace_host, AZURE_HOST),
    "databricks_prod_workspace_host": Rule(workspace_host, AZURE_HOST),
    "default_branch": Rule(git_branch, "main"),
    "release_branch": Rule(git_branch, "release"),
    "read_user_group": Rule(group_name, "data-scientists"),
    "model_read_group": Rule(group_name, "account users"),
    "dev_catalog": Rule(dev_catalog, "ml_dev"),
    "test_catalog": Rule(uc_catalog, "ml_test"),
    "staging_catalog": Rule(uc_catalog, "ml_staging"),
    "prod_catalog": Rule(uc_catalog, "ml_prod"),
    "schema_name": Rule(uc_identifier, "fraud_detection"),
    "compute": Rule(one_of(CHOICES["compute"]), "classic"),
    "include_monitoring": Rule(one_of(CHOICES["include_monitoring"]), "no"),
    "include_serving": Rule(one_of(CHOICES["include_serving"]), "no"),
}
EXAMPLES = {name: rule.example for name, rule in RULES.items()}

# What a setup mode leaves out decides which answers it uses: the others are ignored, with a note,
# and not checked by their rules. Cookiecutter still renders every template file before the
# post-generation hook removes what the mode leaves out, so an ignored answer must still be plain
# text, and one that names a folder a safe folder name.
IGNORED = {
    "project_and_cicd": (),
    "project_only": ("cicd_platform",),
    "cicd_only": (
        "package_name",
        "description",
        "author_name",
        "databricks_dev_workspace_host",
        # Each project's databricks.yml names its workspaces and catalogs, not the CI/CD.
        "databricks_staging_workspace_host",
        "databricks_prod_workspace_host",
        "read_user_group",
        "model_read_group",
        "dev_catalog",
        "test_catalog",
        "staging_catalog",
        "prod_catalog",
        "schema_name",
        "compute",
        "include_monitoring",
        "include_serving",
    ),
}
WHY_IGNORED = {
    "project_only": "makes no CI/CD files (the repository's own come from a setup_mode=cicd_only "
    "bake)",
    "cicd_only": "makes no project (add projects with setup_mode=project_only)",
}
HOST_ANSWERS = [name for name in RULES if name.endswith("_workspace_host")]

# Answers whose default cookiecutter.json derives from another answer, and how: when such an
# answer still holds its derived value, its problem is the problem of the answer it came from.
DERIVED = {
    "project_slug": ("project_name", lambda name: slugify(name) or "-"),
    "package_name": ("project_slug", lambda slug: slug.replace("-", "_")),
    "schema_name": ("package_name", str.lower),
}


def shown(value: object) -> str:
    """The value as Python would write it, shortened, and naming any character outside ASCII:
    a Cyrillic 'с' looks like a Latin 'c' in print."""
    if not isinstance(value, str):
        return repr(value)
    text = repr(value) if len(value) <= 60 else f"{value[:50]!r}... ({len(value)} characters)"
    # repr escapes what Python deems unprintable; blank letters it prints as they are.
    text = "".join(f"\\u{ord(char):04x}" if char in BLANK_LETTERS else char for char in text)
    unusual = list(dict.fromkeys(character for character in value if not character.isascii()))
    if not unusual:
        return text
    names = [
        f"U+{ord(character):04X} {unicodedata.name(character, 'unnamed character')}"
        for character in unusual[:3]
    ]
    more = f" and {len(unusual) - 3} more" if len(unusual) > 3 else ""
    return f"{text} (holds {', '.join(names)}{more})"


def problem(name: str, value: object, rule: str, example: str) -> str:
    return f"{name}: {shown(value)} {rule}. Example: {name}={example}"


def ignored_answers(answers: dict) -> tuple[str, ...]:
    """The answers the chosen setup mode does not use; none while the mode itself is invalid."""
    mode = answers.get("setup_mode")
    return IGNORED.get(mode, ()) if isinstance(mode, str) else ()


def ignored_note(answers: dict) -> str | None:
    """One line naming the answers the setup mode ignores, or None when it uses them all."""
    ignored = ignored_answers(answers)
    if not ignored:
        return None
    names = ", ".join(ignored[:-1]) + (" and " if len(ignored) > 1 else "") + ignored[-1]
    verb = "are" if len(ignored) > 1 else "is"
    mode = answers["setup_mode"]
    return f"setup_mode={mode} {WHY_IGNORED[mode]}: {names} {verb} ignored"


def rule_broken(name: str, value: object, ignored: bool = False) -> str | None:
    """The rule that one answer breaks on its own, or None when it is valid. An ignored answer
    is held only to what keeps rendering it safe."""
    if isinstance(value, bool):
        return (
            "is a YAML boolean (an unquoted yes, no, true or false in a config file): "
            "write it in quotes"
        )
    if not isinstance(value, str):
        return f"must be text, not {type(value).__name__}"
    check = RULES_WHEN_IGNORED.get(name, any_text) if ignored else RULES[name].check
    try:
        check(plain_text(value))
    except InvalidAnswer as error:
        return error.rule
    return None


def derived_from(answers: dict, name: str) -> str | None:
    """The answer that `name` still holds the derived value of, if any."""
    source, derive = DERIVED.get(name, (None, None))
    value, origin = answers.get(name), answers.get(source)
    if isinstance(value, str) and isinstance(origin, str) and value == derive(origin):
        return source
    return None


def own_problems(answers: dict) -> dict[str, str]:
    """A problem line per invalid answer; a derived value is blamed on the answer it came from
    (a name with no letters shows up in its slug, but the user typed the name)."""
    ignored = ignored_answers(answers)
    broken = {
        name: rule
        for name in RULES
        if name in answers and (rule := rule_broken(name, answers[name], name in ignored))
    }
    problems = {}
    for name, rule in broken.items():
        root = name
        while (source := derived_from(answers, root)) is not None:
            root = source
        if root == name:
            problems[name] = problem(name, answers[name], rule, EXAMPLES[name])
        elif root not in broken and root not in problems:
            problems[root] = problem(
                root,
                answers[root],
                f"gives {name} {shown(answers[name])}, which {rule}; change {root} or give "
                f"{name} yourself",
                EXAMPLES[root],
            )
    return problems


def check_relations(valid: dict) -> list[str]:
    """Rules between answers, applied to the answers that are valid on their own."""
    default, release = valid.get("default_branch"), valid.get("release_branch")
    if default is None or default != release:
        return []
    return [
        problem(
            "release_branch",
            release,
            "must differ from default_branch (pushes to each deploy to a different environment)",
            "production" if release == "release" else "release",
        )
    ]


def host_warnings(valid: dict) -> list[str]:
    domains = CLOUD_DOMAINS.get(valid.get("cloud"), ())
    return [
        f"{name}: {valid[name]!r} is not in the usual {valid['cloud']} domain "
        f"({', '.join(domains)}); fine for a private link, otherwise check the cloud answer"
        for name in HOST_ANSWERS
        if domains and valid.get(name) and not valid[name].lower().endswith(domains)
    ]


def unknown(name: str, value: object) -> str:
    close = difflib.get_close_matches(name, list(RULES), n=1)
    if not close:
        return (
            f"{name}: {shown(value)} is not an answer of this template (its answers: "
            f"{', '.join(RULES)})"
        )
    guess = close[0]
    return (
        f"{name}: {shown(value)} is not an answer of this template (did you mean {guess}?). "
        f"Example: {guess}={EXAMPLES[guess]}"
    )


def review(answers: dict) -> tuple[list[str], list[str]]:
    """All problems and warnings for a set of answers; keys starting with '_' are internal."""
    ignored = ignored_answers(answers)
    missing = [
        problem(name, None, "is missing", EXAMPLES[name])
        for name in RULES
        if name not in answers and name not in ignored
    ]
    strangers = [
        unknown(name, value)
        for name, value in answers.items()
        if name not in RULES and not name.startswith("_")
    ]
    invalid = own_problems(answers)
    # Rules between answers and warnings concern only the answers the setup mode uses.
    valid = {
        name: answers[name]
        for name in RULES
        if name in answers and name not in ignored and rule_broken(name, answers[name]) is None
    }
    problems = missing + strangers + list(invalid.values()) + check_relations(valid)
    return problems, host_warnings(valid)


def forget_rendered_copy() -> None:
    """Cookiecutter runs this hook from a copy rendered into the temporary folder, every answer
    included, and never deletes it. Python has read the whole file by now: delete it."""
    script = Path(sys.argv[0]).resolve()
    if script.parent == Path(tempfile.gettempdir()).resolve() and script.name.startswith("tmp"):
        script.unlink(missing_ok=True)


def folder_left_behind(answers: dict) -> Path | None:
    """The outermost folder cookiecutter made for a project_slug holding '/' before this check
    ran: on a refusal it removes only the project folder itself (the working directory)."""
    output = Path(str(answers.get("_output_dir", ""))).resolve()
    child, outermost = Path.cwd(), None
    for folder in child.parents:
        if output not in folder.parents or [entry.name for entry in folder.iterdir()] != [
            child.name
        ]:
            break
        child = outermost = folder
    return outermost


def cookiecutter_prints_a_traceback() -> bool:
    """Cookiecutter 2.7 and later log a refusing hook with a traceback of their own."""
    try:
        major, minor = (int(part) for part in version("cookiecutter").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (2, 7)


def main() -> int:
    forget_rendered_copy()
    answers = template_settings()
    problems, warnings = review(answers)
    note = ignored_note(answers)
    if note:
        print(f"note: {note}", file=sys.stderr)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not problems:
        return 0
    print("The answers need fixing before the project can be generated:", file=sys.stderr)
    for line in problems:
        print(f"  {line}", file=sys.stderr)
    leftover = folder_left_behind(answers)
    if leftover:
        print(f"note: cookiecutter made {leftover} before this check: remove it", file=sys.stderr)
    if cookiecutter_prints_a_traceback():
        print(
            "note: cookiecutter 2.7 and later print a traceback after this; it reports this "
            "refusal, nothing more (`mlops-stack new`, or cookiecutter>=2.6,<2.7, end here)",
            file=sys.stderr,
        )
    return 1


if __name__ == "__main__":
    sys.exit(main())
# {% endraw %}
