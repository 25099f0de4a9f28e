"""Shared pytest fixtures."""
import os as _os

# runners of costly questions started by the tests wait for the next question as long as the service's do (a
# session's live servers are asked again minutes apart), and are stopped when the session ends
# (`_runners_stop_with_the_session`)
_os.environ.setdefault("STATIONMAP_JOB_IDLE_EXIT_S", "120")
# passwords hashed at scrypt n = 2**10 rather than the service's 2**15 (test_accounts checks that default):
# the suite signs in and creates accounts a few hundred times
_os.environ.setdefault("STATIONMAP_PASSWORD_WORK", "10")


# -- registry data directories: accounts, editing, telemetry -------------------------------------
import shutil as _shutil

import pytest as _pytest


@_pytest.fixture(scope="session", autouse=True)
def _runners_stop_with_the_session(tmp_path_factory):
    """The question runners of this session's data directories stop with it, not after their idle wait."""
    yield
    import subprocess
    import sys

    pattern = f"^{sys.executable} -m stationmap.query.jobs run --data-dir {tmp_path_factory.getbasetemp()}/"
    subprocess.run(["pkill", "-f", pattern], check=False)


@_pytest.fixture(scope="session")
def _registry_template(tmp_path_factory):
    """One sample registry (stations.gpkg + audit.sqlite) built once per session."""
    from stationmap.store import open_store

    d = tmp_path_factory.mktemp("registry-template")
    open_store(d)
    return d


@_pytest.fixture
def registry_dir(_registry_template, tmp_path):
    """A fresh copy of the sample registry directory for one test."""
    d = tmp_path / "data"
    _shutil.copytree(_registry_template, d)
    return d


# -- the running web app: API, OGC API, pages -----------------------------------------------
@_pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The real app on a free loopback port, with its own sample registry; CORS and framing for one origin."""
    from webserver import start

    data = tmp_path_factory.mktemp("live-data")
    server = start({"data_dir": str(data), "cors_origins": ("https://union.example",),
                    "frame_origins": ("https://union.example",), "rate_limit_public": "100000/minute"})
    yield server
    server.stop()


@_pytest.fixture(scope="session")
def chromium():
    """Debian's headless Chromium driven by Playwright (skipped if /usr/bin/chromium is missing: `make browser`)."""
    import os

    from webserver import CHROMIUM, CHROMIUM_ARGS

    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI"):
            _pytest.fail("no /usr/bin/chromium in CI: `make browser` should have installed it")
        _pytest.skip("no /usr/bin/chromium: run `make browser`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# -- real servers for the scale-out configuration: PostgreSQL + PostGIS, Redis ----------------------
def _missing(what: str, target: str) -> None:
    """Fail in CI (the Makefile target should have installed it), skip elsewhere, saying how to install it."""
    if _os.environ.get("CI"):
        _pytest.fail(f"no {what} in CI: `make {target}` should have installed it")
    _pytest.skip(f"no {what}: run `make {target}`")


@_pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL 15 server with PostGIS 3 for the session (`servers.Postgres`): `new_database()` gives the
    URL of a fresh database with the postgis extension."""
    from servers import Postgres, have_postgis

    if not have_postgis():
        _missing("PostgreSQL 15 with PostGIS 3", "postgis")
    server = Postgres()
    try:
        yield server
    finally:
        server.remove()


@_pytest.fixture
def postgis_url(postgres_server) -> str:
    """A fresh PostGIS database for one test."""
    return postgres_server.new_database()


@_pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """Debian's redis-server on a unix socket in a temporary directory (no TCP, nothing kept); yields its URL."""
    from servers import Redis, redis_exe

    if not redis_exe():
        _missing("redis-server", "redis")
    server = Redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.stop()


# -- order: the longest modules first, so that the workers finish together ------------------------------
# pytest-xdist hands out whole modules (--dist loadscope: a module's fixtures are set up once) in collection
# order; these take the longest (summed seconds per module, largest first), the rest follow as collected.
FIRST = ("test_api_contract.py", "test_scaleout_e2e.py", "test_pages_e2e.py", "test_hostile_text_e2e.py",
         "test_worker_field_e2e.py", "test_planner_e2e.py", "test_jobs.py", "test_station_page_e2e.py",
         "test_siting.py", "test_geodata.py", "test_nearest.py", "test_store_contract.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(FIRST)))
