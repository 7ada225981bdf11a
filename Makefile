# Everything a newcomer needs: `make demo`, `make test`. Each target bootstraps .venv itself.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Exact versions of every Python package make installs (make lock regenerates it).
LOCK := requirements/dev.lock
PIP_QUIET := --quiet --disable-pip-version-check
TOOLS := .tools
ASL_VALIDATOR := $(TOOLS)/node_modules/.bin/asl-validator
PYTEST_WORKERS ?= 2
# The machine's Node.js 20 is past end of life; jsii works with it but says so on every run.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

# apt needs root: sudo when not already root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

LAYER := build/lambda/layer
LAYER_STAMP := $(LAYER)/.installed

.PHONY: demo test lint format clean bundle synth chaos browser bench bench-start aws-test lock

$(STAMP): pyproject.toml $(LOCK)
	python3 -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) -c $(LOCK) --upgrade pip
	$(PY) -m pip install $(PIP_QUIET) -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

# Re-resolves pyproject.toml's ranges in a throwaway venv (so nothing else installed by hand
# is captured) and writes the newest versions they allow into $(LOCK).
LOCK_VENV := build/lock-venv
lock:
	rm -rf $(LOCK_VENV)
	python3 -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install $(PIP_QUIET) --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install $(PIP_QUIET) -e '.[dev]'
	{ sed -n '/^#/p' $(LOCK); \
	  $(LOCK_VENV)/bin/python -m pip freeze --all --exclude-editable | grep -v -E '^(setuptools|wheel)=='; \
	} > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf $(LOCK_VENV)

$(ASL_VALIDATOR):
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) asl-validator@4.0.0

# Third-party libraries of the Lambda tasks, for arm64 / Python 3.12 (wheels only, no Docker).
$(LAYER_STAMP): stacks/lambda-requirements.txt $(STAMP)
	rm -rf $(LAYER)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
		--platform manylinux2014_aarch64 --implementation cp --python-version 3.12 \
		--target $(LAYER)/python -r stacks/lambda-requirements.txt
	touch $(LAYER_STAMP)

bundle: $(LAYER_STAMP)

# Offline synthesis: no AWS credentials, no Docker; writes cdk.out/.
synth: $(LAYER_STAMP)
	$(PY) -m stacks.app

# Headless Chromium for the HTML report tests (Debian's package, installed when missing).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Chromium from Debian packages (HTML report tests)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

demo: $(STAMP)
	$(PY) -m vss_restore.demo

# The full reliability matrix (docs/reliability.md): every call a restore, its rollback and a
# drill make that changes something x fault kinds, transient and permanent, and pairs of faults.
CHAOS_WORKERS ?= 2
chaos: $(STAMP)
	POWERTOOLS_LOG_LEVEL=CRITICAL $(PY) -m vss_restore.local.chaos --workers $(CHAOS_WORKERS) --out chaos/results.json

# Restores on the simulation's latency and throttling model against their bounds and plain
# scripts on the same draws, for the base, fast and slow models; the waiting strategies;
# one fleet each of 50 and 200 servers x 4 volumes; online restores of 1, 4 and 8 data
# volumes against in-place restores of the same volumes (docs/performance.md): writes
# bench/results.json and bench/restore_times.png.
bench: $(STAMP)
	POWERTOOLS_LOG_LEVEL=CRITICAL $(PY) -m vss_restore.local.bench --variants --variant-seeds 5 --strategies --fleet-seeds 1 --online

# How long a person waits for `vss-restore --local sets` and for `restore`'s question, on a
# terminal (min/median/max of 5): writes bench/local_start.json. Run it on an idle machine.
bench-start: $(STAMP)
	$(PY) -m vss_restore.local.start_bench --runs 5 --out bench/local_start.json

# Opt-in, in a real AWS account (docs/aws-acceptance.md): without VSS_RESTORE_AWS_TEST=1,
# credentials and a region it says why and exits 0, having called nothing. ARGS go to pytest,
# or ARGS=--cleanup-only removes what earlier runs left behind.
aws-test: $(STAMP)
	$(PY) -m acceptance $(ARGS)

lint: $(STAMP) $(ASL_VALIDATOR)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m vss_restore.workflow --check
	for machine in restore drill mount fleet; do \
		$(ASL_VALIDATOR) --json-path statemachines/$$machine.asl.json && \
		$(PY) -m vss_restore.definition $$machine > $(TOOLS)/$$machine.rendered.asl.json && \
		$(ASL_VALIDATOR) --json-path $(TOOLS)/$$machine.rendered.asl.json || exit 1; \
	done

test: lint synth browser
	$(VENV)/bin/cfn-lint cdk.out/*.template.json
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) -q

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) $(TOOLS) build cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis
