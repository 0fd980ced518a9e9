import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
# The Databricks CLI and its fake workspace, built from Go sources by `make databricks-tools`.
TOOLS_MODULE = TEMPLATE_DIR / "tools" / "fake-workspace"
TOOLS_CACHE = TEMPLATE_DIR / ".cache" / "databricks-tools"
sys.path.insert(0, str(TEMPLATE_DIR / "hooks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from combinations import COMBINATIONS, combination_id  # noqa: E402


def bake(output_dir: Path, answers: dict | None = None) -> Path:
    """Generate a project from the template into output_dir and return its directory."""
    return Path(
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            extra_context=answers or {},
            output_dir=str(output_dir),
        )
    )


@cache
def _full_answers(combination_json: str) -> dict:
    context = generate_context(
        context_file=str(TEMPLATE_DIR / "cookiecutter.json"),
        extra_context=json.loads(combination_json),
    )
    return prompt_for_config(context, no_input=True)


def full_answers(combination: dict) -> dict:
    """Every answer of a combination, derived defaults rendered as cookiecutter renders them."""
    return dict(_full_answers(json.dumps(combination, sort_keys=True)))


@pytest.fixture(scope="session")
def template_repository(tmp_path_factory) -> Path:
    """The template as it is on disk, committed to a repository of its own: `mlops-stack new`
    reads a template's committed files, and the tests are about the files being worked on."""
    root = tmp_path_factory.mktemp("template") / "mlops-stack"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = TEMPLATE_DIR / relative
        if source.is_file():  # a tracked file deleted from disk is not part of the template
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / relative)
    identity = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.com"]
    for command in (
        ["init", "--quiet"],
        ["add", "--all"],
        [*identity, "commit", "-qm", "Snapshot"],
    ):
        subprocess.run(["git", *command], cwd=root, capture_output=True, check=True)
    return root


def pytest_configure(config):
    config.option.template = str(TEMPLATE_DIR)  # pytest-cookies bakes this template


@pytest.fixture(scope="session")
def baked_projects(cookies_session):
    """Bake each supported combination once per test session, on first use (pytest-cookies)."""
    cache = {}

    def get(combination: dict):
        key = combination_id(combination)
        if key not in cache:
            cache[key] = cookies_session.bake(extra_context=combination)
        return cache[key]

    return get


@pytest.fixture
def project(baked_projects, combination) -> Path:
    """The directory of the project baked from this test's combination."""
    result = baked_projects(combination)
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


def pytest_generate_tests(metafunc):
    if "combination" in metafunc.fixturenames:
        metafunc.parametrize("combination", COMBINATIONS, ids=combination_id)


# --- Databricks' fake workspace ------------------------------------------------------------------


def pinned_cli_version() -> str:
    go_mod = (TOOLS_MODULE / "go.mod").read_text()
    return re.search(r"^require github\.com/databricks/cli v(\S+)$", go_mod, re.M).group(1)


def tool(name: str) -> Path:
    path = TOOLS_CACHE / f"v{pinned_cli_version()}" / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make databricks-tools` (or `make test`) first")
    return path


@pytest.fixture(scope="session")
def fake_workspace(tmp_path_factory) -> Iterator[str]:
    """The URL of a fake workspace server on 127.0.0.1, for this test session."""
    log = tmp_path_factory.mktemp("fake-workspace") / "server.log"
    with log.open("w") as errors:
        server = subprocess.Popen(
            [tool("fake-workspace")], stdout=subprocess.PIPE, stderr=errors, text=True
        )
    url = server.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), f"the fake workspace did not start: {log}"
    yield url
    server.terminate()
    server.wait(timeout=30)
