"""Validation: the thresholds a version must meet, its PENDING tag, and the bootstrap verdict."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression

from {{ cookiecutter.package_name }} import deployment, settings, validation
from {{ cookiecutter.package_name }}.dataset import FEATURE_COLUMNS, LABEL
from {{ cookiecutter.package_name }}.platform.errors import UserError
from {{ cookiecutter.package_name }}.platform.runtime import use_mlflow
from {{ cookiecutter.package_name }}.registry import (
    CHALLENGER,
    CHAMPION,
    VALIDATION_STATUS_TAG,
    ModelRef,
    get_version,
)
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


# The validation step itself, in a fresh local store, on a hold-out made up here: two versions of
# a linear model registered as train-model registers them (a run with holdout_start).
EXPERIMENT = "/Shared/validation-test"
MODEL_REF = ModelRef("main", "validation_test", "fare")


def holdout(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({column: rng.random(2_000) for column in FEATURE_COLUMNS})
    frame["trip_distance"] = rng.gamma(2.0, 1.5, len(frame))
    frame[LABEL] = 3 + 2.5 * frame["trip_distance"] + rng.normal(0, 1.0, len(frame))
    return frame


def register_version(seed: int) -> str:
    """A new version fitted on its own draw of trips: as good as any other version."""
    trips = holdout(seed)
    fitted = LinearRegression().fit(trips[FEATURE_COLUMNS], trips[LABEL])
    with mlflow.start_run(run_name="train"):
        mlflow.log_param("holdout_start", "2016-02-01T00:00:00")
        info = mlflow.sklearn.log_model(
            fitted,
            name="model",
            registered_model_name=MODEL_REF.full_name,
            serialization_format="cloudpickle",
            pip_requirements=[],
        )
    return str(info.registered_model_version)


def status_of(version: str) -> str | None:
    return get_version(MlflowClient(), MODEL_REF.full_name, version).tags.get(VALIDATION_STATUS_TAG)


@pytest.fixture
def registry(fresh_store, monkeypatch):
    """A fresh registry, and the made-up hold-out wherever validation reads its trips."""
    use_mlflow(EXPERIMENT)
    monkeypatch.setattr(validation, "holdout_trips", lambda *args: holdout(99))
    return MlflowClient()


def run_validation(version: str) -> validation.ValidationResult:
    return validation.validate(None, "trips", MODEL_REF, version, "enabled", EXPERIMENT)


def test_a_version_is_pending_while_validated_and_stays_pending_when_it_crashes(
    registry, monkeypatch
):
    version = register_version(1)
    seen = []

    def crash(*args, **kwargs):
        seen.append(status_of(version))
        raise RuntimeError("the evaluation crashed")

    monkeypatch.setattr(validation, "evaluate", crash)
    with pytest.raises(RuntimeError, match="the evaluation crashed"):
        run_validation(version)
    assert seen == ["PENDING"]  # tagged before the evaluation started
    assert status_of(version) == "PENDING"
    # Even if it was @challenger from an earlier pass, a PENDING version is not promoted.
    registry.set_registered_model_alias(MODEL_REF.full_name, CHALLENGER, version)
    result = deployment.deploy(MODEL_REF, version)
    assert not result.decision.promote
    assert "status PENDING" in result.decision.reason
    assert result.champion is None


def test_the_verdict_against_the_champion_comes_from_the_bootstrap_and_is_recorded(registry):
    name = MODEL_REF.full_name
    champion = register_version(1)
    registry.set_registered_model_alias(name, CHAMPION, champion)
    version = register_version(2)

    result = run_validation(version)

    assert result.status == "PASSED", result.failures
    assert result.comparison is not None
    assert result.comparison.rule == settings.PROMOTION_RULE
    tags = get_version(registry, name, version).tags
    assert tags[VALIDATION_STATUS_TAG] == "PASSED"
    assert tags["validation_rule"] == settings.PROMOTION_RULE
    for threshold in settings.VALIDATION_THRESHOLDS:
        low, high = (
            float(end)
            for end in tags[f"validation_{threshold.metric}_worsening_interval"]
            .strip("[]")
            .split(",")
        )
        assert low < high
        assert 0 <= float(tags[f"validation_{threshold.metric}_win_rate"]) <= 1
    run = registry.search_runs(
        [mlflow.get_experiment_by_name(EXPERIMENT).experiment_id],
        filter_string=f"attributes.run_name = 'validate version {version}'",
    )[0]
    assert run.data.params["promotion_rule"] == settings.PROMOTION_RULE
    assert run.data.params["bootstrap_resamples"] == str(settings.BOOTSTRAP_RESAMPLES)
    assert "bootstrap_root_mean_squared_error_win_rate" in run.data.metrics
    assert "bootstrap_mean_absolute_error_worsening_high" in run.data.metrics
    described = validation.describe(result)
    assert f"Decided by {settings.PROMOTION_RULE}" in described
    assert str(registry.get_model_version_by_alias(name, CHALLENGER).version) == version


def test_a_bad_promotion_rule_is_named_with_its_fix(registry, monkeypatch):
    version = register_version(1)
    monkeypatch.setattr(settings, "PROMOTION_RULE", "best_of_three")
    with pytest.raises(UserError, match="settings.PROMOTION_RULE 'best_of_three' is not one of"):
        run_validation(version)
