"""The project's decisions in one place: names, local defaults, features and thresholds.

The bundle passes catalog, schema and table names explicitly on Databricks, so the defaults here are
those of the local target. The model's class and parameters are in model.py.
"""

from dataclasses import dataclass
from datetime import timedelta

PROJECT_SLUG = {{ cookiecutter.project_slug | tojson }}
CATALOG = {{ cookiecutter.dev_catalog | tojson }}
SCHEMA = {{ cookiecutter.schema_name | tojson }}
# Short name; registered as <catalog>.<schema>.<MODEL_NAME>.
MODEL_NAME = {{ cookiecutter.__model_name | tojson }}
EXPERIMENT_NAME = {{ cookiecutter.__experiment_name | tojson }}

# The public NYC taxi sample of every Databricks workspace. Locally that path holds a generated
# stand-in (sample_data.py) of SAMPLE_TRIPS trips, so the default input works everywhere.
TAXI_SAMPLE = "/databricks-datasets/nyctaxi-with-zipcodes/subsampled"
SAMPLE_TRIPS = 30_000
SAMPLE_SEED = 7

INPUT_TABLE = TAXI_SAMPLE
PREDICTIONS_TABLE = "fare_predictions"

# Features ----------------------------------------------------------------------------------------

# Feature column -> Spark SQL expression over what is known of a trip when it is booked
# (dataset.BOOKING_COLUMNS).
TRIP_FEATURES = {
    "trip_distance": "trip_distance",
    "pickup_hour": "hour(tpep_pickup_datetime)",
    "pickup_weekday": "dayofweek(tpep_pickup_datetime)",
}


@dataclass(frozen=True)
class FeatureTable:
    """Recent activity per key: aggregates of the trips that ended in each time window.

    Rows are keyed by `key` and the end of their window. Each trip gets the latest row of its key
    stamped no later than its pickup time, unless that row is older than `lookback`.
    """

    table: str  # short name, inside <catalog>.<schema>
    key: str  # a trip column
    window: timedelta
    columns: dict[str, str]  # feature column -> Spark SQL aggregate over the window's trips
    slide: timedelta | None = None  # how often a window starts; None: one after the other

    @property
    def lookback(self) -> timedelta:
        """A newer window replaces a row after one slide; an older row means no trips since."""
        return self.slide or self.window


PICKUP_FEATURES = FeatureTable(
    table="trip_pickup_features",
    key="pickup_zip",
    window=timedelta(hours=1),
    slide=timedelta(minutes=15),
    columns={
        "pickup_trip_count_1h": "count(*)",
        "pickup_fare_per_mile_1h": "sum(fare_amount) / sum(trip_distance)",
    },
)
DROPOFF_FEATURES = FeatureTable(
    table="trip_dropoff_features",
    key="dropoff_zip",
    window=timedelta(minutes=30),
    columns={
        "dropoff_trip_count_30m": "count(*)",
        "dropoff_mean_speed_mph_30m": (
            "sum(trip_distance) / sum("
            "(unix_timestamp(tpep_dropoff_datetime) - unix_timestamp(tpep_pickup_datetime)) / 3600)"
        ),
    },
)
FEATURE_TABLES = (PICKUP_FEATURES, DROPOFF_FEATURES)

# Training: the latest HOLDOUT_FRACTION of the trips (by pickup time) is held out for evaluation.
HOLDOUT_FRACTION = 0.2

# Validation --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Threshold:
    """A metric the candidate must meet, alone and compared with the current champion."""

    metric: str
    higher_is_better: bool
    limit: float  # the candidate's value must be at least (or at most) this
    max_relative_worsening: float  # how much worse than the champion it may be, as a fraction


