# The commands people type. `make run` and `make test` work on a fresh clone with only
# Python 3.13 (the Lambda runtime) and 3.11 (checkov's) present: they build .venv first,
# with uv, from locks with hashes:
#   requirements-uv.lock       uv itself (pip installs it into .venv)
#   requirements-run.lock      what serving needs (make run, backend, token, package, deploy)
#   requirements-dev.lock      everything to develop and test (a superset, same versions)
#   requirements-checkov.lock  checkov, in its own .venv-checkov (it pins an older boto3)
#   requirements-sam.lock      the SAM CLI (sam validate --lint), in its own .venv-sam
# The *.txt files are what people edit; `make lock` makes the locks from them again.
# The Lambda runtime is .chalice/config.json's lambda_runtime. .venv is built on exactly
# that Python, so Chalice packages and deploys for it, the zip's bytecode is compiled by
# it and the tests run on it; tools/find-python finds one (PATH, pyenv, uv) or says how.
RUNTIME := $(shell sed -n 's/^ *"lambda_runtime": *"python\([0-9.]*\)".*/\1/p' .chalice/config.json)
PYTHON ?= $(shell tools/find-python $(RUNTIME) 2>/dev/null)
# checkov's own environment stays on the Python its lock was made for.
CHECKOV_PYTHON ?= $(shell tools/find-python 3.11 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
checksum = $(shell cksum $(1) | cut -d' ' -f1)
# A new runtime (or uv lock) starts .venv afresh.
PY_STAMP := $(VENV)/.python$(RUNTIME)-$(call checksum,requirements-uv.lock)
RUN_STAMP := $(VENV)/.run-$(call checksum,requirements-run.lock)
STAMP := $(VENV)/.dev-$(call checksum,requirements-dev.lock)
# checkov lives apart: it would downgrade boto3 in .venv. Tests find it through $CHECKOV.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(call checksum,requirements-checkov.lock)
export CHECKOV := $(CURDIR)/$(CHECKOV_VENV)/bin/checkov
# The SAM CLI lives apart too (its own pins); tests find it through $SAM.
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed-$(call checksum,requirements-sam.lock)
export SAM := $(CURDIR)/$(SAM_VENV)/bin/sam
# The frameworks make bench compares with (never shipped or tested), on the runtime's Python.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-$(call checksum,requirements-bench.lock)
# uv's own settings for every install: exactly the locked files, quietly.
UV_INSTALL = $(UV) pip install --quiet --require-hashes --compile-bytecode

help:  ## list the targets
	@awk -F':.*## ' '/^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(firstword $(MAKEFILE_LIST))

.PHONY: help install chromium screenshot test test-fast fuzz lint typecheck contract check run backend token cleanup load package policies rehearse bench tune cost spike clean deploy migrate settings restore release rollback lock

# Builds, tests and the local server never reach real AWS: fake credentials (unless set),
# no instance metadata. `deploy` and `migrate` are the exceptions: they use yours.
OFFLINE := install screenshot test test-fast fuzz lint typecheck contract check run backend token cleanup load package policies rehearse bench tune cost spike
$(OFFLINE): export AWS_ACCESS_KEY_ID ?= testing
$(OFFLINE): export AWS_SECRET_ACCESS_KEY ?= testing
$(OFFLINE): export AWS_DEFAULT_REGION ?= us-east-1
$(OFFLINE): export AWS_EC2_METADATA_DISABLED := true

install: $(STAMP) $(CHECKOV_STAMP) $(SAM_STAMP)  ## build .venv, .venv-checkov and .venv-sam from the locks

# A new runtime, a new uv lock or no .venv starts .venv afresh; the other locks install into it.
$(PY_STAMP):
	@test -n "$(PYTHON)" || tools/find-python $(RUNTIME) "The Lambda runtime (lambda_runtime in .chalice/config.json) is python$(RUNTIME): the zip's bytecode is compiled by it and the tests run on it."
	@$(PYTHON) -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != "$(RUNTIME)")' || { echo "$(PYTHON) is not Python $(RUNTIME), the Lambda runtime" >&2; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-uv.lock >&2
	touch $@

$(RUN_STAMP): requirements-run.lock $(PY_STAMP)
	$(UV_INSTALL) --python $(BIN)/python -r requirements-run.lock >&2
	touch $@

