"""The answer rules of the pre-generation hook, tested as plain functions."""

import pre_gen_project as rules
import pytest
from conftest import full_answers
from hypothesis import given
from hypothesis import strategies as st

VALID = {
    "title": ["My MLOps Project", "Fraud Detection", "Taxi: O'Brien's \"model\""],
    "project_slug": ["fraud-detection", "ab", "model2", "a1-b2-c3"],
    "package_name": ["fraud_detection", "model2", "taxi_fares_v2"],
    "workspace_host": [
        "https://adb-1234567890123456.7.azuredatabricks.net",
        "https://dbc-a1b2c3d4-e5f6.cloud.databricks.com",
        "https://1234567890123456.7.gcp.databricks.com",
        "https://private-link.example.com",
    ],
    "optional_workspace_host": ["", "https://dev.example.com"],
    "git_branch": ["main", "release", "release/v1", "feature/x.y_z-1", "v1.0"],
    "uc_identifier": ["dev", "ml_prod", "_private", "catalog2"],
    "dev_catalog": ["dev", "ml_dev", "_private", "dev_2"],
    "group_name": ["users", "account users", "ML Engineers (EU)", "data-science"],
}

INVALID = {
    "title": ["", "   ", "x" * 101],
    "project_slug": ["Fraud-Detection", "fraud_detection", "-fraud", "fraud-", "a--b", "1abc", "a"],
    "package_name": ["Fraud", "1abc", "fraud-detection", "class", "match", "json", "mlflow", "_x"],
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
    ],
    "uc_identifier": ["Dev", "ml-prod", "1st", "", "a b", "x" * 256],
    "dev_catalog": ["Dev", "ml__dev", "dev_", "1st"],
    "group_name": ["", " ", " users", "users ", "a'b", 'a"b', "a`b", "x" * 256],
}


def rule_cases(table):
    return [
        pytest.param(name, value, id=f"{name}-{value[:30]!r}")
        for name, values in table.items()
        for value in values
    ]


@pytest.mark.parametrize(("rule", "value"), rule_cases(VALID))
def test_valid_values_pass(rule, value):
    assert getattr(rules, rule)(value) == value


@pytest.mark.parametrize(("rule", "value"), rule_cases(INVALID))
def test_invalid_values_raise_with_rule_and_example(rule, value):
    with pytest.raises(rules.InvalidAnswer) as raised:
        getattr(rules, rule)(value)
    assert raised.value.rule
    example = raised.value.example
    assert getattr(rules, rule)(example) == example, "the example must itself be valid"


@pytest.mark.parametrize(
    "value", ["{{ 7 * 7 }}", "a {% if x %}", "{# note #}", "tab\there", "new\nline", "nul\x00"]
)
def test_template_syntax_and_control_characters_are_refused(value):
    with pytest.raises(rules.InvalidAnswer):
        rules.plain_text(value)


@pytest.mark.parametrize("name", ["cloud", "cicd_platform", "compute", "include_monitoring"])
def test_choices_accept_only_their_values(name):
    for value in rules.CHOICES[name]:
        assert rules.RULES[name](value) == value
    with pytest.raises(rules.InvalidAnswer):
        rules.RULES[name]("other")


def default_answers() -> dict:
    """The template's own defaults, as cookiecutter renders them."""
    return full_answers({})


def test_defaults_have_no_problems_or_warnings():
    assert rules.review(default_answers()) == ([], [])


def test_review_reports_every_problem_one_line_each():
    answers = {**default_answers(), "project_slug": "Bad Slug", "prod_catalog": "Prod"}
    problems, _ = rules.review(answers)
    assert [line.split(":")[0] for line in problems] == ["project_slug", "prod_catalog"]
    assert all("\n" not in line and "Example: " in line for line in problems)


def test_equal_branches_are_refused():
    problems, _ = rules.review({**default_answers(), "release_branch": "main"})
    assert len(problems) == 1
    assert problems[0].startswith("release_branch: 'main' must differ from default_branch")


def test_missing_and_unknown_answers_are_named():
    answers = default_answers()
    del answers["cloud"]
    answers["clould"] = "aws"
    answers["_output_dir"] = "/internal/keys/are/ignored"
    problems, _ = rules.review(answers)
    assert [line.split(":")[0] for line in problems] == ["cloud", "clould"]


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


# Property tests: whatever text arrives, a rule either accepts it or raises InvalidAnswer.
@pytest.mark.parametrize("name", sorted(rules.RULES))
@given(value=st.text(max_size=300))
def test_rules_fail_only_with_invalid_answer(name, value):
    try:
        rules.RULES[name](rules.plain_text(value))
    except rules.InvalidAnswer as error:
        assert error.rule and error.example


@given(
    overrides=st.dictionaries(
        st.sampled_from(sorted(rules.RULES)),
        st.one_of(st.text(max_size=80), st.none(), st.integers()),
    )
)
def test_review_never_fails_on_any_answers(overrides):
    problems, warnings = rules.review({**default_answers(), **overrides})
    assert all(isinstance(line, str) for line in problems + warnings)
    assert all(line.split(":")[0] in overrides for line in problems if "must differ" not in line)


@given(value=st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_valid_hosts_round_trip(value):
    """Any accepted host is exactly https:// plus a lowercase-able DNS name."""
    try:
        rules.workspace_host(value)
    except rules.InvalidAnswer:
        return
    host = value.removeprefix("https://")
    assert all(part and len(part) <= 63 for part in host.split("."))
