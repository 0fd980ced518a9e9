"""The libraries that read a bundle: PyYAML and the job schema of `databricks-bundles`.

They come with the project's `local` extra, which Databricks does not install; without them the
local runner stops with the command that installs them instead of a traceback.
"""

try:
    import yaml
    from databricks.bundles.core import Variable
    from databricks.bundles.jobs import ConditionTaskOp, Job, RunIf, Task
except ModuleNotFoundError as missing:
    package = "pyyaml" if missing.name == "yaml" else "databricks-bundles"
    raise SystemExit(
        f"error: the local job runner needs {package}: install the project with its local extra "
        "(`make install`, or `pip install -e '.[local]'`)"
    ) from None

__all__ = ["ConditionTaskOp", "Job", "RunIf", "Task", "Variable", "yaml"]
