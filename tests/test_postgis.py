"""The PostGIS backend beyond the store contract: its schema (Alembic, geography column, GiST index, the
operations records' schemas), the `store`/`database_url` settings, `stationmap db upgrade`, and a writer
killed inside its transaction.

Runs against a real PostgreSQL 15 + PostGIS 3 server started by the `postgres_server` fixture.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest
from cli_runner import stationmap

from stationmap.ops.accounts import User
from stationmap.ops.audit import _dump, open_audit
from stationmap.ops.editing import edit_station
from stationmap.store import open_store
from stationmap.store.postgis import PostgisStore

PUNING = "445281"


@pytest.fixture
def pg_env(postgis_url, monkeypatch):
    from stationmap.ops.db import dispose

    monkeypatch.setenv("STATIONMAP_DATABASE_URL", postgis_url)
    monkeypatch.delenv("STATIONMAP_STORE", raising=False)
    yield postgis_url
    dispose(postgis_url)


def test_database_url_chooses_postgis_and_the_schema_is_alembics(pg_env, tmp_path):
    store = open_store(tmp_path)
    assert store.describe().startswith("PostGIS ") and len(store.all()) == 135
    assert not (tmp_path / "stations.gpkg").exists() and not (tmp_path / "audit.sqlite").exists()
    with psycopg.connect(pg_env) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0002"
        assert con.execute("SELECT actor, action, state FROM audit.changes").fetchall() == [("system", "sample", "committed")]
        assert con.execute("SELECT count(*) FROM audit.items").fetchone()[0] == len(store.all())
        assert con.execute("SELECT udt_name FROM information_schema.columns WHERE table_name = 'stations' "
                           "AND column_name = 'geog'").fetchone()[0] == "geography"
        assert "USING gist (geog)" in con.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'stations_geog'").fetchone()[0]
        s = store.all()[0]  # the geography point is the station's WGS-84 position
        lon, lat = con.execute("SELECT ST_X(geog::geometry), ST_Y(geog::geometry) FROM stations WHERE id = %s", (s.id,)).fetchone()
        assert (lat, lon) == (s.lat, s.lon)
        near = con.execute("SELECT id FROM stations ORDER BY geog <-> ST_MakePoint(%s, %s)::geography LIMIT 1",
                           (s.lon, s.lat)).fetchone()[0]
        assert near == s.id


def test_the_store_setting_overrides_and_postgis_without_a_url_is_refused(pg_env, tmp_path, monkeypatch):
    monkeypatch.setenv("STATIONMAP_STORE", "gpkg")
    assert open_store(tmp_path / "g").describe().startswith("GeoPackage")
    monkeypatch.setenv("STATIONMAP_STORE", "postgis")
    monkeypatch.delenv("STATIONMAP_DATABASE_URL")
    from stationmap.errors import InvalidInput

    with pytest.raises(InvalidInput, match="set database_url"):
        open_store(tmp_path / "p")


def test_an_unreachable_database_says_so(tmp_path):
    from stationmap.errors import RegistryUnavailable

    with pytest.raises(RegistryUnavailable, match="cannot open the PostGIS registry"):
        PostgisStore(f"postgresql://nobody:secret@/none?host={tmp_path}&port=1")


def test_db_upgrade_command_creates_the_schema(postgis_url, tmp_path):
    out = stationmap("db", "upgrade", env={"STATIONMAP_DATABASE_URL": postgis_url})
    assert out.exit_code == 0, out.stderr
    assert "registry schema at head" in out.stdout
    tables = ("stations", "accounts.users", "accounts.tokens", "accounts.login_failures", "accounts.devices",
              "audit.changes", "audit.items", "audit.notes", "telemetry.reports", "telemetry.latest",
              "reports.reports", "reports.salts")
    with psycopg.connect(postgis_url) as con:
        assert con.execute("SELECT " + ", ".join(f"to_regclass('{t}') IS NOT NULL" for t in tables)).fetchone() == \
            (True,) * len(tables)


def test_records_in_an_unreachable_database_say_so_without_the_password(tmp_path):
    from stationmap.errors import ServerUnavailable
    from stationmap.ops.accounts import open_accounts

    accounts = open_accounts(tmp_path, f"postgresql://nobody:secret@/none?host={tmp_path}&port=1")
    with pytest.raises(ServerUnavailable, match="database .*nobody:\\*\\*\\*@.* is unavailable") as refused:
        accounts.users()
    assert "secret" not in str(refused.value) and refused.value.status == 503


_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import stationmap.store.postgis as postgis
    from stationmap.ops.accounts import User
    from stationmap.ops.editing import edit_station
    from stationmap.store import open_store
    data_dir, station_id, flag = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

    def stall(cur):
        flag.write_text("stalled")
        time.sleep(60)  # the parent kills us here, inside the transaction

    postgis._before_commit = stall
    edit_station(open_store(data_dir), User("crash", "admin"), station_id, {"address": "永远写不完"}, "*")
""")


