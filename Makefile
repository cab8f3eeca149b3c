# `make run`  : set up, then load the landing folder (or generated sample data) and build the marts.
# `make test` : set up, then run every test (lint, pytest end-to-end suites, dbt data and unit tests).
# `make report`: the monthly HTML report (MONTH=YYYY-MM to pick a month).
SHELL := /bin/bash
# Python 3.11, 3.12 or 3.13 (one lock serves all three); PYTHON=python3.13 picks one.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# SPARK=0 leaves Apache Spark out (pyspark, dbt-spark: about 320 MB) for DuckDB-only use.
SPARK ?= 1
SPARK_ONLY := ^(dbt-spark|pyspark|py4j|sqlparams)==
LOCK := $(if $(filter 0,$(SPARK)),<(grep -Ev '$(SPARK_ONLY)' requirements.lock),requirements.lock)
STAMP := $(VENV)/.installed-$(shell { cat requirements.lock pyproject.toml; echo "$(PYTHON) $(SPARK)"; } | sha256sum | cut -c1-12)
# The DuckDB-only smoke run of `make test` (`make run` and the end-to-end tests) on these Pythons
# too; SMOKE_PYTHONS= skips it.
SMOKE_PYTHONS ?= 3.12 3.13
find_python = $(shell for p in python$(1) $$HOME/.pyenv/versions/$(1)*/bin/python$(1); do $$p -c 'import sys; assert sys.version_info[:2] == ($(subst .,$(comma) ,$(1)))' 2>/dev/null && { command -v $$p; break; }; done)
comma := ,
# The FinOps Foundation's FOCUS validator needs Python 3.12: its own virtualenv, for the tests only.
FOCUS_PYTHON ?= $(call find_python,3.12)
FOCUS_VENV := .venv-focus
FOCUS_STAMP := $(FOCUS_VENV)/.installed-$(shell cat requirements-focus.lock | sha256sum | cut -c1-12)
# The SQL linter's virtualenv: sqlfluff only; dbt and the project come from $(VENV).
LINT_VENV := .venv-lint
LINT_STAMP := $(LINT_VENV)/.installed-$(shell cat requirements-lint.lock | sha256sum | cut -c1-12)
purelib = $$($(1) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

.PHONY: setup browser postgres focus-validator sql-linter run test lint rules smoke load build sample nightly publish rollback report clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 13), "Python 3.11, 3.12 or 3.13 is required (set PYTHON=...)"'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check pip==26.3
	$(BIN)/pip install --quiet --disable-pip-version-check -r $(LOCK)
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

# The marts into PostgreSQL (PSTN_POSTGRES_URL, or POSTGRES=postgresql://...).
publish: setup
	$(BIN)/pstn publish $(if $(POSTGRES),--postgres $(POSTGRES))

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

# Debian's PostgreSQL server for the publish tests (installed once; needs root or sudo).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y --no-install-recommends postgresql >/dev/null \
		|| { $$SUDO apt-get update >/dev/null && $$SUDO apt-get install -y --no-install-recommends postgresql >/dev/null; }; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1

focus-validator: $(FOCUS_STAMP)

$(FOCUS_STAMP): requirements-focus.lock
	@test -n "$(FOCUS_PYTHON)" || { echo "the FOCUS conformance test needs Python 3.12: install it or set FOCUS_PYTHON"; exit 1; }
	rm -rf $(FOCUS_VENV)
	$(FOCUS_PYTHON) -m venv $(FOCUS_VENV)
	$(FOCUS_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements-focus.lock
	touch $@

sql-linter: $(LINT_STAMP)

$(LINT_STAMP): requirements-lint.lock $(STAMP)
	rm -rf $(LINT_VENV)
	$(BIN)/python -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements-lint.lock
	echo "import site; site.addsitedir('$(call purelib,$(BIN)/python)')" > $(call purelib,$(LINT_VENV)/bin/python)/main_venv.pth
	touch $@

sample: setup
	$(BIN)/pstn generate --out $${PSTN_RAW_DIR:-data/raw}

# Python with ruff; SQL with sqlfluff (.sqlfluff: dbt's templater, DuckDB's dialect, the house
# style), compiled against an empty scratch warehouse so it needs no build. A file sqlfluff could
# not compile fails the lint instead of being skipped.
lint: setup sql-linter
	$(BIN)/ruff check src tests scripts models
	$(BIN)/ruff format --check src tests scripts models
	@scratch=$$(mktemp -d); \
	PSTN_WAREHOUSE=$$scratch/warehouse.duckdb $(LINT_VENV)/bin/sqlfluff lint models tests/singular \
		> $$scratch/sqlfluff.log 2>&1; status=$$?; \
	grep -v '^=== \[dbt templater\]' $$scratch/sqlfluff.log; \
	if grep -q 'Skipped file' $$scratch/sqlfluff.log; then status=1; fi; \
	rm -rf $$scratch; \
	if [ $$status -ne 0 ]; then echo "sqlfluff: fix the findings above (sqlfluff fix <file> fixes layout)"; fi; \
	exit $$status

# The dbt project against dbt-project-evaluator's rules (exceptions: project_rules_exceptions.csv).
rules: setup
	$(BIN)/dbt parse --quiet
	$(BIN)/python scripts/project_rules.py

# The suites run on PYTEST_WORKERS processes, a test file to a process (a file's built warehouses
# are shared by its tests), the files in their order so the two long Spark files start first.
PYTEST_WORKERS ?= 2

test: setup browser postgres focus-validator lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 tests/pytest
	$(MAKE) --no-print-directory smoke

# For each of SMOKE_PYTHONS, side by side: a DuckDB-only virtualenv from the same lock, then the
# end-to-end tests (which run `pstn run` on the sample first, as `make run` does).
smoke: focus-validator
	$(if $(SMOKE_PYTHONS),@$(MAKE) --no-print-directory -j 2 --output-sync=target $(addprefix smoke-,$(SMOKE_PYTHONS)))

smoke-%:
	@python=$$($(MAKE) --no-print-directory -s which-python VERSION=$*); \
	test -n "$$python" || { echo "smoke run: Python $* not found (install it, or set SMOKE_PYTHONS)"; exit 1; }; \
	$(MAKE) --no-print-directory setup PYTHON=$$python VENV=.venv-$* SPARK=0 || exit 1; \
	echo "smoke run on $$($$python --version)"; \
	.venv-$*/bin/pytest -q tests/pytest/test_end_to_end.py

which-python:
	@echo $(call find_python,$(VERSION))

clean:
	rm -rf $(VENV) $(FOCUS_VENV) .venv-3.* target logs data
