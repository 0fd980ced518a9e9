"""Render a template directory with cookiecutter, hooks included."""

import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cookiecutter.exceptions import (
    CookiecutterException,
    FailedHookException,
    OutputDirExistsException,
)
from cookiecutter.main import cookiecutter

from mlops_stack.errors import UserError

# Cookiecutter logs a failing hook, with a traceback since 2.7; the failure reaches the user as
# one UserError instead. A handler of its own keeps Python's last-resort handler from printing.
logging.getLogger("cookiecutter").addHandler(logging.NullHandler())


@contextlib.contextmanager
def captured_output() -> Iterator[list[str]]:
    """Collect what is printed meanwhile, hooks included: they are child processes writing to
    file descriptors 1 and 2. The list given to the caller holds the text once the block ends."""
    captured: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured.append(sink.read().decode(errors="replace"))


def render(template_dir: Path, answers: dict, output_dir: Path, config_file=None) -> Path:
    """Generate a project from `template_dir` with complete, already checked `answers`."""
    try:
        return Path(
            cookiecutter(
                str(template_dir),
                no_input=True,
                extra_context=answers,
                output_dir=str(output_dir),
                config_file=config_file,
            )
        )
    except OutputDirExistsException as error:
        raise UserError(f"{error}: choose another output directory (-o) or remove it") from None
    except FailedHookException as error:
        raise UserError(f"the template's hooks refused to generate the project ({error})") from None
    except CookiecutterException as error:
        raise UserError(f"cookiecutter could not generate the project: {error}") from None


def render_quietly(template_dir: Path, answers: dict, workdir: Path, name: str) -> Path:
    """Render into `workdir/name` for comparison, hiding what the hooks print unless they fail.

    A private cookiecutter configuration keeps the user's defaults and replay files out of it.
    """
    config = workdir / f"{name}-cookiecutter.yaml"
    config.write_text(
        f"cookiecutters_dir: {json.dumps(str(workdir / 'cookiecutters'))}\n"
        f"replay_dir: {json.dumps(str(workdir / 'replay'))}\n"
    )
    try:
        with captured_output() as printed:
            return render(template_dir, answers, workdir / name, config_file=str(config))
    except UserError as error:
        raise UserError(f"{error}\n{''.join(printed).rstrip()}") from None
