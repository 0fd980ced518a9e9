"""Command-line options shared by the entry points."""

import argparse

from . import settings


def parser(description: str) -> argparse.ArgumentParser:
    """A parser with the options every step takes: where the tables and the model live."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--catalog", default=settings.CATALOG, help="Unity Catalog catalog")
    parser.add_argument("--schema", default=settings.SCHEMA, help="schema inside the catalog")
    return parser


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
