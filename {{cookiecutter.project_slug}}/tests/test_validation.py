"""Validation: the thresholds a new version must meet, alone and against the champion."""

import pytest

from {{ cookiecutter.package_name }}.settings import Threshold
from {{ cookiecutter.package_name }}.validation import check_thresholds

THRESHOLDS = (
    Threshold("root_mean_squared_error", False, limit=5.0, max_relative_worsening=0.05),
    Threshold("r2_score", True, limit=0.7, max_relative_worsening=0.02),
)
GOOD = {"root_mean_squared_error": 2.0, "r2_score": 0.9}


@pytest.mark.parametrize(
    ("candidate", "champion", "failures"),
    [
        pytest.param(GOOD, None, [], id="first model within the limits"),
        pytest.param(
            GOOD | {"root_mean_squared_error": 6.0},
            None,
            ["root_mean_squared_error 6 is above the maximum 5"],
            id="error above its maximum",
        ),
        pytest.param(
            GOOD | {"r2_score": 0.5},
            None,
            ["r2_score 0.5 is below the minimum 0.7"],
            id="r2 below its minimum",
        ),
        pytest.param(GOOD, GOOD, [], id="as good as the champion"),
        pytest.param(
            GOOD,
            GOOD | {"root_mean_squared_error": 1.96},
            [],
            id="2 percent worse than the champion is tolerated",
        ),
        pytest.param(
            GOOD,
            GOOD | {"root_mean_squared_error": 1.5},
            [
                "root_mean_squared_error 2 is 33.3% worse than the champion's 1.5 "
                "(at most 5% allowed)"
            ],
            id="much worse error than the champion",
        ),
        pytest.param(
            GOOD,
            GOOD | {"r2_score": 0.95},
            ["r2_score 0.9 is 5.3% worse than the champion's 0.95 (at most 2% allowed)"],
            id="much worse r2 than the champion",
        ),
        pytest.param(
            GOOD,
            {"root_mean_squared_error": 4.0, "r2_score": 0.8},
            [],
            id="better than the champion",
        ),
    ],
)
def test_check_thresholds(candidate, champion, failures):
    assert check_thresholds(candidate, champion, THRESHOLDS) == failures
