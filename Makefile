# The commands people type. `make test` and `make check` work on a fresh clone with
# only Python 3.11+ present: they build .venv from requirements-dev.txt first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum requirements-dev.txt | cut -d' ' -f1)
# checkov lives apart: it would downgrade boto3 in .venv. Tests find it through $CHECKOV.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cksum requirements-checkov.txt | cut -d' ' -f1)
export CHECKOV := $(CURDIR)/$(CHECKOV_VENV)/bin/checkov

# Builds and tests never reach real AWS: fake credentials, no instance metadata.
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_EC2_METADATA_DISABLED := true

.PHONY: install test lint typecheck check run token cleanup load package bench clean

install: $(STAMP) $(CHECKOV_STAMP)

$(STAMP): requirements-dev.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt >&2
	touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt >&2
	touch $@

test: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

# CloudFormation (SAM) and the Lambda zip, with bytecode for the runtime, in build/package.
package: $(STAMP)
	$(BIN)/python -m tools.package --stage $(or $(STAGE),dev) --out build/package

# Cold start, warm CPU, zip size, memory and DynamoDB requests as ratios; writes BENCHMARKS.md.
bench: $(STAMP)
	$(BIN)/python -m tools.bench

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) build .pytest_cache .mypy_cache .ruff_cache

# --- local ---------------------------------------------------------------------------
PORT ?= 8000
BACKEND_PORT ?= $(shell echo $$(($(PORT) + 1)))
BACKEND ?= embedded

run: $(STAMP)
	$(BIN)/python -m tools.local run --port $(PORT) --backend-port $(BACKEND_PORT) --backend $(BACKEND)

# Prints only the token on stdout, so that $(make -s token USER=alice) works.
token: $(STAMP)
	@test -n "$(USER)" || { echo "usage: make -s token USER=alice [PORT=8000]" >&2; exit 2; }
	@$(BIN)/python -m tools.local token --port $(PORT) --backend-port $(BACKEND_PORT) "$(USER)"

# A bounded concurrent load against the `make run` server (CLIENTS, SECONDS), then a check
# that nothing it created was lost. Loopback only; not part of `make test`.
CLIENTS ?= 8
SECONDS ?= 30
load: $(STAMP)
	$(BIN)/python -m tools.load --port $(PORT) --backend-port $(BACKEND_PORT) --clients $(CLIENTS) --seconds $(SECONDS)

# The scheduled jobs, run once against the `make run` backend (schedules never fire locally).
cleanup: $(STAMP)
	@$(BIN)/python -m tools.local cleanup --port $(PORT) --backend-port $(BACKEND_PORT)
