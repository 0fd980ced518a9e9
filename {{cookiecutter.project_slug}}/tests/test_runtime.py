"""The runtime layer: local state folder, task values, Java and MLflow checks."""

import json

import pytest

from {{ cookiecutter.package_name }} import runtime
from {{ cookiecutter.package_name }}.errors import UserError


def test_the_local_folder_is_the_projects_dot_local_unless_overridden(monkeypatch, tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "src" / "deep").mkdir(parents=True)
    monkeypatch.delenv(runtime.LOCAL_DIR_VARIABLE)
    monkeypatch.chdir(tmp_path / "src" / "deep")
    assert runtime.local_dir() == tmp_path / ".local"
    monkeypatch.setenv(runtime.LOCAL_DIR_VARIABLE, str(tmp_path / "elsewhere"))
    assert runtime.local_dir() == tmp_path / "elsewhere"


def test_task_values_are_handed_over_through_a_json_file(fresh_store, monkeypatch):
    monkeypatch.delenv(runtime.TASK_KEY_VARIABLE, raising=False)
    runtime.set_task_value("model_version", "3", task_key="train")
    monkeypatch.setenv(runtime.TASK_KEY_VARIABLE, "validate_again")
    runtime.set_task_value("validation_status", "PASSED", task_key="validate")
    assert runtime.get_task_value("train", "model_version") == "3"
    assert runtime.get_task_value("validate_again", "validation_status") == "PASSED"
    assert runtime.get_task_value("validate", "validation_status") is None
    assert json.loads((fresh_store / "task_values.json").read_text()) == {
        "train": {"model_version": "3"},
        "validate_again": {"validation_status": "PASSED"},
    }


def test_a_corrupt_task_values_file_is_reported(fresh_store):
    (fresh_store / "task_values.json").write_text("{")
    with pytest.raises(UserError, match="task_values.json is not valid JSON"):
        runtime.get_task_value("train", "model_version")


@pytest.mark.parametrize(
    ("java_home", "path", "found"),
    [
        pytest.param(None, "", "no `java` on PATH", id="no JAVA_HOME and no java on PATH"),
        pytest.param(
            "/nowhere/jdk", "", "JAVA_HOME=/nowhere/jdk has no bin/java", id="bad JAVA_HOME"
        ),
    ],
)
def test_missing_java_is_reported_before_spark_starts(monkeypatch, java_home, path, found):
    if java_home is None:
        monkeypatch.delenv("JAVA_HOME", raising=False)
    else:
        monkeypatch.setenv("JAVA_HOME", java_home)
    monkeypatch.setenv("PATH", path)
    with pytest.raises(UserError) as error:
        runtime.check_java()
    assert found in str(error.value)
    assert "Install a JDK" in str(error.value)


def test_local_mode_is_chosen_without_the_databricks_runtime(monkeypatch):
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    assert not runtime.on_databricks()
    assert runtime.get_runtime().is_local
