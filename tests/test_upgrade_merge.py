"""How `mlops-stack update` merges each file: the project's version (ours), the template's files
at the recorded commit (base) and at the new commit (theirs)."""

import pytest

from mlops_stack.git import merge_file
from mlops_stack.merge import Decision, Version, decide, merge_trees

A, B, C = Version(b"a\n"), Version(b"b\n"), Version(b"c\n")
SCRIPT, SCRIPT_EXECUTABLE = Version(b"run\n"), Version(b"run\n", executable=True)
BINARY, BINARY_MINE, BINARY_NEW = Version(b"\0a"), Version(b"\0b"), Version(b"\0c")
LABELS = ("your project", "template old", "template new")


def merge_text(ours: bytes, base: bytes, theirs: bytes):
    return merge_file(ours, base, theirs, LABELS)


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "expected"),
    [
        pytest.param(A, A, A, Decision.KEEP, id="nobody-changed-it"),
        pytest.param(A, B, A, Decision.KEEP, id="only-you-changed-it"),
        pytest.param(A, A, B, Decision.TAKE, id="only-the-template-changed-it"),
        pytest.param(A, B, B, Decision.KEEP, id="both-made-the-same-change"),
        pytest.param(A, B, C, Decision.MERGE, id="both-changed-it"),
        pytest.param(None, None, A, Decision.TAKE, id="the-template-added-it"),
        pytest.param(None, A, None, Decision.KEEP, id="you-added-it"),
        pytest.param(None, A, A, Decision.KEEP, id="both-added-the-same-file"),
        pytest.param(None, A, B, Decision.MERGE, id="both-added-different-files"),
        pytest.param(A, A, None, Decision.TAKE, id="the-template-removed-it-unchanged"),
        pytest.param(
            A, B, None, Decision.REMOVED_BY_TEMPLATE, id="the-template-removed-it-changed"
        ),
        pytest.param(A, None, A, Decision.KEEP, id="you-deleted-it-template-unchanged"),
        pytest.param(A, None, B, Decision.DELETED_BY_YOU, id="you-deleted-it-template-changed"),
        pytest.param(A, None, None, Decision.KEEP, id="both-deleted-it"),
        pytest.param(
            SCRIPT, SCRIPT, SCRIPT_EXECUTABLE, Decision.TAKE, id="template-made-it-executable"
        ),
        pytest.param(BINARY, BINARY_MINE, BINARY_NEW, Decision.NOT_TEXT, id="both-changed-binary"),
    ],
)
def test_decision_for_each_case(base, ours, theirs, expected):
    assert decide(base, ours, theirs) is expected


def lines(*items: str) -> Version:
    return Version("".join(f"{item}\n" for item in items).encode())


BASE = lines("one", "two", "three", "four", "five", "six")


def test_changes_to_different_lines_merge_cleanly():
    ours = lines("ONE", "two", "three", "four", "five", "six")
    theirs = lines("one", "two", "three", "four", "five", "SIX")
    merge = merge_trees({"f.py": BASE}, {"f.py": ours}, {"f.py": theirs}, merge_text)
    assert merge.conflicts == {}
    [change] = merge.changes
    assert (change.kind, change.result) == (
        "merged",
        lines("ONE", "two", "three", "four", "five", "SIX"),
    )


def test_changes_to_the_same_lines_get_conflict_markers():
    ours = lines("one", "two", "mine", "four", "five", "six")
    theirs = lines("one", "two", "template's", "four", "five", "six")
    merge = merge_trees({"f.py": BASE}, {"f.py": ours}, {"f.py": theirs}, merge_text)
    [change] = merge.changes
    assert change.kind == "conflict"
    assert merge.marked == ["f.py"]
    assert "changed by you and by the template" in merge.conflicts["f.py"]
    text = change.result.content.decode()
    assert "<<<<<<< your project\nmine\n=======\ntemplate's\n>>>>>>> template new\n" in text
    assert text.startswith("one\ntwo\n") and text.endswith("four\nfive\nsix\n")


def test_a_file_added_on_both_sides_with_different_content_gets_conflict_markers():
    merge = merge_trees({}, {"new.md": lines("mine")}, {"new.md": lines("theirs")}, merge_text)
    assert merge.marked == ["new.md"]
    assert "added by you and by the template" in merge.conflicts["new.md"]


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "kind", "result"),
    [
        pytest.param(A, A, B, "updated", B, id="updated"),
        pytest.param(None, None, A, "added", A, id="added"),
        pytest.param(A, A, None, "removed", None, id="removed"),
    ],
)
def test_template_changes_to_untouched_files_are_taken(base, ours, theirs, kind, result):
    def tree(version):
        return {} if version is None else {"f": version}

    merge = merge_trees(tree(base), tree(ours), tree(theirs), merge_text)
    assert [(change.path, change.kind, change.result) for change in merge.changes] == [
        ("f", kind, result)
    ]
    assert merge.conflicts == {}


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "reason"),
    [
        pytest.param(A, B, None, "removed from the template, changed by you", id="removed-changed"),
        pytest.param(A, None, B, "deleted by you, changed by the template", id="deleted-changed"),
        pytest.param(BINARY, BINARY_MINE, BINARY_NEW, "not text", id="binary"),
    ],
)
def test_conflicts_without_markers_leave_the_project_file_alone(base, ours, theirs, reason):
    def tree(version):
        return {} if version is None else {"f": version}

    merge = merge_trees(tree(base), tree(ours), tree(theirs), merge_text)
    assert merge.changes == []
    assert reason in merge.conflicts["f"]


def test_content_git_cannot_merge_is_a_conflict_that_keeps_your_version():
    merge = merge_trees({"f": A}, {"f": B}, {"f": C}, lambda ours, base, theirs: None)
    assert merge.changes == []
    assert "not text" in merge.conflicts["f"]


def test_the_template_making_a_file_executable_applies_to_a_merged_file():
    ours = Version(lines("ONE", "two", "three", "four", "five", "six").content)
    theirs = Version(lines("one", "two", "three", "four", "five", "SIX").content, executable=True)
    [change] = merge_trees({"run": BASE}, {"run": ours}, {"run": theirs}, merge_text).changes
    assert change.result.executable


def test_files_are_visited_in_path_order():
    merge = merge_trees({}, {}, {"b": A, "a": A, "c/d": A}, merge_text)
    assert [change.path for change in merge.changes] == ["a", "b", "c/d"]
