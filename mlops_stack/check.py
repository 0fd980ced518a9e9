"""`mlops-stack check`: is the project made from the template's latest commit?"""

import tempfile
from pathlib import Path

from mlops_stack.origin import RECORD, read_origin
from mlops_stack.template import open_template
from mlops_stack.update import pending_update


def check(project_dir: Path, to_ref: str | None = None, template: str | None = None) -> int:
    origin = read_origin(project_dir)
    ref = to_ref or origin.checkout or "HEAD"
    named = "the template's default branch" if ref == "HEAD" else ref
    with tempfile.TemporaryDirectory(prefix="mlops-stack-") as work:
        found = open_template(template or origin.fetch_location(project_dir), Path(work))
        latest = found.commit(ref)
        if latest == origin.commit:
            print(f"Up to date: made from {named} at its latest commit, {latest[:12]}.")
            return 0
        found.require_commit(origin.commit, RECORD)  # what `update` needs, checked as it does
        behind = found.commits_between(origin.commit, latest)
    if behind is None:
        print(
            f"Not up to date: the project's template commit {origin.commit[:12]} is not in the "
            f"history of {named} ({latest[:12]}). Run `mlops-stack update` to move to it."
        )
    else:
        print(
            f"Behind the template by {behind} commit{'s' if behind > 1 else ''}: the project is "
            f"at {origin.commit[:12]}, {named} at {latest[:12]}. Run `mlops-stack update`."
        )
    if pending_update(project_dir):
        print(
            "An update is in progress: resolve its conflicts, then run "
            "`mlops-stack update --continue`."
        )
    return 1
