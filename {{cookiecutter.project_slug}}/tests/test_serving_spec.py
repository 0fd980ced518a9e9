"""The serving endpoint's specification, and how the local platform keeps it.

The specification is the body Databricks' `POST /api/2.0/serving-endpoints` takes; the template's
own tests apply it through databricks-sdk to Databricks' fake workspace.
"""

import json
from datetime import timedelta

import pytest

from {{ cookiecutter.package_name }} import deployment, settings
from {{ cookiecutter.package_name }}.platform.endpoints import (
    CREATED,
    SERVING_DIR,
    UNCHANGED,
    UPDATED,
    LocalEndpoints,
    differing_parts,
    matches,
)
from {{ cookiecutter.package_name }}.platform.errors import UserError
from {{ cookiecutter.package_name }}.platform.runtime import use_mlflow
from {{ cookiecutter.package_name }}.registry import CHAMPION, ModelRef
from {{ cookiecutter.package_name }}.serving import (
    ServingOptions,
    endpoint_spec,
    inference_table,
    parse_traffic_split,
    routes,
    serving_options,
)

from conftest import MODEL, MODEL_REF, STEP_ARGS

OPTIONS = ServingOptions("staging-fares", "Small", True, challenger_percent=0)
SPLIT = ServingOptions("staging-fares", "Medium", False, challenger_percent=10)
TIMEOUT = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("text", "percent"),
    [
        ("challenger=10", 10),
        ("challenger = 25%", 25),
        ("Challenger=0", 0),
        ("challenger=100", 100),
        ("", 0),
        ("  ", 0),
    ],
)
def test_a_traffic_split_is_the_challenger_share(text, percent):
    assert parse_traffic_split(text) == percent


@pytest.mark.parametrize(
    "text", ["10", "challenger=101", "challenger=-5", "champion=90", "challenger=1.5", "x=10"]
)
def test_a_bad_traffic_split_says_how_to_write_one(text):
    with pytest.raises(UserError, match="write challenger=<percent of requests>") as error:
        parse_traffic_split(text)
    assert f"'{text}'" in str(error.value)


def test_options_given_as_text_are_checked_and_spelt_as_the_api_wants():
    options = serving_options(" dev-fares ", "medium", "False", "challenger=5")
    assert options == ServingOptions("dev-fares", "Medium", False, challenger_percent=5)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("fares.v2", "Small", "true", ""), "'fares.v2' is not a serving endpoint name"),
        (("", "Small", "true", ""), "'' is not a serving endpoint name"),
        (("fares", "Huge", "true", ""), "Workload size 'Huge' is not one of Small, Medium"),
        (("fares", "Small", "maybe", ""), "Scale to zero 'maybe' is not understood"),
    ],
)
def test_bad_options_are_named_with_their_fix(arguments, message):
    with pytest.raises(UserError, match=message):
        serving_options(*arguments)


def test_the_champion_alone_takes_every_request():
    spec = endpoint_spec(ModelRef("prod", "fares", "fare_model"), "7", None, OPTIONS)
    assert spec == {
        "name": "staging-fares",
        "config": {
            "served_entities": [
                {
                    "name": "champion",
                    "entity_name": "prod.fares.fare_model",
                    "entity_version": "7",
                    "workload_size": "Small",
                    "scale_to_zero_enabled": True,
                }
            ],
            "traffic_config": {
                "routes": [{"served_entity_name": "champion", "traffic_percentage": 100}]
            },
        },
        "ai_gateway": {
            "inference_table_config": {
                "catalog_name": "prod",
                "schema_name": "fares",
                "table_name_prefix": "staging_fares",
                "enabled": True,
            }
        },
    }
    assert json.loads(json.dumps(spec)) == spec  # the body is plain JSON


def test_a_split_serves_the_challenger_beside_the_champion():
    config = endpoint_spec(MODEL_REF, "7", "8", SPLIT)["config"]
    assert [
        (entity["name"], entity["entity_name"], entity["entity_version"])
        for entity in config["served_entities"]
    ] == [("champion", MODEL, "7"), ("challenger", MODEL, "8")]
    assert {entity["workload_size"] for entity in config["served_entities"]} == {"Medium"}
    assert {entity["scale_to_zero_enabled"] for entity in config["served_entities"]} == {False}
    assert config["traffic_config"]["routes"] == [
        {"served_entity_name": "champion", "traffic_percentage": 90},
        {"served_entity_name": "challenger", "traffic_percentage": 10},
    ]


@pytest.mark.parametrize(
    ("challenger", "percent"),
    [("8", 0), (None, 10), ("7", 10)],
    ids=["no share", "no challenger", "challenger is the champion"],
)
def test_no_challenger_entity_without_another_version_and_a_share(challenger, percent):
    served = routes("7", challenger, percent)
    assert [(route.entity, route.version, route.percent) for route in served] == [
        (CHAMPION, "7", 100)
    ]


