"""The answer rules of the pre-generation hook, tested as plain functions."""

import re

import pre_gen_project as rules
import pytest
from conftest import TEMPLATE_DIR, full_answers
from hypothesis import given
from hypothesis import strategies as st

VALID = {
    "title": ["My MLOps Project", "Fraud Detection", "Taxi: O'Brien's \"model\"", "Zoë's 数据"],
    "project_slug": ["fraud-detection", "ab", "model2", "a1-b2-c3"],
    "package_name": ["fraud_detection", "model2", "taxi_fares_v2", "testing", "source"],
    "workspace_host": [
        "https://adb-1234567890123456.7.azuredatabricks.net",
        "https://dbc-a1b2c3d4-e5f6.cloud.databricks.com",
        "https://1234567890123456.7.gcp.databricks.com",
        "https://private-link.example.com",
    ],
    "optional_workspace_host": ["", "https://dev.example.com"],
    "git_branch": ["main", "release", "release/v1", "feature/x.y_z-1", "v1.0"],
    "uc_identifier": ["dev", "ml_prod", "_private", "catalog2", "samples", "default"],
    "uc_catalog": ["dev", "ml_prod", "main", "my_system"],
    "group_name": ["users", "account users", "ML Engineers (EU)", "data-science", "Équipe ML"],
    "dev_catalog": ["dev", "ml_dev", "_private", "dev_2"],
}

INVALID = {
    "title": ["", "   ", "x" * 101],
    "project_slug": [
        "Fraud-Detection",
        "fraud_detection",
        "-fraud",
        "fraud-",
        "a--b",
        "1abc",
        "a",
        "abc/def",
        "../up",
        "\u0441at",  # a Cyrillic 'с'
    ],
    "package_name": [
        "Fraud",
        "1abc",
        "fraud-detection",
        "class",
        "match",
        "json",
        "mlflow",
        "cloudpickle",
        "_x",
        "tests",
        "conftest",
        "src",
        "\u0441at",
    ],
    "workspace_host": [
        "http://adb-1.azuredatabricks.net",
        "adb-1.azuredatabricks.net",
        "https://adb-1.azuredatabricks.net/",
        "https://adb-1.azuredatabricks.net/?o=123",
        "https://adb-1.azuredatabricks.net:443",
        "https://user@adb-1.azuredatabricks.net",
        "https://localhost",
        "https://-bad.example.com",
        "https://bad_host.example.com",
        "https://",
        "https://[::1",
        "https://\u212aafka.example.com",  # KELVIN SIGN folds to 'k' when case is ignored
        "https://\u0430db-1.azuredatabricks.net",  # a Cyrillic 'а'
    ],
    "optional_workspace_host": ["dev.example.com"],
    "git_branch": [
        "",
        "-main",
        "HEAD",
        "@",
        "a..b",
        "a@{1}",
        "main.",
        "/main",
        "main/",
        "a//b",
        ".hidden",
        "a/.b",
        "main.lock",
        "with space",
        "a:b",
        "a~1",
        "a^b",
        "a?b",
        "a*b",
        "a[b",
        "a\\b",
        "a'b",
        "a$b",
        "m\u0430in",
    ],
    "uc_identifier": [
        "Dev",
        "ml-prod",
        "1st",
        "",
        "a b",
        "x" * 256,
        "system",
        "sys_ml",
        "information_schema",
        "builtin",
        "session",
        "databricks_ml",
        "__databricks_internal",
    ],
    "uc_catalog": ["system", "information_schema", "hive_metastore", "samples", "Dev"],
    "dev_catalog": ["Dev", "ml__dev", "dev_", "1st", "system"],
    "group_name": ["", " ", " users", "users ", "a'b", 'a"b', "a`b", "x" * 256],
}


def rule_cases(table):
    return [
        pytest.param(name, value, id=f"{name}-{value[:30]!r}")
        for name, values in table.items()
        for value in values
    ]


def check(rule: str, value: str) -> str:
    """A rule function applied as review applies it: after the checks for every answer."""
    return getattr(rules, rule)(rules.plain_text(value))


@pytest.mark.parametrize(("rule", "value"), rule_cases(VALID))
def test_valid_values_pass(rule, value):
    assert check(rule, value) == value


@pytest.mark.parametrize(("rule", "value"), rule_cases(INVALID))
def test_invalid_values_raise_with_the_rule_they_break(rule, value):
    with pytest.raises(rules.InvalidAnswer) as raised:
        check(rule, value)
    assert raised.value.rule


@pytest.mark.parametrize(
    "value",
    [
        "{{ 7 * 7 }}",
        "a {% if x %}",
        "{# note #}",
        "tab\there",
        "new\nline",
        "nul\x00",
        "next\x85line",  # NEL, a line break to YAML
        "line\u2028separator",
        "zero\u200bwidth",
        "right\u202eto-left",  # direction override: text that reads otherwise than it runs
        "\ufeffbom",
        "\u3164",  # HANGUL FILLER: a letter that prints as nothing
        "\u2800",  # BRAILLE PATTERN BLANK
    ],
)
def test_template_syntax_control_and_invisible_characters_are_refused(value):
    with pytest.raises(rules.InvalidAnswer):
        rules.plain_text(value)


