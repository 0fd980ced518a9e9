"""A seeded, realistic stand-in for the NYC taxi sample, used where /databricks-datasets is absent.

Same columns and types as `/databricks-datasets/nyctaxi-with-zipcodes/subsampled`. Trips follow the
daily rhythm of the city; destinations are more likely near the pickup; speed depends on the hour,
the day, the area and the weather of the day; fares follow the 2016 NYC meter (initial charge, a
rate per distance while moving, a rate per minute in slow traffic, surcharges, the JFK flat fare).
"""

import argparse
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from . import settings
from .platform.errors import exit_on_user_error
from .platform.runtime import Runtime, get_runtime

COLUMNS = [
    "tpep_pickup_datetime",
    "tpep_dropoff_datetime",
    "trip_distance",
    "fare_amount",
    "pickup_zip",
    "dropoff_zip",
]
START = datetime(2016, 1, 4)  # a Monday
DAYS = 56

# zip: (latitude, longitude, share of pickups, area); areas: core Manhattan, other, airport
ZONES = {
    10001: (40.750, -73.997, 6.0, "core"),
    10003: (40.732, -73.989, 6.0, "core"),
    10011: (40.742, -74.000, 5.0, "core"),
    10012: (40.726, -73.998, 3.5, "core"),
    10013: (40.720, -74.005, 3.5, "core"),
    10014: (40.734, -74.006, 3.5, "core"),
    10016: (40.745, -73.978, 5.5, "core"),
    10017: (40.752, -73.973, 5.0, "core"),
    10018: (40.755, -73.993, 4.0, "core"),
    10019: (40.766, -73.986, 6.0, "core"),
    10021: (40.769, -73.959, 4.0, "core"),
    10022: (40.758, -73.968, 5.5, "core"),
    10023: (40.776, -73.983, 4.0, "core"),
    10024: (40.790, -73.975, 3.0, "core"),
    10028: (40.776, -73.953, 3.0, "core"),
    10036: (40.759, -73.990, 6.0, "core"),
    10038: (40.709, -74.002, 2.0, "core"),
    10065: (40.765, -73.963, 3.5, "core"),
    10004: (40.703, -74.013, 1.5, "core"),
    10025: (40.799, -73.967, 2.0, "other"),
    10027: (40.812, -73.953, 1.0, "other"),
    10128: (40.781, -73.950, 2.0, "other"),
    10451: (40.820, -73.924, 0.4, "other"),
    11101: (40.747, -73.939, 0.8, "other"),
    11201: (40.694, -73.990, 1.2, "other"),
    11211: (40.712, -73.953, 1.2, "other"),
    11215: (40.667, -73.985, 0.6, "other"),
    11375: (40.721, -73.846, 0.3, "other"),
    11371: (40.774, -73.872, 2.0, "airport"),
    11430: (40.645, -73.785, 1.8, "airport"),
}
JFK = 11430

# Relative number of pickups in each hour of a weekday and of a weekend day.
WEEKDAY_HOURS = [3, 2, 1, 1, 1, 2, 5, 8, 9, 8, 7, 7, 7, 7, 7, 7, 7, 8, 10, 10, 9, 8, 7, 5]
WEEKEND_HOURS = [7, 6, 5, 3, 2, 1, 2, 3, 4, 5, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7]
# Typical speed (mph) in core Manhattan, by hour of a weekday.
CORE_MPH = [17, 18, 19, 19, 19, 17, 13, 10, 8, 8, 9, 9, 9, 9, 9, 9, 8, 8, 9, 10, 11, 12, 14, 15]


