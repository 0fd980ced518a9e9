"""Settings shared by every step: names, local defaults, validation thresholds, model parameters.

The bundle passes catalog, schema and table names explicitly on Databricks, so the defaults here are
those of the local target.
"""

from dataclasses import dataclass

PROJECT_SLUG = {{ cookiecutter.project_slug | tojson }}
CATALOG = {{ cookiecutter.dev_catalog | tojson }}
SCHEMA = {{ cookiecutter.schema_name | tojson }}
# Short name; registered as <catalog>.<schema>.<MODEL_NAME>.
MODEL_NAME = {{ cookiecutter.__model_name | tojson }}
EXPERIMENT_NAME = {{ cookiecutter.__experiment_name | tojson }}

# The public NYC taxi sample of every Databricks workspace. Locally the same path holds a generated
# sample (see sample_data.py), so the default works everywhere.
INPUT_TABLE = "/databricks-datasets/nyctaxi-with-zipcodes/subsampled"
PICKUP_FEATURES_TABLE = "trip_pickup_features"
DROPOFF_FEATURES_TABLE = "trip_dropoff_features"
PREDICTIONS_TABLE = "fare_predictions"

# Local sample: size and seed of the generated trips.
SAMPLE_TRIPS = 30_000
SAMPLE_SEED = 7

# Training: the latest HOLDOUT_FRACTION of the trips (by pickup time) is held out for evaluation.
HOLDOUT_FRACTION = 0.2
MODEL_PARAMS = {
    "max_iter": 200,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    "l2_regularization": 0.1,
    "random_state": 42,
}


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
