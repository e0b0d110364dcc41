# The two commands: `make run` and `make test`. Each does all set-up on its own.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_SITE ?= dartwing.localhost
TEST_SITE ?= test_site

.PHONY: run test lint pytest services install site test-site bench clean-sites assets chromium

$(STAMP): requirements/benchless.txt requirements/dev.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required"; exit 1; }
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && $$sudo apt-get install -y -qq python3-venv >/dev/null; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

services:
	@bash scripts/ensure-services.sh

assets: install
	@bash scripts/build-assets.sh

chromium:
	@bash scripts/ensure-chromium.sh

site: install services assets
	$(PY) -m benchless setup --site $(RUN_SITE) --demo

test-site: install services assets
	$(PY) -m benchless setup --site $(TEST_SITE)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@bash scripts/build-assets.sh --lint

pytest: test-site chromium
	$(VENV)/bin/pytest -q

test: lint pytest

run: site
	$(PY) -m benchless start --site $(RUN_SITE)

bench: test-site
	$(PY) -m benchmarks.run_all

clean-sites:
	rm -rf sites
