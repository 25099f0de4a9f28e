"""Shared pytest fixtures."""
import os as _os

# runners of costly questions started by the tests exit soon after their last question
_os.environ.setdefault("STATIONMAP_JOB_IDLE_EXIT_S", "10")


# -- registry data directories: accounts, editing, telemetry -------------------------------------
import shutil as _shutil

import pytest as _pytest


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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@_pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL 15 server with PostGIS 3 in a temporary directory, on a free port and a unix socket
    there; run as the `postgres` user when the tests run as root (the server refuses root). Yields an
    object whose `new_database()` returns the URL of a fresh database with the postgis extension."""
    import subprocess
    import tempfile
    import uuid

    bindir = "/usr/lib/postgresql/15/bin"
    if not _os.access(f"{bindir}/initdb", _os.X_OK) or not _os.path.exists(
            "/usr/share/postgresql/15/extension/postgis.control"):
        _missing("PostgreSQL 15 with PostGIS 3", "postgis")
    as_root = _os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = tempfile.mkdtemp(prefix="stationmap-pg-")
    if as_root:
        import pwd

        pw = pwd.getpwnam("postgres")
        _os.chown(base, pw.pw_uid, pw.pw_gid)
    data, port = f"{base}/data", _free_port()
    user = "postgres" if as_root else None
    subprocess.run([*prefix, f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", user or "postgres", "--no-sync",
                    "-E", "UTF8", "--locale", "C"], check=True, capture_output=True)
    subprocess.run([*prefix, f"{bindir}/pg_ctl", "-D", data, "-l", f"{base}/log", "-w", "-o",
                    f"-p {port} -k {base} -c listen_addresses='' -c fsync=off", "start"], check=True, capture_output=True)

    class Server:
        url = f"postgresql://postgres@/postgres?host={base}&port={port}"

        def new_database(self) -> str:
            import psycopg

            name = f"t_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(self.url, autocommit=True) as con:
                con.execute(f"CREATE DATABASE {name} TEMPLATE template_postgis")
            return f"postgresql://postgres@/{name}?host={base}&port={port}"

    import psycopg

    with psycopg.connect(Server.url, autocommit=True) as con:
        con.execute("CREATE DATABASE template_postgis")
    with psycopg.connect(f"postgresql://postgres@/template_postgis?host={base}&port={port}", autocommit=True) as con:
        con.execute("CREATE EXTENSION postgis")
    try:
        yield Server()
    finally:
        subprocess.run([*prefix, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        _shutil.rmtree(base, ignore_errors=True)


@_pytest.fixture
def postgis_url(postgres_server) -> str:
    """A fresh PostGIS database for one test."""
    return postgres_server.new_database()


@_pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """Debian's redis-server on a unix socket in a temporary directory (no TCP, nothing kept); yields its URL."""
    import subprocess
    import time

    exe = _shutil.which("redis-server") or "/usr/bin/redis-server"
    if not _os.access(exe, _os.X_OK):
        _missing("redis-server", "redis")
    d = tmp_path_factory.mktemp("redis")
    sock = d / "redis.sock"
    proc = subprocess.Popen([exe, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700", "--save", "",
                             "--appendonly", "no", "--dir", str(d)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 30
    while not sock.exists():
        assert proc.poll() is None and time.monotonic() < end, "redis-server did not start"
        time.sleep(0.02)
    try:
        yield f"redis+unix://{sock}"
    finally:
        proc.terminate()
        proc.wait(10)
