"""The generated NYC taxi sample: same columns as the real one, seeded, believable."""

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.dataset import TRIP_COLUMNS
from {{ cookiecutter.package_name }}.sample_data import JFK, ZONES, generate_trips


@pytest.fixture(scope="module")
def trips() -> pd.DataFrame:
    return generate_trips(5_000, seed=1)


def test_it_has_the_columns_and_size_asked_for(trips):
    assert list(trips.columns) == TRIP_COLUMNS
    assert len(trips) == 5_000
    assert trips.notna().all().all()


def test_the_same_seed_gives_the_same_trips_and_another_seed_others(trips):
    pd.testing.assert_frame_equal(trips, generate_trips(5_000, seed=1))
    assert not trips.equals(generate_trips(5_000, seed=2))


def test_trips_cover_eight_weeks_and_known_zip_codes(trips):
    assert trips.tpep_pickup_datetime.min() >= pd.Timestamp("2016-01-04")
    assert trips.tpep_pickup_datetime.max() < pd.Timestamp("2016-02-29")
    assert set(trips.pickup_zip) | set(trips.dropoff_zip) <= set(ZONES)


def test_every_trip_ends_after_it_starts_and_has_a_distance(trips):
    assert (trips.tpep_dropoff_datetime > trips.tpep_pickup_datetime).all()
    assert (trips.trip_distance > 0).all()


def test_fares_follow_the_meter(trips):
    metered = trips[(trips.pickup_zip != JFK) & (trips.dropoff_zip != JFK)]
    assert np.corrcoef(metered.trip_distance, metered.fare_amount)[0, 1] > 0.9
    assert (metered.fare_amount >= 2.5).all()
    assert (trips.fare_amount * 2 % 1 == 0).all()  # whole half-dollars


def test_rush_hour_is_slower_than_the_night(trips):
    hours = trips.tpep_pickup_datetime.dt.hour
    minutes = (trips.tpep_dropoff_datetime - trips.tpep_pickup_datetime).dt.total_seconds() / 60
    speed = trips.trip_distance / (minutes / 60)
    assert speed[hours.isin([8, 9, 17, 18])].median() < speed[hours.isin([1, 2, 3, 4])].median()
