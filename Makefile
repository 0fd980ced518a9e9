# mlops-stack: `make test` runs the whole suite, `make demo` bakes the default project and runs it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO_DIR := build/demo
# The Databricks CLI and its fake workspace, built from Go sources once per CLI version.
DATABRICKS_TOOLS := .cache/databricks-tools
# The generated project is linted by the tests, after baking.
LINTED := hooks mlops_stack scripts tests

.PHONY: install databricks-tools test lint demo benchmark snapshots clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(INSTALLED)

databricks-tools:
	scripts/build-databricks-tools.sh $(DATABRICKS_TOOLS) >/dev/null

test: $(INSTALLED) databricks-tools
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