# The dev lock holds the run lock's versions, so it serves everything the run lock does.
$(STAMP): requirements-dev.lock $(PY_STAMP)
	$(UV_INSTALL) --python $(BIN)/python -r requirements-dev.lock >&2
	touch $@ $(RUN_STAMP)

$(CHECKOV_STAMP): requirements-checkov.lock $(PY_STAMP)
	rm -rf $(CHECKOV_VENV)
	@test -n "$(CHECKOV_PYTHON)" || tools/find-python 3.11 "checkov's environment is locked for it (requirements-checkov.lock)."
	$(UV) venv --quiet --python $(CHECKOV_PYTHON) $(CHECKOV_VENV)
	$(UV_INSTALL) --python $(CHECKOV_VENV)/bin/python -r requirements-checkov.lock >&2
	touch $@

$(SAM_STAMP): requirements-sam.lock $(PY_STAMP)
	rm -rf $(SAM_VENV)
	$(UV) venv --quiet --python $(BIN)/python $(SAM_VENV)
	$(UV_INSTALL) --python $(SAM_VENV)/bin/python -r requirements-sam.lock >&2
	touch $@

$(BENCH_STAMP): requirements-bench.lock $(PY_STAMP)
	rm -rf $(BENCH_VENV)
	$(UV) venv --quiet --python $(BIN)/python $(BENCH_VENV)
	$(UV_INSTALL) --python $(BENCH_VENV)/bin/python -r requirements-bench.lock >&2
	touch $@

# The locks, from the *.txt files (needs the package index): the dev set first, then the
# run set constrained to the dev set's versions.
LOCK = $(UV) pip compile --quiet --generate-hashes --universal
lock: $(PY_STAMP)  ## make the locks again from requirements-*.txt (needs the package index)
	$(LOCK) --python-version 3.11 requirements-dev.txt -o requirements-dev.lock
	$(LOCK) --python-version 3.11 -c requirements-dev.lock requirements-run.txt -o requirements-run.lock
	$(LOCK) --python-version 3.11.7 requirements-checkov.txt -o requirements-checkov.lock
	$(LOCK) --python-version $(RUNTIME) requirements-sam.txt -o requirements-sam.lock
	$(LOCK) --python-version $(RUNTIME) -c requirements-dev.lock requirements-bench.txt -o requirements-bench.lock

# On every core (pytest-xdist), a module to a worker: a module's one server starts once.
# (pytest-xdist 3.8's xdist_group does not group under pytest 9.2: its suffix no longer
# reaches the node id.)
WORKERS ?= auto
PYTEST = $(BIN)/pytest -n $(WORKERS) --dist loadfile

test: $(STAMP) $(CHECKOV_STAMP) $(SAM_STAMP) chromium  ## the whole test suite (the README's test command; CI runs it)
	$(PYTEST)

# The browser tests drive Debian's Chromium (Playwright's own browser download is not
# reachable here): installed from Debian's packages when the machine has none.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:  ## Debian's Chromium for the browser tests, installed if the machine has none
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >&2; }

# The README's picture of the signed-in web app, taken by the accessibility test itself.
screenshot: $(STAMP) chromium  ## docs/web-app.png, from tests/e2e/test_browser.py
	TODO_SCREENSHOT=$(CURDIR)/docs/web-app.png $(BIN)/pytest -q tests/e2e/test_browser.py -k accessibility

# The contract fuzzing at length (make test runs it with 15 examples per operation).
EXAMPLES ?= 300
fuzz: $(STAMP)  ## schemathesis at length against make run (EXAMPLES=300, SEED=...)
	FUZZ_EXAMPLES=$(EXAMPLES) $(if $(SEED),FUZZ_SEED=$(SEED)) $(BIN)/pytest -m fuzz tests/e2e/test_fuzz.py

# Everyday work, in under a minute on 2 cores: everything but fuzzing, the tests that start
# servers in subprocesses and those marked slow, with 5 examples per property instead of 25
# (make test and make check run them all, in full).
test-fast: $(STAMP)  ## all tests but fuzzing, those that start servers, and the slow ones
	HYPOTHESIS_PROFILE=fast $(PYTEST) -m "not fuzz and not server and not slow"