# metric, higher is better, limit, largest worsening relative to the champion
# The limits reject a model that learned little (a constant fare has r2 0); the champion
# comparison is the finer check.
VALIDATION_THRESHOLDS = (
    Threshold("root_mean_squared_error", False, limit=8.0, max_relative_worsening=0.05),
    Threshold("mean_absolute_error", False, limit=4.0, max_relative_worsening=0.05),
    Threshold("r2_score", True, limit=0.6, max_relative_worsening=0.02),
)
# Against the champion, both versions are scored on the same bootstrap resamples of the hold-out
# (comparison.py) and PROMOTION_RULE decides from the distribution of their difference:
# - "non_inferiority": promote when, with BOOTSTRAP_CONFIDENCE, the challenger is at most the
#   threshold's max_relative_worsening worse than the champion on every metric. A challenger as
#   good as the champion is promoted.
# - "win_rate": promote when the challenger is better on at least BOOTSTRAP_MIN_WIN_RATE of the
#   resamples on every metric (the rule of Databricks' MLOps guide, at 90%). Only a clearly better
#   challenger is promoted; one as good as the champion is refused.
PROMOTION_RULE = "non_inferiority"
BOOTSTRAP_RESAMPLES = 1_000
BOOTSTRAP_SEED = 2024
BOOTSTRAP_CONFIDENCE = 0.95
BOOTSTRAP_MIN_WIN_RATE = 0.9
# Slices: the hold-out is also cut into bands of these model-input columns (column -> band edges;
# a band holds low <= value < high). On any band of at least SLICE_MIN_ROWS trips, a challenger
# that is, with BOOTSTRAP_CONFIDENCE, more than SLICE_MAX_RELATIVE_WORSENING worse than the
# champion on a threshold metric fails, even when it passes on the whole hold-out.
SLICES = {
    "pickup_hour": (0, 6, 10, 16, 20, 24),
    "trip_distance": (0, 1, 3, 10, float("inf")),
}
SLICE_MIN_ROWS = 100
SLICE_MAX_RELATIVE_WORSENING = 0.2
# Compliance: a version passes only with a signature, an input example, a description and these
# tags, each written by train-model. It also records `git_commit` when it runs in a git checkout;
# add "git_commit" here once training always does (for example from CI).
REQUIRED_VERSION_TAGS = ("training_table", "training_period", "training_data_fingerprint")
{%- if cookiecutter.include_monitoring == "yes" %}

# Monitoring --------------------------------------------------------------------------------------

# Predictions are judged per window of pickup time, one of Databricks' monitor granularities
# ("1 hour", "1 day", "1 week", "1 month", "1 year"); a window with fewer than MONITORING_MIN_ROWS
# trips is reported but not judged. On Databricks the monitors also profile every day
# (MONITOR_GRANULARITIES), for the dashboards; the judged granularity is always among them.
MONITORING_GRANULARITY = "1 week"
MONITOR_GRANULARITIES = ("1 day", MONITORING_GRANULARITY)
MONITORING_MIN_ROWS = 100
# How far each feature may drift from the trips the model was trained on.
DRIFT_THRESHOLDS = {"psi": 0.2, "js_distance": 0.15}
# How much worse than at validation the model's RMSE and MAE may be in a window, as a fraction.
QUALITY_TOLERANCE = 0.25
# Retraining is signalled when a metric broke its threshold in at least ALERT_MIN_VIOLATIONS of
# the last ALERT_WINDOWS judged windows, the latest included.
ALERT_WINDOWS = 4
ALERT_MIN_VIOLATIONS = 2
{%- endif %}
{%- if cookiecutter.include_serving == "yes" %}

# Serving -----------------------------------------------------------------------------------------

# The endpoint that serves @champion. The bundle names it per target (databricks.yml, variable
# endpoint_name); this is its name for the local target.
ENDPOINT_NAME = f"local-{PROJECT_SLUG}"
# Concurrency of each served model (Small, Medium or Large), and whether an idle endpoint scales
# to zero: cheaper, but the first request after a pause waits for it to start again.
ENDPOINT_WORKLOAD_SIZE = "Small"
ENDPOINT_SCALE_TO_ZERO = True
# Share of requests answered by @challenger when it is another version than @champion, to
# compare the two online: challenger=<percent>; challenger=0 serves @champion alone.
TRAFFIC_SPLIT = "challenger=0"
# How long deployment waits for the endpoint to take a new config (Databricks builds a container).
ENDPOINT_UPDATE_TIMEOUT = timedelta(minutes=30)
{%- endif %}
