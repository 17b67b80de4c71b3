# govlib: two commands set everything up on a fresh machine.
#   make demo   -> .venv, install, seeded demo store, Voila apps on http://127.0.0.1:8866
#   make serve  -> the apps on the existing store (no rebuild: verdicts and runs are kept)
#   make test   -> .venv with the test and spark extras, Debian chromium and Java, the whole suite
#   make test-fast -> the suite without browser, slow and soak tests (under a minute)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PORT   ?= 8866

.PHONY: demo serve test test-fast lint bench install install-test install-spark chromium java clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

# A stamp: the test extra is installed again only when pyproject.toml changes (pip's own
# no-op check takes ~4 s, a fifteenth of `make test-fast`).
install-test: $(VENV)/.installed-test

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# pyspark for `govlib stats --engine spark` and its DuckDB/Spark comparison test.
install-spark: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'

# Spark needs a Java runtime: Debian's OpenJDK 17, installed like chromium.
java:
	@if ! command -v java >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "Installing Debian OpenJDK 17 for the Spark tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
	  else \
	    echo "java missing: run 'sudo apt-get install -y openjdk-17-jre-headless' (the Spark test fails in CI without it)"; \
	  fi; \
	fi

chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "Installing Debian chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium missing: run 'sudo apt-get install -y chromium' (browser tests fail in CI without it)"; \
	  fi; \
	fi

demo: install
	$(BIN)/govlib demo
	$(BIN)/govlib serve --port $(PORT)

# Serve the store as it is (`make demo` wipes and rebuilds it, verdicts included).
serve: install
	$(BIN)/govlib serve --port $(PORT)

test: install-test install-spark chromium java
	$(BIN)/python -m pytest -q -m "not soak" $(PYTEST_ARGS)

# The inner loop: no browser, no slow or soak test, property tests with a quarter of their
# examples (GOVLIB_TEST_FAST, tests/harness.py `examples`); under a minute on 2 cores. Bytecode is kept
# even where PYTHONDONTWRITEBYTECODE is set: pytest's rewritten test modules are then not
# recompiled by each worker at every run (7 of the 14 s of collection).
test-fast: install-test
	PYTHONDONTWRITEBYTECODE= GOVLIB_TEST_FAST=1 $(BIN)/python -m pytest -q -n 2 -m "not slow and not browser and not soak" $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check govlib tests benchmarks
	$(BIN)/ruff format --check govlib tests benchmarks

bench: install-test install-spark java
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
