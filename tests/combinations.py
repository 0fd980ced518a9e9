"""The answer combinations the template supports, chosen to cover every choice and every pair
of choices that interact, plus text answers that stress quoting and escaping."""

import json
from itertools import product
from pathlib import Path

TEMPLATE_FILE = Path(__file__).resolve().parents[1] / "cookiecutter.json"
# The answers with a fixed set of values, as the template defines them.
CHOICES = json.loads(TEMPLATE_FILE.read_text(encoding="utf-8"))["_choices"]
# The combinations are of whole projects with their CI/CD, the default setup mode; the other
# modes leave parts of such a project out (tests/test_setup_modes.py).
PROJECT_CHOICES = {name: values for name, values in CHOICES.items() if name != "setup_mode"}

# Pairs of answers whose values change the same generated files.
INTERACTING = [
    ("cloud", "compute"),
    ("cicd_platform", "cloud"),
    ("include_monitoring", "compute"),
    ("include_serving", "include_monitoring"),
]

# Valid but unusual text answers: quotes, colons, hashes and backslashes must survive into
# YAML, TOML and Python unharmed, and non-default names must be honoured everywhere.
UNUSUAL_TEXT = {
    "project_name": "Taxi Fares: O'Brien's \"Model\" #2",
    "project_slug": "taxi-fares",
    "package_name": "taxi_fares",
    "description": 'Predicts fares: "fast" & cheap # not a comment \\ really',
    "author_name": "Zoë O'Brien <zoe@example.com>",
    "databricks_dev_workspace_host": "https://dev.example.com",
    "default_branch": "trunk",
    "release_branch": "release/v1",
    "read_user_group": "data scientists",
    "model_read_group": "ml-consumers",
    "dev_catalog": "ml_dev",
    "test_catalog": "ml_test",
    "staging_catalog": "ml_staging",
    "prod_catalog": "ml_prod",
    "schema_name": "taxi",
}


def required_pairs() -> set[tuple[tuple[str, str], tuple[str, str]]]:
    return {
        ((first, a), (second, b))
        for first, second in INTERACTING
        for a, b in product(PROJECT_CHOICES[first], PROJECT_CHOICES[second])
    }


def pairs_of(combination: dict) -> set:
    return {
        ((first, combination[first]), (second, combination[second]))
        for first, second in INTERACTING
    }


def supported_combinations() -> list[dict]:
    """A small, deterministic set of choice combinations covering every required pair."""
    candidates = [
        dict(zip(PROJECT_CHOICES, values, strict=True))
        for values in product(*PROJECT_CHOICES.values())
    ]
    uncovered, chosen = required_pairs(), []
    while uncovered:
        best = max(candidates, key=lambda candidate: len(pairs_of(candidate) & uncovered))
        chosen.append(dict(best))
        uncovered -= pairs_of(best)
    # Each CI/CD platform is baked with the default text answers and with the unusual ones.
    seen = []
    for combination in chosen:
        if combination["cicd_platform"] in seen:
            combination.update(UNUSUAL_TEXT)
        seen.append(combination["cicd_platform"])
    return chosen


def combination_id(combination: dict) -> str:
    monitoring = "monitoring" if combination["include_monitoring"] == "yes" else "no-monitoring"
    serving = "serving" if combination["include_serving"] == "yes" else "no-serving"
    text = "unusual-text" if "project_slug" in combination else "default-text"
    parts = [combination["cloud"], combination["cicd_platform"], combination["compute"]]
    return "-".join([*parts, monitoring, serving, text])


COMBINATIONS = supported_combinations()
