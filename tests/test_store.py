"""The store contract: every backend must pass these (a new backend is one more fixture param)."""
import hashlib
import multiprocessing as mp

import pytest

from stationmap.errors import NotFound
from stationmap.model import make_station
from stationmap.store import GpkgStore, open_store


@pytest.fixture(params=["gpkg"])
def store(request, tmp_path):
    return open_store(tmp_path)


def digest(store):
    return hashlib.sha256(store.path.read_bytes()).hexdigest()


def new_station(i):
    return make_station({"name": f"合同测试驿站{i}", "lat": 23.50 + i * 0.001, "lon": 116.30, "hours": "24小时"})


def test_a_new_data_directory_starts_with_the_sample_registry(store):
    stations = store.all()
    assert len(stations) == 135 and all(s.demo for s in stations)
    assert stations == sorted(stations, key=lambda s: s.id)


def test_get_and_not_found(store):
    first = store.all()[0]
    assert store.get(first.id) == first
    with pytest.raises(NotFound, match="no station with id 'nope'"):
        store.get("nope")


def test_replace_all_round_trips_every_field(store):
    s = make_station({"name": "全字段驿站", "lat": 23.55, "lon": 116.37, "kind": "smart", "status": "planned",
                      "address": "某路1号", "hours": "周一至周五 08:00-17:30", "amenities": "厕所、AED",
                      "host": "某银行", "phone": "0663-1234567", "honours": "广东最美工会驿站 2024",
                      "year_opened": 2024, "demo": True, "features": "扫码进入", "location_source": "测试"})
    assert store.replace_all([s]) is True
    assert store.all() == [s]
    assert GpkgStore(store.path).all() == [s]  # a fresh reader, no cache


def test_an_unchanged_write_leaves_the_file_alone(store):
    before = digest(store)
    assert store.update(lambda old: list(reversed(old))) is False
    assert digest(store) == before


def test_a_failed_change_writes_nothing(store):
    before = digest(store)

    def boom(old):
        raise RuntimeError("change failed half-way")

    with pytest.raises(RuntimeError):
        store.update(boom)
    assert digest(store) == before and len(store.all()) == 135


def _add_many(path, start):
    s = GpkgStore(path)
    for i in range(start, start + 3):
        s.update(lambda old, i=i: old + [new_station(i)])


def test_concurrent_writers_in_separate_processes_lose_nothing(store):
    procs = [mp.get_context("spawn").Process(target=_add_many, args=(store.path, k * 10)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    names = {s.name for s in store.all()}
    assert len(store.all()) == 135 + 9
    assert {f"合同测试驿站{i}" for k in range(3) for i in range(k * 10, k * 10 + 3)} <= names


def test_a_killed_writers_leftover_is_cleaned_up_and_never_read(tmp_path):
    store = open_store(tmp_path)
    before = digest(store)
    stray = tmp_path / ".stations.999999999.tmp.gpkg"  # no such process
    stray.write_bytes(b"half a GeoPackage")
    reopened = open_store(tmp_path)
    assert not stray.exists() and digest(reopened) == before and len(reopened.all()) == 135


def test_a_killed_writers_sqlite_companions_go_too_and_a_live_writers_stay(tmp_path):
    """A writer killed mid-write also leaves its temporary file's SQLite journal, WAL and shared memory."""
    import os

    open_store(tmp_path)
    companions = ("", "-journal", "-wal", "-shm")
    dead = [tmp_path / f".stations.999999999.tmp.gpkg{c}" for c in companions]  # above any pid_max: no such process
    live = [tmp_path / f".stations.{os.getpid()}.tmp.gpkg{c}" for c in companions]  # this process: still writing
    unrelated = [tmp_path / ".stations.999999999.tmp.gpkg-backup", tmp_path / ".other.999999999.tmp.gpkg-journal"]
    for f in dead + live + unrelated:
        f.write_bytes(b"half a GeoPackage")
    reopened = open_store(tmp_path)
    assert [f.name for f in dead if f.exists()] == []
    assert all(f.exists() for f in live + unrelated)
    assert len(reopened.all()) == 135
