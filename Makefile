# Two commands set up everything on a fresh machine: `make demo` and `make test`.
# Each creates or refreshes .venv from pyproject.toml; nothing else is needed beforehand.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS := testing,dev,fastapi,flask,events,docs,identity
PG15_BINDIR ?= /usr/lib/postgresql/15/bin
# Each suite gets at most this long (seconds): a hang fails the run with pytest's own
# report of where it stood (SIGINT), instead of eating CI's whole budget.
SUITE_TIMEOUT ?= 1200
TIMEOUT := timeout -s INT -k 60 $(SUITE_TIMEOUT)

.PHONY: venv system-deps container-image citus test test-suites test-pg18 test-pg15 test-container test-psycopg-lowest test-citus lint docs demo bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $(STAMP)

# PgBouncer (Debian package) for the transaction-pooling tests; they skip without it.
system-deps:
	@if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "== installing pgbouncer for the pooling tests"; \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -q pgbouncer >/dev/null 2>&1 \
				|| { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q pgbouncer >/dev/null 2>&1; } \
				|| echo "   could not install pgbouncer: its tests will be skipped"; \
		else \
			echo "== pgbouncer is not installed: its tests will be skipped"; \
		fi; \
	fi

# A Docker engine and a PostgreSQL image honouring the official `postgres` image's
# contract, built from Debian's packages (no registry needed) and cached by recipe
# hash; see scripts/container-image.sh. One line, and no failure, where impossible.
container-image:
	@scripts/container-image.sh >/dev/null; rc=$$?; [ $$rc = 3 ] || exit $$rc

# Citus (a TEST dependency, AGPL: never in the wheel), built from the vendored tarball
# (../shared/vendor/citus/) against the embedded PostgreSQL into ~/.cache/tenantkit/,
# keyed by tarball hash + PostgreSQL version: about 90 s once, then instant. One line,
# and no failure, where it cannot be built (the Citus tests then skip saying why).
citus: $(STAMP)
	@scripts/citus-build.sh $(PY) >/dev/null; rc=$$?; [ $$rc = 3 ] || exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check tenantkit tests benchmarks examples migrations
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict benchmarks

# The suite runs on the embedded PostgreSQL 18, then again on the distribution's
# PostgreSQL 15 where its binaries are installed, then in a container (TCP, password)
# where a Docker engine and the image can be had. TENANTKIT_TEST_SERVER pins each
# run's server kind, so an engine that answers never changes what the first run uses.
# The three runs use three servers and are mostly waiting on them, so they run side
# by side (output kept per run): about 6 minutes instead of 10 on this 2-core VM.
test: lint system-deps
	@$(MAKE) --no-print-directory -j3 -O test-suites

test-suites: test-pg18 test-pg15 test-container test-psycopg-lowest test-citus

test-pg18: $(STAMP)
	TENANTKIT_TEST_SERVER=embedded $(TIMEOUT) $(PY) -m pytest -m "not citus"

# The Citus suite (tests using the `citus_cluster` fixture: coordinator + 2 workers),
# after building Citus when no build is cached. Mostly waiting on the cluster, so it
# runs beside the others; the build (first run only) and suite stay under 5 minutes.
test-citus: $(STAMP)
	@bindir=$$(timeout 600 scripts/citus-build.sh $(PY)); rc=$$?; \
	if [ $$rc = 3 ]; then exit 0; elif [ $$rc != 0 ]; then exit $$rc; fi; \
	echo "== the Citus suite on a coordinator + 2 workers ($$bindir)"; \
	TENANTKIT_TEST_CITUS_BINDIR="$$bindir" TENANTKIT_TEST_SERVER=embedded \
		$(TIMEOUT) $(PY) -m pytest -m citus

test-pg15: $(STAMP)
	@if [ -x "$(PG15_BINDIR)/initdb" ]; then \
		echo "== the suite again on PostgreSQL 15 ($(PG15_BINDIR))"; \
		TENANTKIT_TEST_PG_BINDIR="$(PG15_BINDIR)" $(TIMEOUT) $(PY) -m pytest -m "not nodb and not citus"; \
	else \
		echo "== skipping the PostgreSQL 15 run: no server binaries at $(PG15_BINDIR)"; \
	fi

# Ryuk (testcontainers' reaper) cannot be pulled without a registry; the harness
# removes its own containers, and the last step fails if any were left.
test-container: $(STAMP)
	@vars=$$(timeout 600 scripts/container-image.sh); rc=$$?; \
	if [ $$rc = 3 ]; then exit 0; elif [ $$rc != 0 ]; then exit $$rc; fi; \
	echo "== the suite again in a container: $$vars"; \
	env $$vars TENANTKIT_TEST_SERVER=docker TESTCONTAINERS_RYUK_DISABLED=true \
		$(TIMEOUT) $(PY) -m pytest -m "not nodb and not citus"; rc=$$?; \
	env $$vars $(PY) -m tenantkit.testing.containers || rc=1; \
	exit $$rc

# The binding rides psycopg's transaction start (tenantkit/db/_psycopg.py): its
# tests run again on the lowest psycopg pyproject.toml allows, in a venv of its
# own (.venv resolves to the highest).
PSYCOPG_LOWEST := $(shell sed -n 's/.*"psycopg\[binary\]>=\([0-9.]*\),.*/\1/p' pyproject.toml)
LOWEST_VENV := .venv-psycopg-lowest

$(LOWEST_VENV)/.installed: pyproject.toml
	@test -x $(LOWEST_VENV)/bin/python || $(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python -m pip install --quiet -e ".[$(EXTRAS)]" "psycopg[binary]==$(PSYCOPG_LOWEST)"
	@touch $@

test-psycopg-lowest: $(LOWEST_VENV)/.installed
	@echo "== the binding tests on psycopg $(PSYCOPG_LOWEST), the lowest pyproject.toml allows"
	TENANTKIT_TEST_SERVER=embedded $(TIMEOUT) $(LOWEST_VENV)/bin/python -m pytest tests/db -q

# The docs site (mkdocs-material + mkdocstrings, the `docs` extra), warnings as errors.
# Its pages include the README's sections; tests/docs/ runs their code blocks.
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

demo: $(STAMP)
	$(VENV)/bin/tenantkit demo

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) $(LOWEST_VENV) build dist site .pytest_cache .mypy_cache .ruff_cache
