"""`mlops-stack new`: create a project from the template and record where it came from."""

import os
import sys
import tempfile
from pathlib import Path

from cookiecutter.config import get_user_config
from cookiecutter.exceptions import CookiecutterException
from cookiecutter.repository import expand_abbreviations

from mlops_stack.answers import settle
from mlops_stack.errors import UserError
from mlops_stack.origin import RECORD, Origin, write_origin
from mlops_stack.render import render
from mlops_stack.template import open_template


def user_config(config_file: str | None) -> dict:
    """Cookiecutter's settings: --config-file, else $COOKIECUTTER_CONFIG or ~/.cookiecutterrc."""
    source = config_file or os.environ.get("COOKIECUTTER_CONFIG") or "~/.cookiecutterrc"
    try:
        config = get_user_config(config_file=config_file)
    except CookiecutterException as error:
        raise UserError(f"cannot use the config file: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read the config file {source}: {error}") from None
    except TypeError:  # cookiecutter expands these two settings as paths
        raise UserError(
            f"cannot use the config file {source}: cookiecutters_dir and replay_dir must be "
            "folder paths, written as text"
        ) from None
    if config["default_context"] is None:  # "default_context:" with nothing under it
        config["default_context"] = {}
    if not isinstance(config["default_context"], dict):
        kind = type(config["default_context"]).__name__
        raise UserError(
            f"the config file {source}: default_context is a {kind}, not a mapping of answers: "
            "write one 'name: value' per line under it, e.g. 'default_context: {cloud: aws}'"
        )
    abbreviations = config["abbreviations"]
    if not isinstance(abbreviations, dict) or not all(
        isinstance(value, str) for value in abbreviations.values()
    ):
        raise UserError(
            f"the config file {source}: abbreviations is not a mapping of "
            "prefixes to URL patterns, e.g. 'abbreviations: {gh: \"https://github.com/{0}.git\"}'"
        )
    return config


def new(
    template: str,
    given: dict,
    *,
    output_dir: str = ".",
    no_input: bool = False,
    config_file: str | None = None,
    checkout: str | None = None,
    template_source: str | None = None,
) -> int:
    config = user_config(config_file)
    source = expand_abbreviations(template, config["abbreviations"])
    with tempfile.TemporaryDirectory(prefix="mlops-stack-") as work:
        found = open_template(source, Path(work))
        commit = found.commit(checkout or "HEAD")
        if found.has_uncommitted_changes():
            print(
                f"note: {source} has uncommitted changes; the project is made from its commit "
                f"{commit[:12]}, without them",
                file=sys.stderr,
            )
        # The committed files, not the working tree: the record then says exactly what was used.
        template_dir = found.snapshot(commit, Path(work) / found.name)
        # The template's hook prints its warnings itself when it renders the project.
        answers = settle(
            template_dir, given, config["default_context"], no_input, show_warnings=False
        )
        project_dir = render(template_dir, answers, Path(output_dir), config_file)
    origin = Origin(
        template=template_source or found.portable_source(project_dir),
        commit=commit,
        answers=answers,
        checkout=checkout,
        directory=found.directory,
    )
    write_origin(project_dir, origin)
    print(f"Recorded in {RECORD}: template {origin.template} at commit {commit[:12]}.")
    if found.is_local and not template_source:
        print(
            f"The template path is recorded relative to the project. If the project moves, pass "
            f"--template PATH_OR_URL to `mlops-stack update`, or set `template` in {RECORD}."
        )
    return 0
