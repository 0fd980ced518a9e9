"""Where this process runs: on Databricks or on this machine, and the folder of its local state.

Kept apart from `runtime` so that what only needs to know the platform (the task values, the local
job runner) does not start importing Spark.
"""

import os
import subprocess
from pathlib import Path

LOCAL_DIR_VARIABLE = "MLOPS_LOCAL_DIR"


def on_databricks() -> bool:
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def local_dir() -> Path:
    """MLOPS_LOCAL_DIR, or `.local/` in the project folder (the nearest holding pyproject.toml)."""
    if os.environ.get(LOCAL_DIR_VARIABLE):
        return Path(os.environ[LOCAL_DIR_VARIABLE]).resolve()
    cwd = Path.cwd().resolve()
    project = next((p for p in (cwd, *cwd.parents) if (p / "pyproject.toml").is_file()), cwd)
    return project / ".local"


def source_commit() -> str | None:
    """The git commit of the checkout this process runs in; None outside one, as on Databricks."""
    if on_databricks():
        return None
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None
