# `make run`  : set up, then load the landing folder (or generated sample data) and build the marts.
# `make test` : set up, then run every test (lint, pytest end-to-end suites, dbt data and unit tests).
# `make report`: the monthly HTML report (MONTH=YYYY-MM to pick a month).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)
# The FinOps Foundation's FOCUS validator needs Python 3.12: its own virtualenv, for the tests only.
FOCUS_PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12; do $$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { command -v $$p; break; }; done)
FOCUS_VENV := .venv-focus
FOCUS_STAMP := $(FOCUS_VENV)/.installed-$(shell cat requirements-focus.lock | sha256sum | cut -c1-12)

.PHONY: setup browser focus-validator run test lint load build sample nightly rollback report clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check pip==26.3
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

run: setup
	$(BIN)/pstn run

load: setup
	$(BIN)/pstn load

build: setup
	$(BIN)/pstn build

nightly: setup
	$(BIN)/pstn nightly

rollback: setup
	$(BIN)/pstn rollback

# The monthly HTML report from the marts (MONTH=YYYY-MM, default the latest month built).
report: setup
	$(BIN)/pstn report $(if $(MONTH),--month $(MONTH))

# Debian's Chromium renders the report in its test (installed once; needs root or sudo).
browser:
	@command -v chromium >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y --no-install-recommends chromium >/dev/null \
		|| { $$SUDO apt-get update >/dev/null && $$SUDO apt-get install -y --no-install-recommends chromium >/dev/null; }; }
	@command -v chromium >/dev/null

focus-validator: $(FOCUS_STAMP)

$(FOCUS_STAMP): requirements-focus.lock
	@test -n "$(FOCUS_PYTHON)" || { echo "the FOCUS conformance test needs Python 3.12: install it or set FOCUS_PYTHON"; exit 1; }
	rm -rf $(FOCUS_VENV)
	$(FOCUS_PYTHON) -m venv $(FOCUS_VENV)
	$(FOCUS_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements-focus.lock
	touch $@

sample: setup
	$(BIN)/pstn generate --out $${PSTN_RAW_DIR:-data/raw}

lint: setup
	$(BIN)/ruff check src tests scripts models
	$(BIN)/ruff format --check src tests scripts models

test: setup browser focus-validator lint
	$(BIN)/pytest tests/pytest

clean:
	rm -rf $(VENV) $(FOCUS_VENV) target logs data