@pytest.mark.parametrize("name", list(rules.CHOICES))
def test_choices_accept_only_their_values(name):
    for value in rules.CHOICES[name]:
        assert rules.RULES[name].check(value) == value
    for other in ("other", rules.CHOICES[name][0].upper(), f" {rules.CHOICES[name][0]}"):
        with pytest.raises(rules.InvalidAnswer):
            rules.RULES[name].check(other)


def default_answers() -> dict:
    """The template's own defaults, as cookiecutter renders them."""
    return full_answers({})


def problems_with(**overrides) -> list[str]:
    return rules.review({**default_answers(), **overrides})[0]


def named(problems: list[str]) -> list[str]:
    return [line.split(":")[0] for line in problems]


def test_defaults_have_no_problems_or_warnings():
    assert rules.review(default_answers()) == ([], [])


@pytest.mark.parametrize("name", sorted(rules.RULES))
def test_every_answer_has_a_valid_example(name):
    example = rules.EXAMPLES[name]
    assert check_answer_rule(name, example) == example
    assert name not in named(problems_with(**{name: example}))


def check_answer_rule(name: str, value: str) -> str:
    return rules.RULES[name].check(rules.plain_text(value))


EXAMPLE = re.compile(r"Example: (\w+)=(.*)$")


def assert_examples_are_valid(problems: list[str]) -> None:
    for line in problems:
        found = EXAMPLE.search(line)
        assert found, f"no example in {line!r}"
        name, example = found.groups()
        assert check_answer_rule(name, example) == example, line


@pytest.mark.parametrize(
    ("answer", "value"),
    [
        pytest.param(name, "{{ cookiecutter.cloud }}", id=f"{name}-template-syntax")
        for name in sorted(rules.RULES)
    ]
    + [
        pytest.param(name, True, id=f"{name}-yaml-boolean")
        for name in ("include_monitoring", "dev_catalog", "project_name")
    ]
    + [
        pytest.param(name, None, id=f"{name}-null")
        for name in ("include_monitoring", "schema_name", "release_branch")
    ],
)
def test_a_refused_answer_comes_with_a_valid_example_of_that_answer(answer, value):
    problems = problems_with(**{answer: value})
    assert named(problems) == [answer]
    assert problems[0].endswith(f"Example: {answer}={rules.EXAMPLES[answer]}")
    assert_examples_are_valid(problems)


@pytest.mark.parametrize(
    ("name", "derived"),
    [
        pytest.param("!!!", "project_slug", id="no-letters"),
        pytest.param("x" * 80, "project_slug", id="too-long-for-a-slug"),
        pytest.param("2024 Forecast", "project_slug", id="starting-with-a-digit"),
        pytest.param("Logging", "package_name", id="giving-a-standard-library-name"),
        pytest.param("Tests", "package_name", id="giving-the-tests-folder-name"),
    ],
)
def test_a_name_that_makes_an_invalid_derived_answer_is_named_itself(name, derived):
    answers = full_answers({"project_name": name})
    problems, _ = rules.review(answers)
    assert named(problems) == ["project_name"], problems
    assert f"gives {derived} " in problems[0]
    assert f"change project_name or give {derived} yourself" in problems[0]
    assert_examples_are_valid(problems)


def test_a_given_slug_is_named_once_not_again_through_the_names_derived_from_it():
    problems, _ = rules.review(full_answers({"project_slug": "Fraud_Detection"}))
    assert named(problems) == ["project_slug"]


def test_a_given_package_name_is_named_even_when_the_project_name_is_fine():
    problems, _ = rules.review(full_answers({"package_name": "tests"}))
    assert named(problems) == ["package_name"]
    assert "collides with the project's own tests folder" in problems[0]


@pytest.mark.parametrize(
    ("answer", "value", "code_point"),
    [
        ("project_slug", "\u0441at", "U+0441 CYRILLIC SMALL LETTER ES"),
        ("dev_catalog", "d\u0435v", "U+0435 CYRILLIC SMALL LETTER IE"),
        ("read_user_group", "\u200b", "U+200B ZERO WIDTH SPACE"),
        ("model_read_group", "\u3164", "U+3164 HANGUL FILLER"),
        ("default_branch", "ma\u0456n", "U+0456 CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I"),
    ],
    ids=["slug-cyrillic-es", "catalog-cyrillic-ie", "group-zero-width", "group-filler", "branch"],
)
def test_characters_that_look_valid_are_shown_by_code_point(answer, value, code_point):
    problems = problems_with(**{answer: value})
    assert named(problems) == [answer]
    assert code_point in problems[0]
    assert not any(rules.is_invisible(character) for character in problems[0])


