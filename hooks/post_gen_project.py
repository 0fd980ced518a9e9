"""Remove what belongs to options not chosen, then print the next steps.

Runs offline inside the new project directory and never installs, pushes or calls out.
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")
PACKAGE_DIR = f"src/{ANSWERS['package_name']}"
# The templates include monitoring exactly when the answer is "yes": so does this hook.
MONITORING = ANSWERS["include_monitoring"] == "yes"
SERVING = ANSWERS["include_serving"] == "yes"
MODE = ANSWERS["setup_mode"]
# The repository's CI/CD: project_only leaves these out, cicd_only keeps only them and the guide.
CICD_FILES = [".github", ".azure", ".gitlab", ".gitlab-ci.yml", "scripts"]
SETUP_GUIDE = "docs/ci-cd-setup.md"
# The CI/CD of a repository of many projects (cicd_only): its files replace the single project's.
MONOREPO_CI = Path(".monorepo")


def everything_but(kept: list[str], folder: Path = Path(".")) -> list[str]:
    """The paths under `folder` outside `kept`, as few as possible: a folder that holds nothing
    kept is one path."""
    paths = []
    for entry in sorted(folder.iterdir()):
        path = entry.as_posix()
        if any(kept_path.startswith(f"{path}/") for kept_path in kept):
            paths += everything_but(kept, entry)
        elif path not in kept:
            paths.append(path)
    return paths


def unused_paths() -> dict[str, tuple[bool, list[str]]]:
    """Paths (relative to the project root) to delete, keyed by a description of when they are
    unused."""
    return {
        "the repository's CI/CD comes from elsewhere (setup_mode project_only)": (
            MODE == "project_only",
            CICD_FILES,
        ),
        "only the repository's CI/CD is made (setup_mode cicd_only)": (
            MODE == "cicd_only",
            everything_but([*CICD_FILES, SETUP_GUIDE]) if MODE == "cicd_only" else [],
        ),
        "monitoring is off": (
            not MONITORING,
            [
                f"{PACKAGE_DIR}/monitoring.py",
                f"{PACKAGE_DIR}/monitoring_report.py",
                f"{PACKAGE_DIR}/monitor_specs.py",
                f"{PACKAGE_DIR}/platform/monitors.py",
                f"{PACKAGE_DIR}/inference_requests.py",
                "tests/test_monitoring.py",
                "tests/test_monitoring_report.py",
                "tests/test_monitor_specs.py",
                "tests/test_inference_requests.py",
                "resources/monitoring.yml",
            ],
        ),
        "serving is off": (
            not SERVING,
            [
                f"{PACKAGE_DIR}/serving.py",
                f"{PACKAGE_DIR}/platform/endpoints.py",
                "tests/test_serving_spec.py",
                f"{PACKAGE_DIR}/platform/local_serving.py",
                f"{PACKAGE_DIR}/platform/inference_log.py",
                f"{PACKAGE_DIR}/platform/serving_benchmark.py",
                "tests/test_local_serving.py",
                f"{PACKAGE_DIR}/inference_requests.py",
                "tests/test_inference_requests.py",
            ],
        ),
        "CI/CD is not on GitHub": (
            ANSWERS["cicd_platform"] not in ("github_actions", "github_enterprise"),
            [".github"],
        ),
        "CI/CD is on github.com (the CLI comes from databricks/setup-cli)": (
            ANSWERS["cicd_platform"] == "github_actions",
            ["scripts/install-databricks-cli.sh"],
        ),
        "CI/CD is not on Azure DevOps": (
            ANSWERS["cicd_platform"] != "azure_devops",
            [".azure", "scripts/azure_last_deployment.py"],
        ),
        "CI/CD is not on GitLab": (
            ANSWERS["cicd_platform"] != "gitlab",
            [".gitlab-ci.yml", ".gitlab", "scripts/gitlab_child_pipeline.py"],
        ),
    }


def forget_rendered_copy() -> None:
    """Cookiecutter runs this hook from a copy rendered into the temporary folder, every answer
    included, and never deletes it. Python has read the whole file by now: delete it."""
    script = Path(sys.argv[0]).resolve()
    if script.parent == Path(tempfile.gettempdir()).resolve() and script.name.startswith("tmp"):
        script.unlink(missing_ok=True)


def remove(relative_path: str) -> None:
    """Delete a file or folder, and the folders it leaves empty."""
    path = Path(relative_path)
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    else:
        return
    for folder in path.parents[:-1]:
        if any(folder.iterdir()):
            break
        folder.rmdir()


def place_monorepo_ci() -> None:
    """Move each file of the monorepo's CI/CD over the single project's file of the same path."""
    for source in sorted(path for path in MONOREPO_CI.rglob("*") if path.is_file()):
        target = source.relative_to(MONOREPO_CI)
        target.parent.mkdir(parents=True, exist_ok=True)
        source.replace(target)
    shutil.rmtree(MONOREPO_CI)


def next_steps() -> str:
    slug = ANSWERS["project_slug"]
    if MODE == "cicd_only":
        return f"""
Created {slug}/, the CI/CD of a repository of ML projects. Next steps:
  cd {slug}
  git init -b {ANSWERS["default_branch"]} && git add -A && git commit -m "CI/CD"
  mlops-stack new <template> --no-input setup_mode=project_only project_name="<a project>"
Every folder with a databricks.yml is a project the CI/CD checks and deploys when it changes.
Then read docs/ci-cd-setup.md to connect CI/CD and your Databricks workspaces.
"""
    if MODE == "project_only":
        return f"""
Created {slug}/, a project without CI/CD files. Next steps:
  cd {slug}
  make pipeline      # run the whole ML lifecycle locally (local Spark and MLflow, no workspace)
  make test          # run the project's tests
  git add . && git commit -m "Add {slug}"    # in the repository that holds the CI/CD
Then read docs/ci-cd-setup.md to create the project's service principals.
"""
    return f"""
Created {slug}/. Next steps:
  cd {slug}
  make pipeline      # run the whole ML lifecycle locally (local Spark and MLflow, no workspace)
  make test          # run the project's tests
  git init -b {ANSWERS["default_branch"]} && git add -A && git commit -m "Initial project"
Then read docs/ci-cd-setup.md to connect CI/CD and your Databricks workspaces.
"""


def main() -> None:
    forget_rendered_copy()
    if MODE == "cicd_only":
        place_monorepo_ci()
    else:
        shutil.rmtree(MONOREPO_CI)
    for unused, paths in unused_paths().values():
        if unused:
            for path in paths:
                remove(path)
    print(next_steps())


if __name__ == "__main__":
    main()
