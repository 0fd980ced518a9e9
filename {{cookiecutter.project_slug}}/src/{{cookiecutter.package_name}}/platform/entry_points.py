"""The console-script entry point of a step: its command line and its error handling.

A step is written as a function of its parsed arguments; `step_entry_point` turns it into the
`main(argv=None)` that `[project.scripts]` names and the bundle's wheel tasks call. A bad option
ends the step with argparse's message and exit status 2, a UserError (or a damaged table file)
with one line on stderr and exit status 1; any other error shows its traceback.
"""

import argparse
import functools
from collections.abc import Callable

from .errors import exit_on_user_error

Option = Callable[[argparse.ArgumentParser], None]
Step = Callable[[argparse.Namespace], None]
Main = Callable[[list[str] | None], None]


def step_entry_point(description: str, *options: Option) -> Callable[[Step], Main]:
    """Make `step(args)` a `main(argv=None)` that parses the `options` and reports user errors."""

    def decorate(step: Step) -> Main:
        @functools.wraps(step)
        def main(argv: list[str] | None = None) -> None:
            parser = argparse.ArgumentParser(description=description)
            for add_option in options:
                add_option(parser)
            args = parser.parse_args(argv)
            with exit_on_user_error():
                step(args)

        return main

    return decorate
