"""Mistakes a user can fix, tasks that fail in a local job run, and how entry points report them."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn


class UserError(Exception):
    """A problem with the input, the environment or the order of steps; the message says the fix."""


class RunnerError(Exception):
    """A problem with the bundle or the way it is run, reported as one message without traceback."""


class TaskFailure(Exception):
    """The task ran and failed; the message says why."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message, to quote it inside a sentence."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Print a user error as one line and exit with status 1; let real bugs show their traceback."""
    try:
        yield
    except UserError as error:
        _report(error)
    except Exception as error:
        from .tables import damaged_file  # tables reports its own errors with this module

        damaged = damaged_file(error)
        if damaged is None:
            raise
        _report(damaged)


def _report(error: UserError) -> NoReturn:
    print(f"error: {error}", file=sys.stderr, flush=True)
    raise SystemExit(1) from None
