"""The record of what a project was made from, `.cruft.json`, in the format cruft reads.

    {"template": source, "commit": hash, "checkout": ref or null,
     "context": {"cookiecutter": {answers..., "_template": source, "_commit": hash}},
     "directory": folder or null, "skip": [paths]}

`template` is a git URL, or a path relative to the project directory for a local checkout, so the
record holds no path of the machine that made the project; cruft resolves it from the project
directory too, where `cruft check` and `cruft update` run.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from mlops_stack.errors import UserError
from mlops_stack.template import is_url

RECORD = ".cruft.json"


@dataclass(frozen=True)
class Origin:
    template: str
    commit: str
    answers: dict
    checkout: str | None = None
    directory: str | None = None
    skip: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        # cruft also keeps `_template` and `_commit` among the answers; other `_` keys are the
        # template's own settings (and absolute paths of the machine that rendered it).
        context = {**self.answers, "_template": self.template, "_commit": self.commit}
        record = {
            "template": self.template,
            "commit": self.commit,
            "checkout": self.checkout,
            "context": {"cookiecutter": context},
            "directory": self.directory,
            "skip": self.skip,
        }
        return json.dumps(record, indent=2, ensure_ascii=False) + "\n"

    def fetch_location(self, project_dir: Path) -> str:
        """Where to read the template from: the URL, or the recorded path seen from the project."""
        if is_url(self.template) or Path(self.template).expanduser().is_absolute():
            return self.template
        return str(project_dir / self.template)


def read_origin(project_dir: Path) -> Origin:
    path = project_dir / RECORD
    if not path.is_file():
        raise UserError(
            f"{project_dir} has no {RECORD}: run this in the root of a project made with "
            "`mlops-stack new` (or `cruft create`)"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise UserError(f"{path} is not valid JSON ({error}): {RESTORE}") from None
    broken = record_problem(record)
    if broken:
        raise UserError(f"{path}: {broken}: {RESTORE}")
    answers = record["context"]["cookiecutter"]
    return Origin(
        template=record["template"],
        commit=record["commit"],
        answers={name: value for name, value in answers.items() if not name.startswith("_")},
        checkout=record.get("checkout"),
        directory=record.get("directory"),
        skip=list(record.get("skip") or []),
    )


RESTORE = f"restore it from git (`git checkout -- {RECORD}`) or correct it by hand"
COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")  # SHA-1, or SHA-256 repositories


def is_text(value) -> bool:
    return isinstance(value, str) and value != ""


def is_commit(value) -> bool:
    return isinstance(value, str) and COMMIT.fullmatch(value) is not None


def is_path_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def is_context(value) -> bool:
    answers = value.get("cookiecutter") if isinstance(value, dict) else None
    return isinstance(answers, dict)


# (field, its test, what it must be, whether null is allowed): cruft's format.
FIELDS = [
    ("template", is_text, "the template's git URL or path", False),
    ("commit", is_commit, "a full template commit hash", False),
    ("checkout", is_text, "a branch, tag or commit", True),
    ("directory", lambda value: isinstance(value, str), "a folder", True),
    ("skip", is_path_list, "a list of paths", True),
    ("context", is_context, 'a mapping {"cookiecutter": {answer: value, ...}}', False),
]


def record_problem(record) -> str | None:
    """What is wrong with a parsed record, or None."""
    if not isinstance(record, dict):
        return "it holds no JSON object"
    for name, accepts, expected, nullable in FIELDS:
        value = record.get(name)
        if not accepts(value) and not (nullable and value is None):
            found = repr(value) if name in record else "missing"
            return f"{name} is {found}, not {expected}"
    return None


def write_origin(project_dir: Path, origin: Origin) -> None:
    (project_dir / RECORD).write_text(origin.to_json(), encoding="utf-8")