@pytest.mark.parametrize(
    "answer", ["dev_catalog", "test_catalog", "staging_catalog", "prod_catalog", "schema_name"]
)
@pytest.mark.parametrize(
    "reserved", ["system", "information_schema", "builtin", "session", "sys_audit", "databricks_x"]
)
def test_unity_catalog_reserved_names_are_refused_for_catalogs_and_the_schema(answer, reserved):
    problems = problems_with(**{answer: reserved})
    assert named(problems) == [answer]
    assert "is reserved by Databricks" in problems[0]


@pytest.mark.parametrize("catalog", ["hive_metastore", "samples"])
def test_catalogs_every_workspace_has_are_refused(catalog):
    assert named(problems_with(prod_catalog=catalog)) == ["prod_catalog"]


def test_project_names_cover_the_generated_projects_own_folders():
    project = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
    folders = {path.name for path in project.iterdir() if path.is_dir()}
    assert {name for name in folders if name.isidentifier()} <= rules.PROJECT_NAMES
    assert (project / "tests" / "conftest.py").is_file() and "conftest" in rules.PROJECT_NAMES


@pytest.mark.parametrize("value", [True, False])
def test_a_yaml_boolean_is_refused_with_the_quoting_that_fixes_it(value):
    problems = problems_with(include_monitoring=value)
    assert problems == [
        f"include_monitoring: {value} is a YAML boolean (an unquoted yes, no, true or false in "
        "a config file): write it in quotes. Example: include_monitoring=no"
    ]


def test_review_reports_every_problem_one_line_each():
    answers = {**default_answers(), "project_slug": "Bad Slug", "prod_catalog": "Prod"}
    problems, _ = rules.review(answers)
    assert named(problems) == ["project_slug", "prod_catalog"]
    assert all("\n" not in line and "Example: " in line for line in problems)


def test_equal_branches_are_refused():
    problems, _ = rules.review({**default_answers(), "release_branch": "main"})
    assert problems == [
        "release_branch: 'main' must differ from default_branch (pushes to each deploy to a "
        "different environment). Example: release_branch=release"
    ]


def test_missing_and_unknown_answers_are_named():
    answers = default_answers()
    del answers["cloud"]
    answers["clould"] = "aws"
    answers["_output_dir"] = "/internal/keys/are/ignored"
    problems, _ = rules.review(answers)
    assert named(problems) == ["cloud", "clould"]
    assert "(did you mean cloud?). Example: cloud=aws" in problems[1]
    assert_examples_are_valid(problems)


@pytest.mark.parametrize(
    ("cloud", "host", "warned"),
    [
        ("azure", "https://adb-1.1.azuredatabricks.net", False),
        ("aws", "https://dbc-1.cloud.databricks.com", False),
        ("gcp", "https://1.1.gcp.databricks.com", False),
        ("aws", "https://adb-1.1.azuredatabricks.net", True),
        ("azure", "https://private.example.com", True),
    ],
)
def test_hosts_outside_the_clouds_domain_only_warn(cloud, host, warned):
    answers = {**default_answers(), "cloud": cloud}
    answers.update(dict.fromkeys(rules.HOST_ANSWERS, host))
    problems, warnings = rules.review(answers)
    assert problems == []
    assert len(warnings) == (3 if warned else 0)


def test_an_unknown_cloud_takes_the_azure_hosts_and_is_named_alone():
    assert named(rules.review(full_answers({"cloud": "oracle"}))[0]) == ["cloud"]


# Property tests: whatever arrives, a rule either accepts it or raises InvalidAnswer, and review
# names only answers it was given, each with a valid example.
@pytest.mark.parametrize("name", sorted(rules.RULES))
@given(value=st.text(max_size=300))
def test_rules_fail_only_with_invalid_answer(name, value):
    try:
        check_answer_rule(name, value)
    except rules.InvalidAnswer as error:
        assert error.rule


@given(
    overrides=st.dictionaries(
        st.sampled_from(sorted(rules.RULES)),
        st.one_of(
            st.text(max_size=80),
            st.sampled_from(["", "-", "x" * 70, "!!!", "tests", "system", "\u200b", "a/b"]),
            st.none(),
            st.integers(),
            st.booleans(),
            st.lists(st.text(max_size=5), max_size=2),
        ),
    )
)
def test_review_never_fails_and_names_only_given_answers_with_valid_examples(overrides):
    problems, warnings = rules.review({**default_answers(), **overrides})
    assert all(isinstance(line, str) and "\n" not in line for line in problems + warnings)
    for line in problems:
        assert line.split(":")[0] in overrides or "must differ" in line, line
    assert_examples_are_valid(problems)


@given(value=st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_valid_hosts_round_trip(value):
    """Any accepted host is exactly https:// plus an ASCII DNS name."""
    try:
        rules.workspace_host(value)
    except rules.InvalidAnswer:
        return
    host = value.removeprefix("https://")
    assert host.isascii()
    assert all(part and len(part) <= 63 for part in host.split("."))
