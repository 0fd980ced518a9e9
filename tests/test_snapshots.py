"""The rendered files of representative answer sets equal their golden snapshots, and the
serverless-vs-classic difference is the reviewed one."""

import pytest
from golden import COMPUTE_DIFF, REFRESH, REPRESENTATIVE, compute_diff, files_diff, render, stored

# Enough of a diff to see what changed without drowning the test report.
SHOWN_LINES = 200


def shortened(diff: str) -> str:
    lines = diff.splitlines()
    hidden = len(lines) - SHOWN_LINES
    return "\n".join(lines[:SHOWN_LINES] + ([f"... {hidden} more lines"] if hidden > 0 else []))


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_rendered_files_equal_their_snapshot(name):
    diff = files_diff(stored(name), render(REPRESENTATIVE[name]), "snapshot", "rendered")
    assert not diff, f"{name} renders differently from tests/snapshots/{name}. {REFRESH}\n" + (
        shortened(diff)
    )


def test_serverless_and_classic_differ_only_as_reviewed():
    diff = compute_diff()
    assert diff == COMPUTE_DIFF.read_text(encoding="utf-8"), (
        f"The serverless-vs-classic difference changed. {REFRESH}\n{shortened(diff)}"
    )


def test_the_compute_choice_changes_only_the_bundle_and_its_readme():
    changed = {
        line.removeprefix("+++ classic/")
        for line in COMPUTE_DIFF.read_text(encoding="utf-8").splitlines()
        if line.startswith("+++ ")
    }
    outside = {path for path in changed if path not in {"databricks.yml", "README.md"}}
    assert changed and {path for path in outside if not path.startswith("resources/")} == set()
