# mlops-stack: `make test` runs the whole suite, `make demo` bakes the default project and runs it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO_DIR := build/demo
# The Databricks CLI and its fake workspace, built from Go sources once per CLI version.
DATABRICKS_TOOLS := .cache/databricks-tools
# gitlab-ci-local (npm) lists the jobs GitLab would run from the generated pipelines, in the tests.
# 4.74 and later do not start on Node 20.
GITLAB_CI_LOCAL_VERSION := 4.73.0
GITLAB_CI_LOCAL_DIR := .cache/gitlab-ci-local/$(GITLAB_CI_LOCAL_VERSION)
GITLAB_CI_LOCAL := $(GITLAB_CI_LOCAL_DIR)/node_modules/.bin/gitlab-ci-local
# The generated project is linted by the tests, after baking.
LINTED := hooks mlops_stack scripts tests

.PHONY: install databricks-tools test lint demo benchmark snapshots clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# Installed once per version, when missing.
$(GITLAB_CI_LOCAL):
	npm install --prefix $(GITLAB_CI_LOCAL_DIR) --no-save --no-audit --no-fund \
		gitlab-ci-local@$(GITLAB_CI_LOCAL_VERSION)

install: $(INSTALLED) $(GITLAB_CI_LOCAL)

databricks-tools:
	scripts/build-databricks-tools.sh $(DATABRICKS_TOOLS) >/dev/null

test: $(INSTALLED) $(GITLAB_CI_LOCAL) databricks-tools
	$(BIN)/python scripts/fetch_delta_jars.py
	$(BIN)/python -m pytest -n auto

lint: $(INSTALLED)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

demo: $(INSTALLED)
	rm -rf $(DEMO_DIR)
	$(BIN)/cookiecutter --no-input . --output-dir $(DEMO_DIR)
	$(MAKE) -C $(DEMO_DIR)/my-mlops-project pipeline

benchmark: $(INSTALLED)
	$(BIN)/python scripts/benchmark_bake.py

# Re-render the golden snapshots in tests/snapshots after an intended template change.
snapshots: $(INSTALLED)
	$(BIN)/python tests/golden.py

# Leaves the built Databricks CLI in .cache/ (rebuilding takes minutes); delete it by hand.
clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .hypothesis
