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

.PHONY: install test lint typecheck check run backend token cleanup load package policies rehearse bench clean deploy migrate

# Builds, tests and the local server never reach real AWS: fake credentials (unless set),
# no instance metadata. `deploy` and `migrate` are the exceptions: they use yours.
OFFLINE := install test lint typecheck check run backend token cleanup load package policies rehearse bench
$(OFFLINE): export AWS_ACCESS_KEY_ID ?= testing
$(OFFLINE): export AWS_SECRET_ACCESS_KEY ?= testing
$(OFFLINE): export AWS_DEFAULT_REGION ?= us-east-1
$(OFFLINE): export AWS_EC2_METADATA_DISABLED := true

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

# Each function's IAM policy, from its code's calls and its configuration (tools/policies.py).
policies: $(STAMP)
	$(BIN)/python -m tools.policies

# The packaged stack, rehearsed offline: SAM transform, AWS's create-time rules, then
# moto's CloudFormation for what it can create (tools/rehearse.py says where it stops).
rehearse: package
	$(BIN)/python -m tools.rehearse --package-dir build/package --stack-name todo-api-$(or $(STAGE),dev) \
		$(if $(EXISTING_USER_POOL_ARN),--parameter ExistingUserPoolArn=$(EXISTING_USER_POOL_ARN))

# Cold start, warm CPU, zip size, memory and DynamoDB requests as ratios; writes BENCHMARKS.md.
bench: $(STAMP)
	$(BIN)/python -m tools.bench

# The `chalice deploy` route, with your AWS credentials: the stage's table, user pool and log
# groups (made if missing), their names and ARNs into .chalice/, then `chalice deploy`.
deploy: $(STAMP)
	@test -n "$(STAGE)" || { echo "usage: make deploy STAGE=dev|prod [BOOTSTRAP_ONLY=1]" >&2; exit 2; }
	$(BIN)/python -m tools.deploy --stage $(STAGE) $(if $(BOOTSTRAP_ONLY),--bootstrap-only)

# Data migrations, after a deploy, with your AWS credentials; DRY_RUN=1 writes nothing.
migrate: $(STAMP)
	@test -n "$(STAGE)" || { echo "usage: make migrate STAGE=dev|prod [DRY_RUN=1]" >&2; exit 2; }
	$(BIN)/python -m tools.migrate --stage $(STAGE) $(if $(DRY_RUN),--dry-run)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) build .pytest_cache .mypy_cache .ruff_cache

# --- local ---------------------------------------------------------------------------
PORT ?= 8000
BACKEND_PORT ?= $(shell echo $$(($(PORT) + 1)))
BACKEND ?= embedded

run: $(STAMP)
	$(BIN)/python -m tools.local run --port $(PORT) --backend-port $(BACKEND_PORT) --backend $(BACKEND)

# The embedded backend alone (DynamoDB + Cognito on BACKEND_PORT, default 8001), for
# `.venv/bin/chalice local --stage local`, which the local stage points at it.
backend: $(STAMP)
	$(BIN)/python -m tools.local backend --backend-port $(BACKEND_PORT)

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
