"""Golden snapshots: the files a few representative answer sets render to, kept under
tests/snapshots/ so that a reviewer of a template change sees what every generated project gains
or loses. Each rendered file is stored with a `.snap` suffix, so that neither pytest, ruff nor a
CI platform mistakes a snapshot for the template's own code.

Refresh after an intended change with `make snapshots` (this module run as a script), then
review `git diff tests/snapshots`.
"""

import difflib
import shutil
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshots"
SUFFIX = ".snap"
REFRESH = "If the change is intended, run `make snapshots` and review `git diff tests/snapshots`."

# A few answer sets that between them touch every CI/CD platform family, every cloud, both
# computes, monitoring and serving on and off, and text answers that need quoting.
REPRESENTATIVE = {
    "default": {},
    "aws-gitlab-classic-lean": {
        "cloud": "aws",
        "cicd_platform": "gitlab",
        "compute": "classic",
        "include_monitoring": "no",
        "include_serving": "no",
    },
    "gcp-azure-devops-unusual-text": {
        "cloud": "gcp",
        "cicd_platform": "azure_devops",
        "project_name": "Taxi Fares: O'Brien's \"Model\" #2",
        "project_slug": "taxi-fares",
        "description": 'Predicts fares: "fast" & cheap # not a comment \\ really',
        "schema_name": "taxi",
    },
    # The CI/CD of a monorepo, which each project_only bake (the default's files without their
    # CI/CD) joins.
    "monorepo-ci-github-enterprise": {
        "setup_mode": "cicd_only",
        "cicd_platform": "github_enterprise",
    },
    "monorepo-ci-azure-devops": {"setup_mode": "cicd_only", "cicd_platform": "azure_devops"},
    "monorepo-ci-gitlab": {"setup_mode": "cicd_only", "cicd_platform": "gitlab"},
}
# The one-answer difference a reviewer most often needs to see whole.
COMPUTE_DIFF = SNAPSHOT_DIR / "serverless-vs-classic.diff"


def render(answers: dict) -> dict[str, str]:
    """Every file a bake with these answers writes, by path relative to the project."""
    with tempfile.TemporaryDirectory() as output:
        project = Path(
            cookiecutter(str(TEMPLATE_DIR), no_input=True, extra_context=answers, output_dir=output)
        )
        return {
            path.relative_to(project).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(project.rglob("*"))
            if path.is_file()
        }


def stored(name: str) -> dict[str, str]:
    """The snapshot as kept in the repository, by the same relative paths."""
    root = SNAPSHOT_DIR / name
    return {
        path.relative_to(root).as_posix().removesuffix(SUFFIX): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob(f"*{SUFFIX}"))
    }


def compute_diff() -> str:
    """The default project with serverless compute against the same project with classic."""
    serverless = render({"compute": "serverless"})
    classic = render({"compute": "classic"})
    return files_diff(serverless, classic, "serverless", "classic")


def files_diff(before: dict[str, str], after: dict[str, str], old: str, new: str) -> str:
    """A unified diff of two rendered trees, one section per file that differs."""
    sections = []
    for path in sorted(before.keys() | after.keys()):
        lines = difflib.unified_diff(
            before.get(path, "").splitlines(keepends=True),
            after.get(path, "").splitlines(keepends=True),
            fromfile=f"{old}/{path}" if path in before else "/dev/null",
            tofile=f"{new}/{path}" if path in after else "/dev/null",
        )
        sections.append("".join(lines))
    return "".join(sections)


def refresh() -> None:
    for name, answers in REPRESENTATIVE.items():
        root = SNAPSHOT_DIR / name
        shutil.rmtree(root, ignore_errors=True)
        for relative, text in render(answers).items():
            target = root / f"{relative}{SUFFIX}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        print(f"refreshed {root.relative_to(TEMPLATE_DIR)}")
    COMPUTE_DIFF.write_text(compute_diff(), encoding="utf-8")
    print(f"refreshed {COMPUTE_DIFF.relative_to(TEMPLATE_DIR)}")


if __name__ == "__main__":
    sys.exit(refresh())
