"""Where a template comes from: a local git checkout or a git URL, read at a given commit."""

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mlops_stack import git
from mlops_stack.errors import UserError

# A URL git can clone (https://, ssh://, file://, ...) or the scp-like form user@host:path.
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[\w.-]+@[\w.-]+:")


def is_url(source: str) -> bool:
    return bool(URL.match(source))


@dataclass(frozen=True)
class Template:
    """A template repository that git can read: a local checkout or a bare clone of a URL."""

    source: str  # as given: a URL or a local path
    repository: Path  # where git commands run
    directory: str | None  # the template's folder inside the repository, if not the root
    is_local: bool

    @property
    def name(self) -> str:
        stem = Path(self.source.rstrip("/")).name.removesuffix(".git")
        return stem or "template"

    def commit(self, ref: str) -> str:
        found = git.commit_of(self.repository, ref)
        if found is None:
            raise UserError(f"unknown template ref {ref!r}: {self.source} has no such commit")
        return found

    def has_commit(self, commit: str) -> bool:
        return git.commit_of(self.repository, commit) is not None

    def require_commit(self, commit: str, record: str) -> None:
        """`check` and `update` both need the commit a project was made from."""
        if not self.has_commit(commit):
            raise UserError(
                f"the template commit recorded in {record}, {commit[:12]}, is not in "
                f"{self.source}: pass --template PATH_OR_URL to a copy of the template that has "
                "it (a clone with its full history)"
            )

    def commits_between(self, older: str, newer: str) -> int | None:
        """How many commits `newer` is ahead of `older`; None when `older` is not its ancestor."""
        if not git.succeeds("merge-base", "--is-ancestor", older, newer, cwd=self.repository):
            return None
        return int(git.git("rev-list", "--count", f"{older}..{newer}", cwd=self.repository))

    def has_uncommitted_changes(self) -> bool:
        if not self.is_local or git.is_bare_repository(self.repository):
            return False
        return bool(git.status(self.repository, untracked=False))

    def snapshot(self, commit: str, destination: Path) -> Path:
        """Write the template's files at `commit` under `destination`; return the template dir."""
        git.export(self.repository, commit, destination)
        template_dir = destination / (self.directory or "")
        if not (template_dir / "cookiecutter.json").is_file():
            where = f" in {self.directory}" if self.directory else ""
            raise UserError(
                f"{self.source} is not a cookiecutter template at commit {commit[:12]}: "
                f"no cookiecutter.json{where}"
            )
        return template_dir

    def portable_source(self, project_dir: Path) -> str:
        """How to record this template in a project: a URL as given; a local path relative to
        the project, so the record holds no path of this machine and works from the project."""
        if not self.is_local:
            return self.source
        relative = os.path.relpath(self.repository.resolve(), project_dir.resolve())
        return Path(relative).as_posix()


def open_template(source: str, workdir: Path, directory: str | None = None) -> Template:
    """Make `source` readable by git: clone a URL into `workdir`, or use a local repository."""
    if is_url(source):
        clone = workdir / "template.git"
        try:
            git.git("clone", "--bare", "--quiet", source, str(clone))
        except git.GitError as error:
            raise UserError(f"template not found: cannot clone {source} ({error.detail})") from None
        return Template(source, clone, directory, is_local=False)
    path = Path(source).expanduser()
    if not path.is_dir():
        raise UserError(f"template not found: {source} is neither a directory nor a git URL")
    if git.is_bare_repository(path):
        return Template(source, path, directory, is_local=True)
    root = git.work_tree_root(path)
    if root is None:
        raise UserError(
            f"{source} is not a git repository: mlops-stack records the template's commit so "
            "that the project can be upgraded later; use a git clone of the template"
        )
    if directory is None and path.resolve() != root.resolve():
        directory = path.resolve().relative_to(root.resolve()).as_posix()
    return Template(source, root, directory, is_local=True)
