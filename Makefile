# Everything a newcomer needs: `make demo`, `make test`. Each target bootstraps .venv itself.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TOOLS := .tools
ASL_VALIDATOR := $(TOOLS)/node_modules/.bin/asl-validator
PYTEST_WORKERS ?= 2

.PHONY: demo test lint format clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

$(ASL_VALIDATOR):
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) asl-validator@4.0.0

demo: $(STAMP)
	$(PY) -m vss_restore.demo

lint: $(STAMP) $(ASL_VALIDATOR)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(ASL_VALIDATOR) --json-path statemachines/restore.asl.json
	$(PY) -m vss_restore.definition > $(TOOLS)/restore.rendered.asl.json
	$(ASL_VALIDATOR) --json-path $(TOOLS)/restore.rendered.asl.json

test: lint
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) -q

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .hypothesis
