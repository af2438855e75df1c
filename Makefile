# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: bench run test test-chaos test-unit test-integration test-e2e install clean schemas chromium

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=python3.11)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Run the whole system: embedded PostgreSQL + broker, the four services, dev API keys.
run: $(STAMP)
	$(BIN)/cxc run

## Headless Chromium for the dashboard's browser test: installed when missing if we may (root, apt-get);
## otherwise that test is skipped with the reason.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } \
	  || echo "chromium is not installed and cannot be installed here: the browser test will be skipped"

## The whole test suite (unit, integration, end-to-end).
test: $(STAMP) chromium
	$(BIN)/python -m pytest -m "not chaos"

## Fault injection on the whole system under load; writes docs/reliability.md.
test-chaos: $(STAMP)
	$(BIN)/python -m pytest -m chaos tests/chaos

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

test-e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e

## Benchmarks (not tests): print numbers and regenerate docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python -m bench.run_all

schemas: $(STAMP)
	$(BIN)/cxc schemas export schemas

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
