"""The monorepo the README builds, shared by the tests of the monorepo's CI/CD and of its
projects: a `setup_mode=cicd_only` bake, with two `setup_mode=project_only` projects baked into
it (one serverless with monitoring and serving, one classic with neither), committed to git."""

import subprocess
from pathlib import Path

from conftest import bake

# Each project's folder, and the answers that make it.
PROJECTS = {
    "fraud-detection": {"project_name": "Fraud Detection"},
    "demand-forecast": {
        "project_name": "Demand Forecast",
        "compute": "classic",
        "include_monitoring": "no",
        "include_serving": "no",
    },
}
GIT_IDENTITY = ["-c", "user.name=Monorepo Tests", "-c", "user.email=tests@example.com"]


def git(repository: Path, *args: str) -> str:
    """Run git in the repository and return its output, stripped; fail on an error."""
    result = subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=repository, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def build_monorepo(output_dir: Path, answers: dict) -> Path:
    """Bake the CI/CD with `answers` (and setup_mode=cicd_only), then each project into it with
    the answers they share (the branches), and commit all on the default branch."""
    shared = {
        name: answers[name] for name in ("default_branch", "release_branch") if name in answers
    }
    root = bake(output_dir, {**answers, "setup_mode": "cicd_only"})
    for project_answers in PROJECTS.values():
        bake(root, {**shared, **project_answers, "setup_mode": "project_only"})
    git(root, "init", "--quiet", "-b", answers.get("default_branch", "main"))
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "CI/CD and two projects")
    return root