def test_the_inference_table_is_in_the_models_catalog_and_schema():
    spec = endpoint_spec(ModelRef("prod", "fares", "fare_model"), "7", None, OPTIONS)
    prefix = spec["ai_gateway"]["inference_table_config"]["table_name_prefix"]
    assert inference_table("prod", "fares", "staging-fares") == f"prod.fares.{prefix}_payload"


def test_what_the_api_adds_or_reorders_is_no_difference():
    spec = endpoint_spec(MODEL_REF, "7", "8", SPLIT)
    reported = json.loads(json.dumps(spec))
    config = reported["config"]
    config["served_entities"].reverse()
    for entity in config["served_entities"]:
        entity.update(workload_type="CPU", creator="someone", state={"deployment": "READY"})
        del entity["scale_to_zero_enabled"]  # the API leaves out false values
    for route in config["traffic_config"]["routes"]:
        route["served_model_name"] = route["served_entity_name"]
    config["config_version"] = 3
    reported["ai_gateway"]["rate_limits"] = [{"calls": 10, "renewal_period": "minute"}]
    assert matches(reported["config"], spec["config"])
    assert differing_parts(reported, spec) == ()


def test_a_new_version_a_new_share_or_a_disabled_table_is_a_difference():
    spec = endpoint_spec(MODEL_REF, "7", "8", SPLIT)
    assert differing_parts(None, spec) == ("config", "ai_gateway")
    newer = endpoint_spec(MODEL_REF, "9", "8", SPLIT)
    assert differing_parts(newer, spec) == ("config",)
    alone = endpoint_spec(MODEL_REF, "7", None, SPLIT)
    assert differing_parts(alone, spec) == ("config",)
    disabled = json.loads(json.dumps(spec))
    disabled["ai_gateway"]["inference_table_config"]["enabled"] = False
    assert differing_parts(disabled, spec) == ("ai_gateway",)
    assert differing_parts({"config": spec["config"]}, spec) == ("ai_gateway",)


def test_locally_the_spec_is_written_once_and_rewritten_when_it_changes(tmp_path):
    endpoints = LocalEndpoints(tmp_path / SERVING_DIR)
    spec = endpoint_spec(MODEL_REF, "7", None, OPTIONS)
    created = endpoints.apply(spec, TIMEOUT)
    path = tmp_path / SERVING_DIR / "staging-fares.json"
    assert (created.action, created.location, created.ready) == (CREATED, str(path), None)
    assert json.loads(path.read_text()) == spec
    written = path.stat().st_mtime_ns

    assert endpoints.apply(spec, TIMEOUT).action == UNCHANGED
    assert path.stat().st_mtime_ns == written

    newer = endpoint_spec(MODEL_REF, "8", None, OPTIONS)
    updated = endpoints.apply(newer, TIMEOUT)
    assert (updated.action, updated.changed) == (UPDATED, ("config",))
    assert endpoints.read("staging-fares") == newer
    assert [p.name for p in path.parent.iterdir()] == ["staging-fares.json"]  # no leftovers


def test_locally_a_damaged_spec_is_written_again(tmp_path):
    endpoints = LocalEndpoints(tmp_path)
    (tmp_path / "staging-fares.json").write_text('{"name": "staging-fa')
    spec = endpoint_spec(MODEL_REF, "7", None, OPTIONS)
    assert endpoints.apply(spec, TIMEOUT).action == CREATED
    assert endpoints.read("staging-fares") == spec


def test_the_lifecycle_specified_an_endpoint_for_the_champion(in_lifecycle, capsys):
    from mlflow import MlflowClient

    use_mlflow()
    champion = MlflowClient().get_registered_model(MODEL).aliases[CHAMPION]
    spec_file = in_lifecycle.store / SERVING_DIR / f"{settings.ENDPOINT_NAME}.json"
    defaults = serving_options(
        settings.ENDPOINT_NAME,
        settings.ENDPOINT_WORKLOAD_SIZE,
        str(settings.ENDPOINT_SCALE_TO_ZERO),
        settings.TRAFFIC_SPLIT,
    )
    assert json.loads(spec_file.read_text()) == endpoint_spec(
        MODEL_REF, str(champion), None, defaults
    )

    deployment.main([*STEP_ARGS, f"--model-version={champion}"])
    out = capsys.readouterr().out
    assert f"Serving endpoint '{settings.ENDPOINT_NAME}' unchanged" in out
    assert f"{spec_file}: run `make serve`" in out


def test_a_bad_serving_option_stops_deployment_before_anything_changes(in_lifecycle, capsys):
    spec_file = in_lifecycle.store / SERVING_DIR / f"{settings.ENDPOINT_NAME}.json"
    written = spec_file.stat().st_mtime_ns
    with pytest.raises(SystemExit) as exit:
        deployment.main([*STEP_ARGS, "--model-version=1", "--traffic-split=half"])
    assert exit.value.code == 1
    assert "Traffic split 'half' is not understood" in capsys.readouterr().err
    assert spec_file.stat().st_mtime_ns == written
