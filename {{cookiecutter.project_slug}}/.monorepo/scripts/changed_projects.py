"""Which ML projects of this repository a change touches: the CI/CD checks and deploys those only.

A project is any folder that holds a `databricks.yml` (a bundle), so adding a project needs no
list to keep. A change selects a project when it touches a file inside the project's folder. A
change to the shared CI/CD files selects every project, and so does a change whose base is unknown
(the first push of a branch, a force push, a shallow clone): checking too much is safe, too little
is not. A deleted project is not selected: there is nothing left to check or deploy.

    python3 scripts/changed_projects.py --base <commit>              # JSON list of projects
    python3 scripts/changed_projects.py --base <commit> --format azure-matrix

Standard library only: it runs on any CI image before anything is installed.
"""

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import PurePosixPath

# Files every project's CI/CD runs on: a change to them checks (and deploys) every project.
SHARED_PATHS = (".github/", ".azure/", ".gitlab/", ".gitlab-ci.yml", "scripts/")
BUNDLE_FILE = "databricks.yml"
# A base of all zeros is what GitHub and GitLab send for the first push of a branch.
NO_BASE = re.compile(r"0*")


@dataclass(frozen=True)
class Project:
    path: str  # the folder, relative to the repository's root

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def key(self) -> str:
        """The prefix of the project's CI/CD variables: fraud-detection → FRAUD_DETECTION."""
        return re.sub(r"[^A-Z0-9]", "_", self.name.upper())

    def holds(self, file: str) -> bool:
        return file.startswith(f"{self.path}/")

    def as_dict(self) -> dict:
        return {"path": self.path, "name": self.name, "key": self.key}


class SelectionError(Exception):
    """A repository whose projects CI/CD cannot tell apart."""


def projects_in(files: list[str]) -> list[Project]:
    """The projects among a repository's files, in path order."""
    folders = sorted(
        str(PurePosixPath(file).parent)
        for file in files
        if PurePosixPath(file).name == BUNDLE_FILE and "/" in file
    )
    projects = [Project(folder) for folder in folders]
    by_key: dict[str, Project] = {}
    for project in projects:
        other = by_key.setdefault(project.key, project)
        if other is not project:
            raise SelectionError(
                f"the projects {other.path} and {project.path} share the variable prefix "
                f"{project.key}: rename one of the folders"
            )
    return projects


def owner(projects: list[Project], file: str) -> Project | None:
    """The innermost project that holds the file, if any."""
    holders = [project for project in projects if project.holds(file)]
    return max(holders, key=lambda project: len(project.path), default=None)


def selected(projects: list[Project], changed: list[str] | None) -> list[Project]:
    """The projects to check for a change; `None` means the change is unknown."""
    if changed is None or any(file.startswith(SHARED_PATHS) for file in changed):
        return projects
    owners = {owner(projects, file) for file in changed}
    return [project for project in projects if project in owners]


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], check=False, capture_output=True, text=True)


def tracked_files() -> list[str]:
    result = git("ls-files", "-z")
    if result.returncode != 0:
        raise SelectionError(f"git ls-files failed: {result.stderr.strip()}")
    return [file for file in result.stdout.split("\0") if file]


def changed_files(base: str) -> list[str] | None:
    """The files changed since `base` (since where HEAD left it), or None when that is unknown."""
    if NO_BASE.fullmatch(base):
        return None
    result = git("diff", "--name-only", "-z", f"{base}...HEAD")
    if result.returncode != 0:
        print(
            f"note: cannot compare with {base} ({result.stderr.strip() or 'unknown commit'}): "
            "every project is selected",
            file=sys.stderr,
        )
        return None
    return [file for file in result.stdout.split("\0") if file]


def as_json(projects: list[Project]) -> str:
    return json.dumps([project.as_dict() for project in projects], separators=(",", ":"))


def as_azure_matrix(projects: list[Project]) -> str:
    """An Azure Pipelines matrix: one leg per project, named by its key (leg names allow letters,
    digits and underscores only)."""
    legs = {
        project.key: {"PROJECT_PATH": project.path, "PROJECT_KEY": project.key}
        for project in projects
    }
    return json.dumps(legs, separators=(",", ":"))


FORMATS = {"json": as_json, "azure-matrix": as_azure_matrix}


def main(argv: list[str] | None = None, formats: dict = FORMATS) -> int:
    """Print the selected projects in one of `formats` (the first is the default), or one line
    saying why they cannot be told apart."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base",
        default="",
        help="the commit the change starts from; empty or all zeros selects every project",
    )
    parser.add_argument("--format", choices=formats, default=next(iter(formats)))
    args = parser.parse_args(argv)
    try:
        projects = selected(projects_in(tracked_files()), changed_files(args.base))
    except SelectionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    names = ", ".join(project.path for project in projects) or "none"
    print(f"projects to check: {names}", file=sys.stderr)
    print(formats[args.format](projects))
    return 0


if __name__ == "__main__":
    sys.exit(main())