def test_a_writer_killed_inside_its_transaction_leaves_the_old_row_and_the_audit_agrees(pg_env, tmp_path):
    store = open_store(tmp_path)
    s = next(x for x in store.all() if x.district == PUNING)
    flag = tmp_path / "flag"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), s.id, str(flag)],
                            stderr=subprocess.PIPE, cwd=Path(__file__).parent.parent)
    end = time.monotonic() + 60
    while not flag.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < end
        time.sleep(0.02)
    assert open_audit(tmp_path).pending() == 1
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stderr.close()
    reopened = open_store(tmp_path)
    assert reopened.get(s.id) == s
    edited = edit_station(reopened, User("root", "admin"), s.id, {"address": "之后"}, "*")  # lock released; settles the entry
    assert open_audit(tmp_path).pending() == 0
    assert not open_audit(tmp_path).entries(station_id=s.id, actor="crash")  # aborted: not in the log
    [entry] = open_audit(tmp_path).entries(station_id=s.id, actor="root")
    assert entry.after == __import__("json").loads(_dump(edited)) and open_store(tmp_path).get(s.id).address == "之后"



def test_workers_opening_a_new_database_together_migrate_it_once(postgis_url):
    import multiprocessing

    from stationmap.store.postgis import upgrade

    workers = [multiprocessing.get_context("fork").Process(target=upgrade, args=(postgis_url,)) for _ in range(3)]
    for w in workers:  # each would create the tables: one does, the others wait for it, then find them there
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    with psycopg.connect(postgis_url) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [("0002",)]


def test_a_large_write_goes_in_whole_and_exact(postgis_url, monkeypatch):
    """An import-sized write (streamed in by COPY; the size lowered here) stores every field and every coordinate
    exactly as given, the geography point included, and a second one replaces and updates rows by id."""
    import dataclasses

    from stationmap.store import load_sample, postgis

    monkeypatch.setattr(postgis, "BULK_ROWS", 20)
    sample = load_sample()
    many = [dataclasses.replace(sample[i % len(sample)], id=f"bulk-{i:05d}", name=f"驿站 {i} 'quoted' \\ tab\t",
                                lat=sample[i % len(sample)].lat + i * 1.234567e-7, lon=sample[i % len(sample)].lon)
            for i in range(postgis.BULK_ROWS * 8)]
    store = PostgisStore(postgis_url)
    assert store.update(lambda _old: many)
    assert PostgisStore(postgis_url).all() == sorted(many, key=lambda s: s.id)
    moved = [dataclasses.replace(s, lon=s.lon + 1e-6, address="新地址") for s in many[postgis.BULK_ROWS:]]
    assert store.update(lambda _old: moved)
    assert PostgisStore(postgis_url).all() == sorted(moved, key=lambda s: s.id)
    with psycopg.connect(postgis_url) as con:
        assert con.execute("SELECT count(*) FROM stations WHERE ST_X(geog::geometry) <> lon "
                           "OR ST_Y(geog::geometry) <> lat").fetchone()[0] == 0
