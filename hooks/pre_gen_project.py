"""Check every answer before anything is written.

Each rule is a plain function that returns the value when it is valid and raises `InvalidAnswer`
otherwise; `review` applies them to a whole set of answers, and `main` prints one line per problem
and exits 1. The answers are read as JSON data: no value is ever pasted into this file's source.
"""

import json
import keyword
import re
import sys
from urllib.parse import urlsplit

# Cookiecutter renders this file with Jinja: only the next line is a template (tojson escapes
# quotes, so no answer can end the raw string); the raw block keeps the rest verbatim.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""
# {% raw %}

CHOICES = {
    "cloud": ("azure", "aws", "gcp"),
    "cicd_platform": ("github_actions", "github_enterprise", "azure_devops", "gitlab"),
    "compute": ("serverless", "classic"),
    "include_monitoring": ("yes", "no"),
}

# Usual workspace domains per cloud; others (private links, sovereign clouds) only get a warning.
CLOUD_DOMAINS = {
    "azure": (".azuredatabricks.net", ".databricks.azure.cn", ".databricks.azure.us"),
    "aws": (".cloud.databricks.com", ".cloud.databricks.us", ".cloud.databricks.mil"),
    "gcp": (".gcp.databricks.com",),
}

# Packages the generated project imports: a package of the same name would shadow them.
DEPENDENCY_NAMES = {
    "mlflow",
    "pyspark",
    "delta",
    "sklearn",
    "pandas",
    "numpy",
    "databricks",
    "yaml",
}

SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
PACKAGE = re.compile(r"[a-z][a-z0-9_]*")
UC_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
HOST_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", re.IGNORECASE)
BRANCH_CHARACTERS = re.compile(r"[A-Za-z0-9._/-]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
JINJA = re.compile(r"\{[{%#]")


class InvalidAnswer(ValueError):
    """An answer broke a rule; `rule` says which, `example` shows a valid value."""

    def __init__(self, rule: str, example: str):
        super().__init__(rule)
        self.rule = rule
        self.example = example


def plain_text(value: str) -> str:
    """Every answer: no template syntax and no control characters."""
    if JINJA.search(value):
        raise InvalidAnswer("must not contain template syntax ({{, {% or {#)", "Fraud Detection")
    if CONTROL.search(value):
        raise InvalidAnswer(
            "must not contain control characters (tabs, newlines)", "Fraud Detection"
        )
    return value


def title(value: str) -> str:
    if not value.strip():
        raise InvalidAnswer("must not be empty", "Fraud Detection")
    if len(value) > 100:
        raise InvalidAnswer("must be at most 100 characters", "Fraud Detection")
    return value


def project_slug(value: str) -> str:
    if not SLUG.fullmatch(value):
        raise InvalidAnswer(
            "must be lowercase letters and digits in words joined by single hyphens, "
            "starting with a letter",
            "fraud-detection",
        )
    if not 2 <= len(value) <= 64:
        raise InvalidAnswer("must be 2 to 64 characters long", "fraud-detection")
    return value


def package_name(value: str) -> str:
    if not PACKAGE.fullmatch(value):
        raise InvalidAnswer(
            "must be a Python identifier of lowercase letters, digits and underscores, "
            "starting with a letter",
            "fraud_detection",
        )
    if len(value) > 64:
        raise InvalidAnswer("must be at most 64 characters long", "fraud_detection")
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        raise InvalidAnswer("is a Python keyword", "fraud_detection")
    if value in sys.stdlib_module_names:
        raise InvalidAnswer("would shadow a standard-library module", "fraud_detection")
    if value in DEPENDENCY_NAMES:
        raise InvalidAnswer("would shadow a package the project depends on", "fraud_detection")
    return value


def one_of(choices: tuple[str, ...]):
    def choice(value: str) -> str:
        if value not in choices:
            raise InvalidAnswer(f"must be one of {', '.join(choices)}", choices[0])
        return value

    return choice


def workspace_host(value: str) -> str:
    example = "https://adb-1234567890123456.7.azuredatabricks.net"
    if not value.startswith("https://"):
        raise InvalidAnswer("must start with https://", example)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise InvalidAnswer("is not a valid URL", example) from None
    host = parts.netloc
    if parts.username is not None or port is not None or ":" in host:
        raise InvalidAnswer("must hold only a host name: no user, password or port", example)
    if value != f"https://{host}":
        raise InvalidAnswer(f"must end after the host name: use https://{host}", example)
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2:
        raise InvalidAnswer("must name a full host, such as a workspace URL", example)
    if not all(HOST_LABEL.fullmatch(label) and len(label) <= 63 for label in labels):
        raise InvalidAnswer(
            "must be a valid host name (letters, digits and inner hyphens between dots)", example
        )
    return value


def optional_workspace_host(value: str) -> str:
    return value and workspace_host(value)


def git_branch(value: str) -> str:
    """The rules of `git check-ref-format --branch`, then a character set safe in CI files."""
    example = "main"
    components = value.split("/")
    if not value or value in ("@", "HEAD") or value.startswith("-"):
        raise InvalidAnswer("is not a valid git branch name", example)
    if ".." in value or "@{" in value or value.endswith("."):
        raise InvalidAnswer("must not contain '..' or '@{' or end with '.'", example)
    if any(not part or part.startswith(".") or part.endswith(".lock") for part in components):
        raise InvalidAnswer(
            "must not start or end with '/', hold '//', or have a part starting with '.' "
            "or ending with '.lock'",
            example,
        )
    if not BRANCH_CHARACTERS.fullmatch(value):
        raise InvalidAnswer(
            "may hold only letters, digits and . _ - / (other characters are special in "
            "git or in CI branch filters)",
            example,
        )
    return value


def uc_identifier(value: str) -> str:
    if not UC_IDENTIFIER.fullmatch(value) or len(value) > 255:
        raise InvalidAnswer(
            "must be a Unity Catalog name: lowercase letters, digits and underscores, "
            "not starting with a digit",
            "ml_prod",
        )
    return value


def dev_catalog(value: str) -> str:
    """The catalog of the dev and local targets: locally it is half of a Spark database name."""
    uc_identifier(value)
    if "__" in value or value.endswith("_"):
        raise InvalidAnswer(
            "must not contain '__' or end with '_' (the local target keeps catalog and schema as "
            "one Spark database, <catalog>__<schema>)",
            "dev",
        )
    return value


def group_name(value: str) -> str:
    if not value.strip():
        raise InvalidAnswer("must not be empty", "account users")
    if value != value.strip():
        raise InvalidAnswer("must not start or end with spaces", "account users")
    if any(quote in value for quote in "'\"`"):
        raise InvalidAnswer("must not contain quotes", "account users")
    if len(value) > 255:
        raise InvalidAnswer("must be at most 255 characters", "account users")
    return value


def any_text(value: str) -> str:
    return value


RULES = {
    "project_name": title,
    "project_slug": project_slug,
    "package_name": package_name,
    "description": any_text,
    "author_name": any_text,
    "cloud": one_of(CHOICES["cloud"]),
    "cicd_platform": one_of(CHOICES["cicd_platform"]),
    "databricks_dev_workspace_host": optional_workspace_host,
    "databricks_staging_workspace_host": workspace_host,
    "databricks_prod_workspace_host": workspace_host,
    "default_branch": git_branch,
    "release_branch": git_branch,
    "read_user_group": group_name,
    "model_read_group": group_name,
    "dev_catalog": dev_catalog,
    "test_catalog": uc_identifier,
    "staging_catalog": uc_identifier,
    "prod_catalog": uc_identifier,
    "schema_name": uc_identifier,
    "compute": one_of(CHOICES["compute"]),
    "include_monitoring": one_of(CHOICES["include_monitoring"]),
}

HOST_ANSWERS = [name for name in RULES if name.endswith("_workspace_host")]


def problem(name: str, value: object, rule: str, example: str) -> str:
    return f"{name}: {value!r} {rule}. Example: {name}={example}"


def check_answer(name: str, value: object) -> str | None:
    """The problem with one answer, or None when it is valid."""
    if not isinstance(value, str):
        return problem(name, value, "must be text", "...")
    try:
        RULES[name](plain_text(value))
    except InvalidAnswer as error:
        return problem(name, value, error.rule, error.example)
    return None


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


def review(answers: dict) -> tuple[list[str], list[str]]:
    """All problems and warnings for a set of answers; keys starting with '_' are internal."""
    missing = [problem(name, None, "is missing", "...") for name in RULES if name not in answers]
    unknown = [
        problem(name, answers[name], "is not an answer of this template", "see README.md")
        for name in answers
        if name not in RULES and not name.startswith("_")
    ]
    invalid = {
        name: found
        for name in RULES
        if name in answers and (found := check_answer(name, answers[name]))
    }
    valid = {name: answers[name] for name in RULES if name in answers and name not in invalid}
    problems = missing + unknown + list(invalid.values()) + check_relations(valid)
    return problems, host_warnings(valid)


def main() -> int:
    answers = json.loads(ANSWERS_JSON)
    problems, warnings = review(answers)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if problems:
        print("The answers need fixing before the project can be generated:", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
# {% endraw %}