def generate_trips(
    trips: int = settings.SAMPLE_TRIPS, seed: int = settings.SAMPLE_SEED
) -> pd.DataFrame:
    """`trips` taxi trips over the eight weeks from Monday 4 January 2016; same seed, same rows."""
    rng = np.random.default_rng(seed)
    zips = np.array(list(ZONES))
    lat, lon, share, area = (np.array(values) for values in zip(*ZONES.values(), strict=True))

    # When: a day (weekends a little quieter), then an hour following that day's rhythm.
    weekend_days = np.array([(START + timedelta(days=d)).weekday() >= 5 for d in range(DAYS)])
    day_weight = np.where(weekend_days, 0.9, 1.0)
    day = rng.choice(DAYS, size=trips, p=day_weight / day_weight.sum())
    weekend = weekend_days[day]
    hour = np.where(
        weekend,
        rng.choice(24, size=trips, p=_normalise(WEEKEND_HOURS)),
        rng.choice(24, size=trips, p=_normalise(WEEKDAY_HOURS)),
    )
    seconds = rng.integers(0, 3600, size=trips)
    pickup = (
        np.datetime64(START)
        + day.astype("timedelta64[D]")
        + hour.astype("timedelta64[h]")
        + seconds.astype("timedelta64[s]")
    )

    # Where: pickups by the share of each zip; destinations more likely near the pickup.
    origin = rng.choice(len(zips), size=trips, p=share / share.sum())
    miles_between = _miles(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    attraction = share[None, :] * np.exp(-miles_between / 3.0)
    attraction[:, area == "airport"] += 0.08 * share.sum() / len(zips)
    attraction /= attraction.sum(axis=1, keepdims=True)
    destination = np.array([rng.choice(len(zips), p=attraction[o]) for o in origin])

    # How far: the straight line stretched by the street grid; short hops inside one zip.
    straight = miles_between[origin, destination]
    detour = rng.uniform(1.2, 1.45, size=trips)
    within_zip = rng.gamma(2.0, 0.45, size=trips) + 0.2
    across = straight * detour + rng.gamma(1.5, 0.2, size=trips)
    distance = np.where(origin == destination, within_zip, across)
    distance = np.round(np.maximum(distance, 0.1), 2)

    # How fast: rush hours are slow, outer areas and weekends faster, and each day has its weather.
    weather = rng.lognormal(0.0, 0.12, size=DAYS)[day]
    speed = np.array(CORE_MPH, dtype=float)[hour] * np.where(weekend, 1.2, 1.0) * weather
    outside_core = (area[origin] != "core") | (area[destination] != "core")
    speed *= np.where(outside_core, 1.35, 1.0) * rng.lognormal(0.0, 0.15, size=trips)
    minutes = distance / speed * 60.0 + rng.uniform(0.5, 2.5, size=trips)

    # What it costs: the 2016 meter.
    slow_share = np.clip(1.1 - speed / 15.0, 0.05, 0.8)
    metered = 2.5 + 2.5 * distance * (1 - slow_share) + 0.5 * minutes * slow_share
    night = (hour >= 20) | (hour < 6)
    weekday_peak = ~weekend & (hour >= 16) & (hour < 20)
    metered += 0.5 * night + 1.0 * weekday_peak
    jfk_manhattan = ((zips[origin] == JFK) & (area[destination] == "core")) | (
        (zips[destination] == JFK) & (area[origin] == "core")
    )
    fare = np.where(jfk_manhattan, 52.0, np.round(metered * 2) / 2)

    trips_frame = pd.DataFrame(
        {
            "tpep_pickup_datetime": pickup,
            "tpep_dropoff_datetime": pickup + np.round(minutes * 60).astype("timedelta64[s]"),
            "trip_distance": distance,
            "fare_amount": fare,
            "pickup_zip": zips[origin].astype("int32"),
            "dropoff_zip": zips[destination].astype("int32"),
        }
    )
    return trips_frame.sort_values("tpep_pickup_datetime", ignore_index=True)


def write_sample(
    runtime: Runtime,
    name: str = settings.TAXI_SAMPLE,
    trips: int = settings.SAMPLE_TRIPS,
    seed: int = settings.SAMPLE_SEED,
) -> None:
    """Write the generated trips to a local table, replacing what was there."""
    frame = generate_trips(trips, seed)
    runtime.tables.overwrite(name, runtime.spark.createDataFrame(frame))
    print(f"Wrote {trips:,} generated taxi trips (seed {seed}) to {name} in {runtime.local_dir}.")


def _normalise(weights: list[float]) -> np.ndarray:
    array = np.asarray(weights, dtype=float)
    return array / array.sum()


def _miles(lat1, lon1, lat2, lon2):
    """Great-circle distance in miles."""
    lat1, lon1, lat2, lon2 = (np.radians(value) for value in (lat1, lon1, lat2, lon2))
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 3958.8 * 2 * np.arcsin(np.sqrt(a))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the generated local taxi sample.")
    parser.add_argument("--table", default=settings.TAXI_SAMPLE, help="table name or path to write")
    parser.add_argument("--trips", type=int, default=settings.SAMPLE_TRIPS, help="number of trips")
    parser.add_argument("--seed", type=int, default=settings.SAMPLE_SEED, help="random seed")
    args = parser.parse_args(argv)
    with exit_on_user_error():
        write_sample(get_runtime(), args.table, args.trips, args.seed)


if __name__ == "__main__":
    main()
