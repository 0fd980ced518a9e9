"""`mlops-stack update`: bring a project to a newer template version by a three-way merge.

The template is rendered twice into temporary directories: at the recorded commit with the
recorded answers (what the project started from) and at the target commit with the new answers.
Each project file is then merged with `merge.merge_trees`. A clean merge records the new commit
and answers in `.cruft.json`. A merge with conflicts leaves the record alone and keeps the pending
update in the git directory until `--continue` (after the conflicts are resolved) records it, or
`--abort` undoes it.
"""

import functools
import json
import sys
import tempfile
import tomllib
from dataclasses import replace
from fnmatch import fnmatch
from pathlib import Path

from mlops_stack import git
from mlops_stack.answers import (
    AnswersRefused,
    settle,
    template_variables,
    unknown_or_unlisted,
    unsafe_text,
)
from mlops_stack.errors import UserError
from mlops_stack.merge import Change, Merge, Tree, Version, merge_trees
from mlops_stack.origin import RECORD, Origin, read_origin, write_origin
from mlops_stack.render import render_quietly
from mlops_stack.template import open_template

PENDING = "mlops-stack-update.json"  # in the project's git directory, never committed
IN_RECORD = f" (recorded in {RECORD})"


def update(
    project_dir: Path, given: dict, to_ref: str | None = None, template: str | None = None
) -> int:
    origin = read_origin(project_dir)
    require_clean_repository(project_dir)
    with tempfile.TemporaryDirectory(prefix="mlops-stack-") as temporary:
        work = Path(temporary)
        found = open_template(
            template or origin.fetch_location(project_dir), work, origin.directory
        )
        target = found.commit(to_ref or origin.checkout or "HEAD")
        found.require_commit(origin.commit, RECORD)
        if target == origin.commit and not given:
            print(f"Already up to date with the template at {target[:12]}.")
            return 0
        old_dir = found.snapshot(origin.commit, work / "old-template")
        new_dir = found.snapshot(target, work / "new-template")
        old_answers = recorded_answers(origin, old_dir)
        answers = new_answers(origin.answers, given, new_dir)
        skip = origin.skip + cruft_skip_setting(project_dir)
        base = read_tree(render_quietly(old_dir, old_answers, work, "old"), skip)
        theirs = read_tree(render_quietly(new_dir, answers, work, "new"), skip)
    ours = read_project(project_dir, set(base) | set(theirs))
    labels = ("your project", f"template {origin.commit[:12]}", f"template {target[:12]}")
    merge = merge_trees(base, ours, theirs, functools.partial(merge_text, labels=labels))
    apply(project_dir, merge.changes)
    report(merge, origin.commit, target)
    if merge.conflicts:
        save_pending(project_dir, target, answers, merge)
        return 1
    write_origin(project_dir, replace(origin, commit=target, answers=answers))
    print(
        f"Recorded template commit {target[:12]} in {RECORD}. Review with `git diff`, then commit."
    )
    return 0


def continue_update(project_dir: Path) -> int:
    """Record the pending update once its conflicts are resolved."""
    origin = read_origin(project_dir)
    pending_file, pending = read_pending(project_dir)
    marked = [path for path in pending["marked"] if has_conflict_markers(project_dir / path)]
    if marked:
        raise UserError(
            "conflict markers (<<<<<<< or >>>>>>>) remain in:\n"
            + "\n".join(f"  {path}" for path in marked)
        )
    unmoved = git.git("rev-parse", "HEAD", cwd=project_dir) == pending["head"]
    if unmoved and pending["applied"] and not git.status(project_dir):
        raise UserError(
            "the update's changes are no longer in the working tree: run "
            "`mlops-stack update --abort` to forget it, then update again"
        )
    write_origin(project_dir, replace(origin, commit=pending["commit"], answers=pending["answers"]))
    pending_file.unlink()
    print(f"Recorded template commit {pending['commit'][:12]} in {RECORD}. Commit the result.")
    return 0


