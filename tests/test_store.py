"""The GeoPackage backend beyond the store contract (the file QGIS opens, crash safety, stray files), and choosing a backend.

What every backend promises is in test_store_contract.py; these tests look at the file itself.
"""
import hashlib
import multiprocessing as mp
import os
import sqlite3

import pyogrio
import pytest

from stationmap.errors import InvalidInput, RegistryUnavailable
from stationmap.model import make_station
from stationmap.store import open_store
from stationmap.store.gpkg import GpkgStore


@pytest.fixture
def store(tmp_path):
    return open_store(tmp_path, backend="gpkg")


def registry(tmp_path):
    return tmp_path / "stations.gpkg"


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_station(i):
    return make_station({"name": f"合同测试驿站{i}", "lat": 23.50 + i * 0.001, "lon": 116.30, "hours": "24小时"})


def test_the_registry_is_a_geopackage_qgis_opens_as_it_is(store, tmp_path):
    path = registry(tmp_path)
    assert pyogrio.list_layers(path).tolist() == [["stations", "Point"]]
    info = pyogrio.read_info(path, layer="stations")
    assert info["crs"] == "EPSG:4326" and info["features"] == 135
    assert {"id", "name", "kind", "status", "lat", "lon", "district", "hours", "amenities"} <= set(info["fields"])
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47  # 'GPKG'
        assert con.execute("SELECT data_type, srs_id FROM gpkg_contents WHERE table_name = 'stations'").fetchone() \
            == ("features", 4326)


def test_a_fresh_reader_of_the_file_sees_every_write(store, tmp_path):
    s = new_station(1)
    assert store.replace_all([s]) is True
    assert GpkgStore(registry(tmp_path)).all() == [s]  # no cache shared with the writer


def test_an_unchanged_write_leaves_the_file_alone(store, tmp_path):
    before = digest(registry(tmp_path))
    assert store.update(lambda old: list(reversed(old))) is False
    assert digest(registry(tmp_path)) == before


def test_a_failed_change_leaves_the_file_alone(store, tmp_path):
    before = digest(registry(tmp_path))

    def boom(old):
        raise RuntimeError("change failed half-way")

    with pytest.raises(RuntimeError):
        store.update(boom)
    assert digest(registry(tmp_path)) == before and len(store.all()) == 135


def test_a_rename_that_fails_leaves_the_old_file_and_no_temporary_one(store, tmp_path, monkeypatch):
    before = digest(registry(tmp_path))

    def refused(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refused)
    with pytest.raises(OSError):
        store.update(lambda old: old + [new_station(1)])
    monkeypatch.undo()
    assert digest(registry(tmp_path)) == before
    assert list(tmp_path.glob(".stations.*")) == []


def test_an_unreadable_registry_says_what_to_do(tmp_path):
    registry(tmp_path).write_bytes(b"not a GeoPackage")
    with pytest.raises(RegistryUnavailable, match="restore it from a backup"):
        open_store(tmp_path, backend="gpkg").all()


def test_a_data_directory_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidInput, match="is a file"):
        open_store(tmp_path / "file", backend="gpkg")


def _add_many(path, start):
    s = GpkgStore(path)
    for i in range(start, start + 3):
        s.update(lambda old, i=i: old + [new_station(i)])


