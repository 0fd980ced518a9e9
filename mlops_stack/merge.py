"""Three-way merge of a project with two renders of its template, file by file.

base: the template rendered at the recorded commit with the recorded answers (what the project
started from); ours: the project as it is now; theirs: the template rendered at the new commit
with the new answers. A file missing from a tree is None.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True)
class Version:
    content: bytes
    executable: bool = False


Tree = Mapping[str, Version]
# (ours, base, theirs) -> (merged content, whether conflict markers were left), or None when the
# content cannot be merged line by line.
TextMerger = Callable[[bytes, bytes, bytes], tuple[bytes, bool] | None]


class Decision(Enum):
    KEEP = "the project's file stays as it is"
    TAKE = "the project did not change it: take the template's new version, or removal"
    MERGE = "both changed it: merge line by line"
    REMOVED_BY_TEMPLATE = (
        "removed from the template, changed by you: your file is kept (delete it if it is no "
        "longer needed)"
    )
    DELETED_BY_YOU = (
        "deleted by you, changed by the template: it stays deleted (restore it from the template "
        "if you want the change)"
    )
    NOT_TEXT = "changed by you and by the template, and not text: your version is kept"


def decide(base: Version | None, ours: Version | None, theirs: Version | None) -> Decision:
    if theirs == base:
        return Decision.KEEP  # the template did not change it (whatever the project did)
    if ours == base:
        return Decision.TAKE
    if ours == theirs:
        return Decision.KEEP  # both made the same change
    if theirs is None:
        return Decision.REMOVED_BY_TEMPLATE
    if ours is None:
        return Decision.DELETED_BY_YOU
    if any(version and is_binary(version.content) for version in (base, ours, theirs)):
        return Decision.NOT_TEXT
    return Decision.MERGE


def is_binary(content: bytes) -> bool:
    return b"\0" in content[:8000]  # git's own test


@dataclass(frozen=True)
class Change:
    path: str
    kind: str  # added, updated, removed, merged, or conflict (written with conflict markers)
    result: Version | None  # None: delete the file


@dataclass
class Merge:
    changes: list[Change] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)  # path -> what happened to it

    @property
    def marked(self) -> list[str]:
        """Files written with conflict markers."""
        return [change.path for change in self.changes if change.kind == "conflict"]


def merge_trees(base: Tree, ours: Tree, theirs: Tree, merge_text: TextMerger) -> Merge:
    merge = Merge()
    for path in sorted(set(base) | set(ours) | set(theirs)):
        old, mine, new = base.get(path), ours.get(path), theirs.get(path)
        decision = decide(old, mine, new)
        if decision is Decision.KEEP:
            continue
        if decision is Decision.TAKE:
            kind = "removed" if new is None else "added" if mine is None else "updated"
            merge.changes.append(Change(path, kind, new))
        elif decision is Decision.MERGE:
            merged = merge_text(mine.content, old.content if old else b"", new.content)
            if merged is None:
                merge.conflicts[path] = Decision.NOT_TEXT.value
                continue
            content, conflicted = merged
            # The executable bit merges like the content: the template's change applies unless
            # the project changed it too.
            old_mode = old.executable if old else mine.executable
            mode = new.executable if mine.executable == old_mode else mine.executable
            merge.changes.append(
                Change(path, "conflict" if conflicted else "merged", Version(content, mode))
            )
            if conflicted:
                merge.conflicts[path] = (
                    "changed by you and by the template in the same lines"
                    if old
                    else "added by you and by the template with different content"
                ) + ": conflict markers written"
        else:
            merge.conflicts[path] = decision.value
    return merge