def abort_update(project_dir: Path) -> int:
    """Forget the pending update, restoring the files it changed if nothing was committed since."""
    pending_file, pending = read_pending(project_dir)
    if git.git("rev-parse", "HEAD", cwd=project_dir) == pending["head"]:
        restore(project_dir, pending["touched"])
        print("Undid the update: the files it changed are as they were before it.")
    else:
        print(
            "Commits were made since the update started, so no file was restored (use git to undo "
            f"them). {RECORD} still records the template version from before the update."
        )
    pending_file.unlink()
    return 0


def require_clean_repository(project_dir: Path) -> None:
    if git.work_tree_root(project_dir) is None:
        raise UserError(
            f"{project_dir} is not in a git repository: commit the project to git first, so the "
            "update can be reviewed and undone"
        )
    pending_file = pending_path(project_dir)
    if pending_file.exists():
        raise UserError(
            "an update is in progress: resolve its conflicts and run "
            "`mlops-stack update --continue`, or undo it with `mlops-stack update --abort`"
        )
    changes = git.status(project_dir)
    if changes:
        listed = "\n".join(f"  {line}" for line in changes[:10])
        more = f"\n  ... and {len(changes) - 10} more" if len(changes) > 10 else ""
        raise UserError(
            "the working tree has uncommitted changes: commit or stash them first, so the "
            f"update can be reviewed and undone:\n{listed}{more}"
        )


def recorded_answers(origin: Origin, old_template_dir: Path) -> dict:
    """The recorded answers that the template at the recorded commit asks for."""
    variables = template_variables(old_template_dir)
    answers = {name: value for name, value in origin.answers.items() if name in variables}
    problems = unsafe_text(answers, IN_RECORD) + unknown_or_unlisted(answers, variables, IN_RECORD)
    if problems:
        raise AnswersRefused(problems)
    return answers


def new_answers(recorded: dict, given: dict, template_dir: Path) -> dict:
    """The recorded answers, changed by those given, checked with the new template's rules."""
    variables = template_variables(template_dir)
    dropped = sorted(name for name in recorded if name not in variables)
    if dropped:
        print(f"note: the template no longer asks for {', '.join(dropped)}", file=sys.stderr)
    refused = unsafe_text(recorded, IN_RECORD)
    if refused:
        raise AnswersRefused(refused)
    kept = {name: value for name, value in recorded.items() if name in variables}
    answers = settle(template_dir, {**kept, **given})
    added = [name for name in answers if name not in recorded and name not in given]
    if added:
        defaults = ", ".join(f"{name}={answers[name]}" for name in added)
        print(
            f"note: new answers take their defaults: {defaults} (change one with "
            "`mlops-stack update NAME=VALUE`)",
            file=sys.stderr,
        )
    return answers


def cruft_skip_setting(project_dir: Path) -> list[str]:
    """Paths listed under [tool.cruft] skip in the project's pyproject.toml, as cruft reads them."""
    pyproject = project_dir / "pyproject.toml"
    try:
        settings = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return list(settings.get("tool", {}).get("cruft", {}).get("skip", []))


def is_skipped(path: str, skip: list[str]) -> bool:
    if path == RECORD:
        return True
    return any(
        fnmatch(path, pattern)
        or path == pattern.rstrip("/")
        or path.startswith(pattern.rstrip("/") + "/")
        for pattern in skip
    )


def version_of(path: Path) -> Version:
    return Version(path.read_bytes(), executable=bool(path.stat().st_mode & 0o100))


def read_tree(root: Path, skip: list[str]) -> Tree:
    files = (path for path in root.rglob("*") if path.is_file())
    return {
        relative: version_of(path)
        for path in files
        if not is_skipped(relative := path.relative_to(root).as_posix(), skip)
    }


def read_project(project_dir: Path, paths: set[str]) -> Tree:
    return {
        path: version_of(project_dir / path) for path in paths if (project_dir / path).is_file()
    }


def merge_text(ours: bytes, base: bytes, theirs: bytes, labels: tuple[str, str, str]):
    try:
        return git.merge_file(ours, base, theirs, labels)
    except git.GitError:
        return None  # not mergeable line by line


