# mlops-stack: `make test` runs the whole suite, `make demo` bakes the default project and runs it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO_DIR := build/demo
# The generated project is linted by the tests, after baking.
LINTED := hooks mlops_stack scripts tests

.PHONY: install test lint demo benchmark clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(INSTALLED)

test: $(INSTALLED)
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

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .hypothesis
