"""The few git operations the commands need, through the git command line."""

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

from mlops_stack.errors import UserError


class GitError(Exception):
    """A git command failed; `detail` is the last line git printed about it."""

    def __init__(self, command: list[str], stderr: str):
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        self.detail = lines[-1] if lines else f"git {' '.join(command)} failed"
        super().__init__(self.detail)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True)
    except FileNotFoundError:
        raise UserError("git is not installed: mlops-stack needs the git command") from None


def git(*args: str, cwd: Path | None = None) -> str:
    """Run git and return its output, stripped; raise GitError when it fails."""
    result = run(*args, cwd=cwd)
    if result.returncode != 0:
        raise GitError(list(args), result.stderr.decode(errors="replace"))
    return result.stdout.decode().strip()


def succeeds(*args: str, cwd: Path | None = None) -> bool:
    return run(*args, cwd=cwd).returncode == 0


def commit_of(repo: Path, ref: str) -> str | None:
    """The full hash of the commit `ref` names in `repo`, or None when it names none."""
    result = run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=repo)
    return result.stdout.decode().strip() if result.returncode == 0 else None


def work_tree_root(path: Path) -> Path | None:
    result = run("rev-parse", "--show-toplevel", cwd=path)
    return Path(result.stdout.decode().strip()) if result.returncode == 0 else None


def is_bare_repository(path: Path) -> bool:
    result = run("rev-parse", "--is-bare-repository", cwd=path)
    return result.returncode == 0 and result.stdout.decode().strip() == "true"


def status(path: Path, untracked: bool = True) -> list[str]:
    """`git status --porcelain` lines for the files under `path`."""
    mode = "all" if untracked else "no"
    output = git("status", "--porcelain", f"--untracked-files={mode}", "--", ".", cwd=path)
    return output.splitlines()


def export(repo: Path, commit: str, destination: Path) -> None:
    """Write the files of `commit` (without .git) into `destination`."""
    result = run("archive", "--format=tar", commit, cwd=repo)
    if result.returncode != 0:
        raise GitError(["archive", commit], result.stderr.decode(errors="replace"))
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        # The "data" filter (Python >= 3.11.4) refuses links and paths that leave the destination.
        safety = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(destination, **safety)


def merge_file(ours: bytes, base: bytes, theirs: bytes, labels: tuple[str, str, str]):
    """Three-way merge of one file's content with `git merge-file`.

    Returns the merged bytes (with conflict markers where both sides changed the same lines) and
    whether conflicts were left; raises GitError when git cannot merge the content at all.
    """
    with tempfile.TemporaryDirectory(prefix="mlops-stack-merge-") as directory:
        paths = []
        for name, content in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(directory) / name
            path.write_bytes(content)
            paths.append(str(path))
        label_options = [option for label in labels for option in ("-L", label)]
        result = run("merge-file", "--stdout", *label_options, *paths)
    # The exit status is the number of conflicts (at most 127); above that git failed.
    if result.returncode > 127:
        raise GitError(["merge-file"], result.stderr.decode(errors="replace"))
    return result.stdout, result.returncode > 0
