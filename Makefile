# facplan — set-up and everyday targets. `make demo` and `make test` work on a fresh
# machine with only Python 3.11: they create .venv and install what they need.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.facplan-installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint browser pdf bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

## Install, then compile the numba kernels into numba's cache (so the first run does not).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	$(BIN)/python -m facplan.warmup
	touch $@

## Run the embedded offline demo; writes maps/demo/map.html and the other outputs.
## `facplan demo` builds its inputs in the cache folder (it never writes into the
## package); data/demo is built here too, for `facplan run scenarios/demo.yaml`.
demo: $(STAMP)
	$(BIN)/python -m facplan.demo
	$(BIN)/facplan demo --out maps/demo

## Debian's chromium + chromedriver for the real-browser map tests.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver fonts-wqy-microhei; \
	fi

## Debian's poppler-utils (pdftoppm, pdftotext): the tests render report.pdf's pages.
pdf:
	@if [ ! -x /usr/bin/pdftoppm ]; then \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends poppler-utils; \
	fi

## ruff, and the import contract of DESIGN's architecture rules (import-linter, pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check facplan tests benchmarks
	$(BIN)/lint-imports

## Everything the tests need, then the whole suite (pytest's exit 5, no tests, fails).
test: $(STAMP) browser pdf postgres lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m pip install -e '.[test,bench]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) maps/demo data/demo .pytest_cache

.PHONY: docs screenshot

## Regenerate docs/scenario.md and the standards table of docs/standards.md from the code.
docs: $(STAMP)
	$(BIN)/python -m facplan.docs

## Refresh docs/demo-map.png: run the demo, then photograph the real page with Debian's
## headless chromium. Host names resolve to nothing, so no base-map tile is fetched and
## the picture is the same offline as online.
screenshot: $(STAMP) browser
	$(BIN)/facplan demo --out maps/demo
	timeout 300 chromium --headless=new --no-sandbox --disable-gpu \
		--disable-background-networking --no-first-run --hide-scrollbars \
		--host-resolver-rules="MAP * ~NOTFOUND" \
		--window-size=1280,900 --virtual-time-budget=5000 \
		--screenshot=docs/demo-map.png file://$(CURDIR)/maps/demo/map.html

.PHONY: postgres

## Debian's PostgreSQL server and PostGIS for tests/test_postgis.py (which starts its own
## throwaway server). The version is the installed server's (/usr/lib/postgresql/<ver>),
## else pg_config's, else the one apt offers. Never fails: without apt the PostGIS tests
## skip and say why.
postgres:
	@pgver() { \
		ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sed 's|/usr/lib/postgresql/||; s|/bin/initdb||' | sort -n | tail -1; \
	}; \
	ver=$$(pgver); \
	[ -n "$$ver" ] || ver=$$(pg_config --version 2>/dev/null | sed -n 's/^PostgreSQL \([0-9][0-9]*\).*/\1/p'); \
	if [ -n "$$ver" ] && [ -x /usr/lib/postgresql/$$ver/bin/initdb ] \
		&& [ -f /usr/share/postgresql/$$ver/extension/postgis.control ]; then \
		echo "postgres: PostgreSQL $$ver with PostGIS is installed"; exit 0; \
	fi; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	if ! command -v apt-get >/dev/null 2>&1 || ! $$sudo true 2>/dev/null; then \
		echo "warning: postgres: cannot install PostgreSQL/PostGIS (no apt-get or no root); the PostGIS tests will skip"; exit 0; \
	fi; \
	$$sudo apt-get update -qq || echo "warning: postgres: apt-get update failed"; \
	[ -n "$$ver" ] || ver=$$(apt-cache policy postgresql 2>/dev/null | sed -n 's/^ *Candidate: \([0-9][0-9]*\)+.*/\1/p'); \
	if [ -z "$$ver" ]; then \
		echo "warning: postgres: apt offers no 'postgresql' package; the PostGIS tests will skip"; exit 0; \
	fi; \
	echo "postgres: installing postgresql-$$ver and postgresql-$$ver-postgis-3"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		postgresql postgresql-$$ver postgresql-$$ver-postgis-3 \
		|| echo "warning: postgres: apt-get install failed; the PostGIS tests will skip"
