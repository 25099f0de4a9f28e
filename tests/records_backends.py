"""Where the operations records (accounts, audit, telemetry, reports) are kept, for tests run against both
places: SQLite files in the data directory (the default), or the registry's PostgreSQL database.

Import `records` into a test module and ask for it (or use it with `pytest.mark.usefixtures`). For
"postgresql" each test gets a fresh database copied from a template made once per test process (migrated,
sample registry loaded and journaled, as `registry_dir` holds it), and STATIONMAP_DATABASE_URL names it,
so `open_store`, `open_accounts`, `open_audit`, `open_telemetry`, `open_reports` and the CLI all use it.
"""
from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import psycopg
import pytest


def _database(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


@pytest.fixture(scope="session")
def _records_template(postgres_server, tmp_path_factory) -> str:
    """A database with the schema at head and the sample registry in it; no connection left open to it."""
    from stationmap.ops.audit import open_audit
    from stationmap.ops.db import dispose
    from stationmap.store import load_sample
    from stationmap.store.postgis import PostgisStore

    url = postgres_server.new_database()
    store = PostgisStore(url, journal=open_audit(tmp_path_factory.mktemp("records-template"), url))
    store.update(lambda old: old or load_sample(), note={"actor": "system", "action": "sample"})
    dispose(url)
    with psycopg.connect(postgres_server.url, autocommit=True) as con:  # a template must have no sessions
        con.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                    "AND pid <> pg_backend_pid()", (_database(url),))
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def records(request, monkeypatch):
    """'sqlite' or 'postgresql' (with STATIONMAP_DATABASE_URL set to a fresh copy of the template)."""
    if request.param == "sqlite":
        yield request.param
        return
    from stationmap.ops.db import dispose

    server = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("_records_template")
    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name} TEMPLATE {_database(template)}")
    url = template.replace(f"/{_database(template)}?", f"/{name}?")
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", url)
    monkeypatch.delenv("STATIONMAP_STORE", raising=False)
    yield request.param
    dispose(url)  # the server serves every test of this process: leave no idle connections behind


def stored_bytes(place) -> bytes:
    """Everything a kind of records holds, as bytes to search: the SQLite file, or its schema's rows."""
    from stationmap.ops.db import Postgres

    if not isinstance(place, Postgres):
        return place.read_bytes()
    with psycopg.connect(place.url) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                                            (place.schema,))]
        assert tables, place.schema
        return repr([con.execute(f'SELECT * FROM "{place.schema}"."{t}"').fetchall() for t in tables]).encode()
