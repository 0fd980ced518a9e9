"""A step's entry point: the options it takes, one line for a user error, a traceback for a bug."""

import pytest

from {{ cookiecutter.package_name }} import cli, settings
from {{ cookiecutter.package_name }}.platform.entry_points import step_entry_point
from {{ cookiecutter.package_name }}.platform.errors import UserError


def test_a_step_takes_the_catalog_and_schema_then_its_own_options():
    received = []

    @cli.entry_point("A step.", cli.add_model_name)
    def main(args):
        received.append(vars(args))

    main(["--schema=elsewhere", "--model-name=tips"])
    assert received == [{"catalog": settings.CATALOG, "schema": "elsewhere", "model_name": "tips"}]


def test_a_user_error_is_one_line_and_exit_status_1(capsys):
    @step_entry_point("A step.")
    def main(args):
        raise UserError("Run the training job first.")

    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 1
    assert capsys.readouterr().err == "error: Run the training job first.\n"


def test_an_unknown_option_is_argparses_message_and_exit_status_2(capsys):
    @step_entry_point("A step.")
    def main(args):
        raise AssertionError("the step must not run")

    with pytest.raises(SystemExit) as exited:
        main(["--catalgo=main"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --catalgo=main" in capsys.readouterr().err


def test_a_bug_keeps_its_traceback():
    @step_entry_point("A step.")
    def main(args):
        raise KeyError("fare_amount")

    with pytest.raises(KeyError, match="fare_amount"):
        main([])
