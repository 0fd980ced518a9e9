"""Deployment: when a version may become the champion."""

import pytest

from {{ cookiecutter.package_name }}.deployment import decide


@pytest.mark.parametrize(
    ("version", "status", "challenger", "champion", "promote", "reason"),
    [
        pytest.param("2", "PASSED", "2", "1", True, "passed validation", id="validated challenger"),
        pytest.param("1", "PASSED", "1", None, True, "passed validation", id="first champion"),
        pytest.param("2", "PASSED", "2", "2", False, "already @champion", id="already champion"),
        pytest.param("3", "FAILED", "2", "2", False, "status FAILED", id="failed validation"),
        pytest.param("3", "SKIPPED", "2", "2", False, "status SKIPPED", id="validation skipped"),
        pytest.param(
            "2", "PENDING", "2", "1", False, "status PENDING", id="validation running or crashed"
        ),
        pytest.param("3", None, "2", "2", False, "status none", id="never validated"),
        pytest.param("2", "PASSED", "3", "1", False, "no longer @challenger", id="superseded"),
    ],
)
def test_only_a_validated_challenger_is_promoted(
    version, status, challenger, champion, promote, reason
):
    decision = decide(version, status, challenger, champion)
    assert decision.promote is promote
    assert reason in decision.reason
