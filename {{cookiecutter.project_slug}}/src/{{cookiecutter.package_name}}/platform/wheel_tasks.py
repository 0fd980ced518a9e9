"""How a python_wheel_task runs here: the project's console script, called in this process.

On Databricks the task runs the wheel's entry point with the task's parameters on the command line;
locally the runner finds the same entry point in the installed distribution and calls it with them.
"""

import re
import sys
from collections.abc import Mapping
from importlib import metadata

from .errors import RunnerError, TaskFailure


def named_arguments(parameters: Mapping[str, str]) -> list[str]:
    """Wheel-task keyword parameters as the platform passes them: `--name=value`."""
    return [f"--{name}={value}" for name, value in parameters.items()]


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def find_entry_point(package_name: str, entry_point: str, where: str) -> metadata.EntryPoint:
    """The console script `entry_point` of the installed distribution `package_name`."""
    try:
        metadata.distribution(package_name)
    except metadata.PackageNotFoundError:
        raise RunnerError(
            f"{where}: package '{package_name}' is not installed in this Python environment "
            f"({sys.prefix}): install the project with `make install` (or `pip install -e .`)"
        ) from None
    for candidate in metadata.entry_points(group="console_scripts", name=entry_point):
        if candidate.dist is not None and _normalized(candidate.dist.name) == _normalized(
            package_name
        ):
            return candidate
    raise RunnerError(
        f"{where}: entry point '{entry_point}' is not a console script of package "
        f"'{package_name}': declare it under [project.scripts] in pyproject.toml and "
        "reinstall the project (`make install`)"
    )


def call_entry_point(entry_point: metadata.EntryPoint, argv: list[str]) -> None:
    """Call a console script the way a wheel task does: sys.argv holds its parameters."""
    main = entry_point.load()
    saved_argv = sys.argv
    sys.argv = [entry_point.name, *argv]
    try:
        main()
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            raise TaskFailure(exit_.code) from None
        if exit_.code not in (0, None):
            raise TaskFailure(f"{entry_point.name} exited with status {exit_.code}") from None
    finally:
        sys.argv = saved_argv