def apply(project_dir: Path, changes: list[Change]) -> None:
    for change in changes:
        target = project_dir / change.path
        if change.result is None:
            target.unlink(missing_ok=True)
            prune_empty_directories(target.parent, project_dir)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(change.result.content)
        mode = target.stat().st_mode
        readable = (mode & 0o444) >> 2
        target.chmod(mode | readable if change.result.executable else mode & ~0o111)


def prune_empty_directories(directory: Path, project_dir: Path) -> None:
    while directory != project_dir and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


def report(merge: Merge, old: str, new: str) -> None:
    print(f"Template commit {old[:12]} -> {new[:12]}: {len(merge.changes)} file(s) changed.")
    for change in merge.changes:
        print(f"  {change.kind:<8} {change.path}")
    if merge.conflicts:
        lines = "\n".join(f"  {path}: {what}" for path, what in merge.conflicts.items())
        print(
            f"Conflicts in {len(merge.conflicts)} file(s):\n{lines}\n"
            "Resolve them (search for <<<<<<<), then run `mlops-stack update --continue` to "
            f"record the new template version in {RECORD}; `mlops-stack update --abort` undoes "
            "the update.",
            file=sys.stderr,
        )


def pending_update(project_dir: Path) -> dict | None:
    """The update waiting for --continue or --abort, if any."""
    if git.work_tree_root(project_dir) is None or not pending_path(project_dir).is_file():
        return None
    path = pending_path(project_dir)
    try:
        pending = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        pending = None
    if not is_pending_record(pending):
        raise UserError(
            f"the record of the update in progress, {path}, is damaged: delete it to forget the "
            "update, and undo its changes with git (`git status` lists them)"
        )
    return pending


def is_pending_record(pending) -> bool:
    paths = ("marked", "applied", "touched")
    return (
        isinstance(pending, dict)
        and all(isinstance(pending.get(key), str) for key in ("commit", "head"))
        and isinstance(pending.get("answers"), dict)
        and all(isinstance(pending.get(key), list) for key in paths)
        and all(isinstance(path, str) for key in paths for path in pending[key])
    )


def pending_path(project_dir: Path) -> Path:
    """Where the project's pending update waits. A monorepo's parts (its CI/CD at the root, each
    project in its folder) share one git directory, so each folder has a file of its own."""
    git_dir = Path(git.git("rev-parse", "--absolute-git-dir", cwd=project_dir))
    folder = git.git("rev-parse", "--show-prefix", cwd=project_dir).strip("/")
    return git_dir / (PENDING if not folder else f"{folder.replace('/', '--')}.{PENDING}")


def save_pending(project_dir: Path, target: str, answers: dict, merge: Merge) -> None:
    pending = {
        "commit": target,
        "answers": answers,
        "head": git.git("rev-parse", "HEAD", cwd=project_dir),
        "marked": merge.marked,
        "applied": [change.path for change in merge.changes if change.kind != "conflict"],
        "touched": [change.path for change in merge.changes],
    }
    pending_path(project_dir).write_text(json.dumps(pending, indent=2), encoding="utf-8")


def read_pending(project_dir: Path) -> tuple[Path, dict]:
    pending = pending_update(project_dir)
    if pending is None:
        raise UserError("no update is in progress")
    return pending_path(project_dir), pending


def has_conflict_markers(path: Path) -> bool:
    if not path.is_file():
        return False
    return any(
        line.startswith((b"<<<<<<< ", b">>>>>>> ")) for line in path.read_bytes().splitlines()
    )


def restore(project_dir: Path, paths: list[str]) -> None:
    """Put back the committed version of each path; remove those that were not committed."""
    committed = [
        path for path in paths if git.succeeds("cat-file", "-e", f"HEAD:./{path}", cwd=project_dir)
    ]
    if committed:
        git.git("checkout", "HEAD", "--", *committed, cwd=project_dir)
    for path in set(paths) - set(committed):
        (project_dir / path).unlink(missing_ok=True)
        prune_empty_directories((project_dir / path).parent, project_dir)
