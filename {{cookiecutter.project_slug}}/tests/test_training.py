"""Training: the split by time, the model, its metrics and what loading it needs."""

from importlib.metadata import packages_distributions, version

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.dataset import FEATURE_COLUMNS, LABEL, PICKUP_TIME
from {{ cookiecutter.package_name }}.model import PARAMS, build_model, pip_requirements
from {{ cookiecutter.package_name }}.platform.errors import UserError
from {{ cookiecutter.package_name }}.settings import REQUIRED_VERSION_TAGS, TRIP_FEATURES
from {{ cookiecutter.package_name }}.training import (
    data_fingerprint,
    fit_model,
    provenance_tags,
    regression_metrics,
    split_by_time,
    version_description,
)


def frame(rows: int) -> pd.DataFrame:
    times = pd.date_range("2016-01-04", periods=rows, freq="h")
    data = {PICKUP_TIME: times, LABEL: [float(i % 7) for i in range(rows)]}
    data |= {column: [float(i % 5) for i in range(rows)] for column in FEATURE_COLUMNS}
    return pd.DataFrame(data).sample(frac=1, random_state=0)  # order must not matter


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_the_latest_trips_are_held_out(fraction):
    train, holdout, cutoff = split_by_time(frame(1_000), fraction)
    assert train[PICKUP_TIME].max() < cutoff <= holdout[PICKUP_TIME].min()
    assert len(holdout) == pytest.approx(1_000 * fraction, abs=2)
    assert len(train) + len(holdout) == 1_000


def test_too_few_trips_to_train_on_is_a_clear_error():
    with pytest.raises(UserError, match="Only 20 usable trips in the input"):
        split_by_time(frame(20))


def test_the_model_learns_what_the_features_explain():
    data = frame(2_000)
    data[LABEL] = 2.5 + 2.5 * data[FEATURE_COLUMNS[0]] + 0.1 * data[FEATURE_COLUMNS[1]]
    train, holdout, _ = split_by_time(data)
    model = fit_model(train, PARAMS)
    metrics = regression_metrics(holdout[LABEL], model.predict(holdout[FEATURE_COLUMNS]))
    assert metrics["r2_score"] > 0.95
    assert metrics["root_mean_squared_error"] < 0.5
    assert set(metrics) == {"root_mean_squared_error", "mean_absolute_error", "r2_score"}


def test_the_model_takes_trips_whose_area_activity_is_unknown():
    """A trip in an area without recent trips has no feature table values: they are missing."""
    data = frame(1_000)
    activity = [column for column in FEATURE_COLUMNS if column not in TRIP_FEATURES]
    data.loc[data.index[::3], activity] = np.nan
    model = fit_model(data, PARAMS)
    assert np.isfinite(model.predict(data[FEATURE_COLUMNS])).all()


def test_the_requirements_pin_what_loads_the_model_as_installed():
    model = build_model(PARAMS)
    package = type(model).__module__.partition(".")[0]
    distributions = ["mlflow", "cloudpickle", "pandas", "numpy", *packages_distributions()[package]]
    assert sorted(pip_requirements(model)) == sorted(
        {f"{name}=={version(name)}" for name in distributions}
    )


def test_the_provenance_tags_are_the_required_ones_and_fingerprint_the_data():
    trips = frame(500)
    train, _, cutoff = split_by_time(trips)
    tags = provenance_tags("main.raw.trips", train, cutoff)
    assert set(REQUIRED_VERSION_TAGS) <= set(tags)
    assert tags["training_table"] == "main.raw.trips"
    assert tags["training_period"] == f"2016-01-04T00:00:00 to {cutoff.isoformat()} (exclusive)"
    assert tags["training_rows"] == str(len(train))
    # The same rows in another order are the same data; one changed fare is not.
    assert data_fingerprint(train.sample(frac=1, random_state=1)) == data_fingerprint(train)
    changed = train.copy()
    changed.iloc[0, changed.columns.get_loc(LABEL)] += 1
    assert data_fingerprint(changed) != data_fingerprint(train)
    fitted = fit_model(train, PARAMS)
    description = version_description(fitted, tags, {"r2_score": 0.5})
    assert description.startswith(type(fitted).__name__)
    assert f"{len(train):,} trips of main.raw.trips" in description
