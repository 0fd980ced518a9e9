"""Command-line options of the steps, with the defaults of `settings`, and their entry points."""

import argparse
from collections.abc import Callable

from . import settings
from .platform.entry_points import Main, Option, Step, step_entry_point


def entry_point(description: str, *options: Option) -> Callable[[Step], Main]:
    """Make `step(args)` a step's `main(argv=None)`: every step takes --catalog and --schema."""
    return step_entry_point(description, add_catalog_and_schema, *options)


def add_catalog_and_schema(parser: argparse.ArgumentParser) -> None:
    """Where the tables and the model live."""
    parser.add_argument("--catalog", default=settings.CATALOG, help="Unity Catalog catalog")
    parser.add_argument("--schema", default=settings.SCHEMA, help="schema inside the catalog")


def add_input_table(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input-table",
        default=settings.INPUT_TABLE,
        help="raw taxi trips: catalog.schema.table or a path (default: %(default)s)",
    )


def add_model_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-name",
        default=settings.MODEL_NAME,
        help="short model name, registered as catalog.schema.name (default: %(default)s)",
    )


def add_model_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-version",
        default="",
        help="model version; empty: the version the train task handed over",
    )


def add_experiment_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--experiment-name", default=settings.EXPERIMENT_NAME, help="MLflow experiment"
    )


def add_predictions_table(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--predictions-table",
        default=settings.PREDICTIONS_TABLE,
        help="predictions table, inside catalog.schema (default: %(default)s)",
    )
{%- if cookiecutter.include_serving == "yes" %}


def add_endpoint_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint-name",
        default=settings.ENDPOINT_NAME,
        help="serving endpoint of @champion (default: %(default)s)",
    )


def add_serving_options(parser: argparse.ArgumentParser) -> None:
    """The endpoint that serves the champion; checked by serving.serving_options."""
    add_endpoint_name(parser)
    parser.add_argument(
        "--workload-size",
        default=settings.ENDPOINT_WORKLOAD_SIZE,
        help="Small, Medium or Large (default: %(default)s)",
    )
    parser.add_argument(
        "--scale-to-zero",
        default=str(settings.ENDPOINT_SCALE_TO_ZERO).lower(),
        help="true or false: whether an idle endpoint scales to zero (default: %(default)s)",
    )
    parser.add_argument(
        "--traffic-split",
        default=settings.TRAFFIC_SPLIT,
        help="share of requests for @challenger, as challenger=<percent> (default: %(default)s)",
    )
{%- endif %}