lint: $(STAMP)  ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)  ## mypy --strict over app.py, chalicelib, infrastructure, tools, benchmark
	$(BIN)/mypy
	$(BIN)/mypy $(patsubst %,-m %,$(basename $(notdir $(wildcard benchmark/handlers/*.py benchmark/children/*.py))))

check: lint typecheck contract test  ## lint, typecheck, the contract's breaking-change gate and test: what CI runs

# openapi.yaml against the last release of itself (releases/openapi.yaml): a change that would
# break a client fails unless info.version is a new major one. RELEASE=1 records the release.
contract: $(RUN_STAMP)  ## the breaking-change gate: openapi.yaml against releases/openapi.yaml (RELEASE=1 records it)
	@case "$(RELEASE)" in ""|1) ;; *) echo "RELEASE must be 1, or left out" >&2; exit 2;; esac
	$(BIN)/python -m tools.contract_gate $(if $(RELEASE),--release)

# CloudFormation (SAM) and the Lambda zip, with bytecode for the runtime, in build/package.
package: $(RUN_STAMP)  ## CloudFormation (SAM) and the Lambda zip in build/package (STAGE=dev, API=rest|http)
	$(BIN)/python -m infrastructure.package --stage $(or $(STAGE),dev) --out build/package $(if $(API),--api $(API))

# Each function's IAM policy, from its code's calls and its configuration (infrastructure/policies.py).
policies: $(RUN_STAMP)  ## write each function's IAM policy file from its calls and configuration
	$(BIN)/python -m infrastructure.policies

# The packaged stack, rehearsed offline: SAM transform, AWS's create-time rules, then
# moto's CloudFormation for what it can create (infrastructure/rehearsal/rehearse.py says where it stops).
rehearse: $(STAMP) package  ## rehearse the packaged stack's deploy offline (STAGE=, EXISTING_USER_POOL_ARN=)
	$(BIN)/python -m infrastructure.rehearsal.rehearse --package-dir build/package --stack-name todo-api-$(or $(STAGE),dev) \
		$(if $(EXISTING_USER_POOL_ARN),--parameter ExistingUserPoolArn=$(EXISTING_USER_POOL_ARN))

# Cold start, warm CPU, zip size, memory and DynamoDB requests as ratios, and the same route on
# the frameworks a user would pick instead (.venv-bench); writes benchmark/README.md.
bench: $(STAMP) $(BENCH_STAMP)  ## cold start, warm CPU, size, memory, DynamoDB requests, framework peers; writes benchmark/README.md
	$(BIN)/python -m benchmark.bench --peers-python $(BENCH_VENV)/bin/python

# Lambda memory by measurement (what AWS Lambda Power Tuning does, offline): CPU measured
# through the packaged handler, Lambda's allocation modelled, 128-3008 MB; writes
# benchmark/README.md, build/tune.json and docs/tune.png.
tune: $(STAMP)  ## Lambda memory by measurement: latency and cost, 128-3008 MB; writes benchmark/README.md
	$(BIN)/python -m benchmark.tune

# What the packaged stack costs a month at three traffic profiles, from its template,
# make tune's measurements (made first if missing) and benchmark/prices.json.
cost: $(STAMP) package  ## monthly cost at three traffic profiles, Cognito's plans, a spike's price, the container break-even
	@test -f build/tune.json || $(MAKE) --no-print-directory tune
	$(BIN)/python -m benchmark.cost
	@# beside the profiles, the price of the crowd make spike plays, on the same configuration
	$(BIN)/python -m benchmark.spike --price --stage $(or $(STAGE),dev)

# Who the packaged stage serves when USERS people arrive over OVER seconds: every wall in
# the order it is hit, with AWS's quotas (infrastructure/quotas.json) and what to raise. LOCAL=1:
# played for real against make run with every quota divided by SCALE (USERS/100), beside
# the model's prediction for the same (benchmark/spike_local.py; about two minutes). ACCOUNT=1:
# the quotas of the account your AWS credentials name (SES's, Cognito's, Service Quotas'), read.
spike: $(STAMP)  ## the walls a spike meets, in order (STAGE=prod USERS=10000 OVER=60 API=rest|http LOCAL=1 ACCOUNT=1)
	@$(MAKE) --no-print-directory package STAGE=$(or $(STAGE),prod) $(if $(API),API=$(API)) >/dev/null
	@# make tune's measurements, made first if missing (into build/ only: the recorded run stays)
	@test -f build/tune.json || $(BIN)/python -m benchmark.tune --no-write >/dev/null
	$(if $(LOCAL),$(BIN)/python -m benchmark.spike_local $(if $(SCALE),--scale "$(SCALE)"),$(if $(ACCOUNT),$(ACCOUNT_CREDENTIALS)) $(BIN)/python -m benchmark.spike \
		$(if $(PER_ADDRESS),--per-address "$(PER_ADDRESS)") $(if $(ACCOUNT),--account)) \
		--stage $(or $(STAGE),prod) $(if $(USERS),--users "$(USERS)") $(if $(OVER),--over "$(OVER)")

# ACCOUNT=1 reads your account's quotas with your credentials: the offline defaults above
# (fake keys, when none were set) must not stand in for them.
ACCOUNT_CREDENTIALS = $(if $(filter testing,$(AWS_ACCESS_KEY_ID)),env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY)

# The `chalice deploy` route, with your AWS credentials: the stage's table, user pool and log
# groups (made if missing), their names and ARNs into .chalice/, then `chalice deploy`.
deploy: $(RUN_STAMP)  ## bootstrap, configure and chalice deploy with your AWS credentials (STAGE=dev|prod)
	@test -n "$(STAGE)" || { echo "usage: make deploy STAGE=dev|prod [BOOTSTRAP_ONLY=1]" >&2; exit 2; }
	$(BIN)/python -m tools.deploy --stage $(STAGE) $(if $(BOOTSTRAP_ONLY),--bootstrap-only) $(if $(API),--api $(API))

# Data migrations, after a deploy, with your AWS credentials; DRY_RUN=1 writes nothing.
migrate: $(RUN_STAMP)  ## data migrations after a deploy, with your AWS credentials (STAGE=, DRY_RUN=1)
	@test -n "$(STAGE)" || { echo "usage: make migrate STAGE=dev|prod [DRY_RUN=1]" >&2; exit 2; }
	$(BIN)/python -m tools.migrate --stage $(STAGE) $(if $(DRY_RUN),--dry-run)

# The levers of docs/runbook.md, without a deploy: STAGE=local is make run's backend (at
# BACKEND_PORT); another stage uses your AWS credentials. SET is validated before it is written.
# SET reaches the tool through the environment (make exports its command-line variables), never
# through the recipe's text: a value with a quote or a $ is the tool's to judge, not the shell's.
settings: $(RUN_STAMP)  ## show a stage's runtime settings, or change one (STAGE=, SET=name=value)
	@test -n "$(STAGE)" || { echo "usage: make settings STAGE=local|dev|prod [SET=name=value]" >&2; exit 2; }
	@$(if $(filter local,$(STAGE)),TODO_LOCAL_BACKEND=http://127.0.0.1:$(BACKEND_PORT)) \
		$(BIN)/python -m tools.settings --stage $(STAGE) $(if $(value SET),--set "$$SET")

# A stage's table restored to a point in time, into a new table, verified (docs/runbook.md):
# STAGE=local is make run's backend (at BACKEND_PORT); another stage uses your AWS credentials.
# STAGE and AT reach the tool through the environment, never through the shell.
restore: $(RUN_STAMP)  ## restore a stage's table as it was at a time, into a new table (STAGE=, AT=)
	@test -n "$(STAGE)" && test -n "$(AT)" || { echo "usage: make restore STAGE=local|dev|prod AT=2026-12-07T22:30:00Z" >&2; exit 2; }
	@$(if $(filter local,$(STAGE)),TODO_LOCAL_BACKEND=http://127.0.0.1:$(BACKEND_PORT)) \
		$(BIN)/python -m tools.restore --stage "$$STAGE" --at "$$AT"

# The packaged stack released through a CloudFormation change set, shown before it runs, and
# followed: the traffic shift (CodeDeploy, as the stage's traffic_shift says), and a clear line
# when it rolls back (docs/deploying.md). With your AWS credentials; STAGE reaches the tool
# through the environment.
release: $(RUN_STAMP)  ## release the packaged stack, traffic shifted gradually where the stage says (STAGE=, YES=1, API=)
	@test -n "$(STAGE)" || { echo "usage: make release STAGE=dev|prod [YES=1] [API=rest|http]" >&2; exit 2; }
	@case "$(YES)" in ""|1) ;; *) echo "YES must be 1, or left out" >&2; exit 2;; esac
	@$(BIN)/python -m tools.release release --stage "$$STAGE" $(if $(YES),--yes) $(if $(API),--api "$$API")

# Traffic back on the last good release at once: a shift in flight is stopped with rollback; a
# finished release's aliases go back to the versions the release before it made live.
rollback: $(RUN_STAMP)  ## send a stage's traffic back to its last good release, at once (STAGE=)
	@test -n "$(STAGE)" || { echo "usage: make rollback STAGE=dev|prod" >&2; exit 2; }
	@$(BIN)/python -m tools.release rollback --stage "$$STAGE"

clean:  ## remove the virtualenvs, build output and caches
	rm -rf $(VENV) $(CHECKOV_VENV) $(SAM_VENV) $(BENCH_VENV) build .pytest_cache .mypy_cache .ruff_cache

# --- local ---------------------------------------------------------------------------
PORT ?= 8000
BACKEND_PORT ?= $(shell echo $$(($(PORT) + 1)))
BACKEND ?= embedded

# The deployed stage's throttle and Cognito's quotas are enforced (tools/limits.py):
# LIMITS=off turns them off (load tests of the code itself); SCALE=N divides them by N.
LIMITS ?= on
LIMIT_FLAGS = $(if $(filter off,$(LIMITS)),--no-limits) $(if $(SCALE),--scale "$(SCALE)")
RUN_FLAGS = $(LIMIT_FLAGS) $(if $(LIKE),--like "$(LIKE)")
check-limits = @case "$(LIMITS)" in on|off) ;; *) echo "LIMITS must be on or off, not '$(LIMITS)'" >&2; exit 2;; esac

# `exec`: a recipe with quotes runs through /bin/sh, which would die of make's SIGTERM and leave
# the server behind; exec'd, the server itself gets it (and Ctrl-C, with its process group).
run: $(RUN_STAMP)  ## serve the API on PORT (8000) on the embedded backend, offline (LIMITS=off, SCALE=N, LIKE=prod)
	$(check-limits)
	exec $(BIN)/python -m tools.local run --port $(PORT) --backend-port $(BACKEND_PORT) --backend $(BACKEND) $(RUN_FLAGS)

# The embedded backend alone (DynamoDB + Cognito on BACKEND_PORT, default 8001), for
# `.venv/bin/chalice local --stage local`, which the local stage points at it.
backend: $(RUN_STAMP)  ## serve the embedded backend alone on BACKEND_PORT (8001), for chalice local
	$(check-limits)
	exec $(BIN)/python -m tools.local backend --backend-port $(BACKEND_PORT) $(LIMIT_FLAGS)

# Prints only the token on stdout, so that $(make -s token USER=alice) works.
token: $(RUN_STAMP)  ## print an ID token of the local pool (USER=alice)
	@test -n "$(USER)" || { echo "usage: make -s token USER=alice [PORT=8000]" >&2; exit 2; }
	@$(BIN)/python -m tools.local token --port $(PORT) --backend-port $(BACKEND_PORT) "$(USER)"

# A bounded concurrent load against the `make run` server (CLIENTS, SECONDS), then a check
# that nothing it created was lost. Loopback only; not part of `make test`.
CLIENTS ?= 8
SECONDS ?= 30
# With SIZES=100,1000,10000: a server of its own at those list sizes instead (tools/sizes.py):
# create, list and clear times, memory, exact tallies and the time Ctrl-C takes.
load: $(RUN_STAMP)  ## concurrent load against make run (CLIENTS, SECONDS); or SIZES=100,1000,10000
	$(if $(SIZES),$(BIN)/python -m tools.sizes --sizes "$(SIZES)",$(BIN)/python -m tools.load --port $(PORT) --backend-port $(BACKEND_PORT) --clients $(CLIENTS) --seconds $(SECONDS))

# The scheduled jobs, run once against the `make run` backend (schedules never fire locally).
cleanup: $(RUN_STAMP)  ## run the scheduled jobs once against the local backend
	@$(BIN)/python -m tools.local cleanup --port $(PORT) --backend-port $(BACKEND_PORT)