def test_concurrent_writers_in_separate_processes_lose_nothing(store, tmp_path):
    procs = [mp.get_context("spawn").Process(target=_add_many, args=(registry(tmp_path), k * 10)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    names = {s.name for s in store.all()}
    assert len(store.all()) == 135 + 9
    assert {f"合同测试驿站{i}" for k in range(3) for i in range(k * 10, k * 10 + 3)} <= names


def test_a_killed_writers_leftover_is_cleaned_up_and_never_read(tmp_path):
    open_store(tmp_path, backend="gpkg")
    before = digest(registry(tmp_path))
    stray = tmp_path / ".stations.999999999.tmp.gpkg"  # no such process
    stray.write_bytes(b"half a GeoPackage")
    reopened = open_store(tmp_path, backend="gpkg")
    assert not stray.exists() and digest(registry(tmp_path)) == before and len(reopened.all()) == 135


def test_a_killed_writers_sqlite_companions_go_too_and_a_live_writers_stay(tmp_path):
    """A writer killed mid-write also leaves its temporary file's SQLite journal, WAL and shared memory."""
    open_store(tmp_path, backend="gpkg")
    companions = ("", "-journal", "-wal", "-shm")
    dead = [tmp_path / f".stations.999999999.tmp.gpkg{c}" for c in companions]  # above any pid_max: no such process
    live = [tmp_path / f".stations.{os.getpid()}.tmp.gpkg{c}" for c in companions]  # this process: still writing
    unrelated = [tmp_path / ".stations.999999999.tmp.gpkg-backup", tmp_path / ".other.999999999.tmp.gpkg-journal"]
    for f in dead + live + unrelated:
        f.write_bytes(b"half a GeoPackage")
    reopened = open_store(tmp_path, backend="gpkg")
    assert [f.name for f in dead if f.exists()] == []
    assert all(f.exists() for f in live + unrelated)
    assert len(reopened.all()) == 135


def test_the_backend_is_chosen_by_the_store_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("STATIONMAP_STORE", "memory")
    assert open_store(tmp_path / "m").describe().startswith("memory")
    assert not (tmp_path / "m" / "stations.gpkg").exists()
    monkeypatch.setenv("STATIONMAP_STORE", "gpkg")
    assert open_store(tmp_path / "g").describe() == f"GeoPackage {tmp_path / 'g' / 'stations.gpkg'}"
    monkeypatch.setenv("STATIONMAP_STORE", "auto")
    monkeypatch.delenv("STATIONMAP_DATABASE_URL", raising=False)
    assert open_store(tmp_path / "a").describe() == f"GeoPackage {tmp_path / 'a' / 'stations.gpkg'}"
    monkeypatch.setenv("STATIONMAP_STORE", "nosuch")
    with pytest.raises(InvalidInput, match="unknown registry store 'nosuch'; choose one of gpkg, memory, postgis or auto"):
        open_store(tmp_path / "p")


def test_an_edit_writes_one_row_in_place_and_other_readers_follow(store, tmp_path):
    """No new file: the same inode, the row changed, one log row; a reader that already read the file
    re-reads only that row (its other stations are the very objects it held)."""
    path = registry(tmp_path)
    other = GpkgStore(path)
    held = {s.id: s for s in other.all()}
    inode = path.stat().st_ino
    s = store.all()[0]
    import dataclasses

    assert store.change_rows(lambda current: {s.id: dataclasses.replace(s, address="就地改写")}) is True
    assert path.stat().st_ino == inode and list(tmp_path.glob(".stations.*")) == []
    after = other.all()
    assert other.get(s.id).address == "就地改写"
    assert all(x is held[x.id] for x in after if x.id != s.id)
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT address FROM stations WHERE id = ?", (s.id,)).fetchone()[0] == "就地改写"
        assert con.execute("SELECT station_id FROM stationmap_log ORDER BY rev DESC LIMIT 1").fetchone()[0] == s.id
    info = pyogrio.read_info(path, layer="stations")  # still a GeoPackage GDAL reads, R-tree kept in step
    assert info["features"] == 135
    moved = dataclasses.replace(s, lon=s.lon + 0.01)
    store.change_rows(lambda current: {s.id: moved})
    frame = pyogrio.read_dataframe(path, layer="stations", bbox=(moved.lon - 1e-6, moved.lat - 1e-6, moved.lon + 1e-6, moved.lat + 1e-6))
    assert frame["id"].tolist() == [s.id]


def test_a_registry_written_before_last_verified_existed_reads_as_never_verified(tmp_path):
    """A GeoPackage without the last_verified column (written by an older version) opens; every station unverified."""
    from stationmap.store.gpkg import to_frame

    path = tmp_path / "stations.gpkg"
    old = [new_station(i) for i in range(2)]
    to_frame(old).drop(columns="last_verified").to_file(path, layer="stations", driver="GPKG", engine="pyogrio")
    assert "last_verified" not in pyogrio.read_info(path, layer="stations")["fields"]
    store = GpkgStore(path)
    assert store.all() == sorted(old, key=lambda s: s.id)
    assert [s.last_verified for s in store.all()] == ["", ""]
