"""The store contract: what every registry backend promises, checked through `StationStore` only.

Parametrised over `stationmap.store.BACKENDS`, so a new backend runs this suite as soon as it is
named there and given a factory in `FACTORIES` (a missing factory fails loudly). PostGIS runs against
a real PostgreSQL server started by the `postgres_server` fixture (a fresh database per test).
"""
from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import pytest

from stationmap.errors import NotFound
from stationmap.model import Station, make_station
from stationmap.store import BACKENDS, GpkgStore, Journal, MemoryStore, StationStore, load_sample, open_store


class RecordingJournal:
    """A journal that keeps every call, in order, with what it was given (thread-safe)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._tickets = 0

    def recover(self, current: Mapping[str, Station]) -> None:
        self._add("recover", sorted(current))

    def begin(self, items: list[tuple[str, Station | None, Station | None]], note: dict[str, Any] | None) -> str:
        with self._lock:
            self._tickets += 1
            ticket = f"ticket-{self._tickets}"
        self._add("begin", ticket, [(sid, before is not None, after is not None) for sid, before, after in items], note)
        return ticket

    def commit(self, ticket: Any) -> None:
        self._add("commit", ticket)

    def abort(self, ticket: Any) -> None:
        self._add("abort", ticket)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def _add(self, *call: Any) -> None:
        with self._lock:
            self.calls.append(call)


def _postgis(url: str, journal: Journal | None) -> StationStore:
    from stationmap.store.postgis import PostgisStore

    return PostgisStore(url, journal=journal)


FACTORIES: dict[str, Callable[[Path, str, Journal | None], StationStore]] = {
    "gpkg": lambda directory, url, journal: GpkgStore(directory / "stations.gpkg", journal=journal),
    "memory": lambda directory, url, journal: MemoryStore(journal=journal),
    "postgis": lambda directory, url, journal: _postgis(url, journal),
}


def new_station(i: int, **extra: Any) -> Station:
    return make_station({"name": f"合同测试驿站{i}", "lat": 23.50 + i * 0.001, "lon": 116.30, "hours": "24小时", **extra})


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch) -> str:
    """The backend's name; for PostGIS a fresh database, also as STATIONMAP_DATABASE_URL for `open_store`."""
    if request.param == "postgis":
        monkeypatch.setenv("STATIONMAP_DATABASE_URL", request.getfixturevalue("postgis_url"))
    return request.param


@pytest.fixture
def make(backend, tmp_path) -> Callable[[Journal | None], StationStore]:
    """A new store object of the backend on the test's registry (the same file or database each time)."""
    import os

    return lambda journal: FACTORIES[backend](tmp_path, os.environ.get("STATIONMAP_DATABASE_URL", ""), journal)


@pytest.fixture
def journaled(make) -> tuple[StationStore, RecordingJournal]:
    """A backend holding three stations, with a recording journal that has seen nothing yet."""
    journal = RecordingJournal()
    store = make(journal)
    store.replace_all([new_station(i) for i in range(3)])
    journal.calls.clear()
    return store, journal


@pytest.fixture
def store(journaled) -> StationStore:
    return journaled[0]


def failing_writes(store: StationStore, monkeypatch) -> None:
    """Make the backend's write step fail (disk full, say): the one seam this suite opens."""

    def no_space(*_args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_write", no_space)
    if hasattr(store, "_write_rows"):
        monkeypatch.setattr(store, "_write_rows", no_space)


# -- opening ------------------------------------------------------------------------------------
def test_a_new_registry_starts_with_the_sample_in_id_order(backend, tmp_path):
    stations = open_store(tmp_path / "data", backend=backend).all()
    assert stations == sorted(load_sample(), key=lambda s: s.id)
    assert len(stations) == 135 and all(s.demo for s in stations)


def test_opening_again_reads_what_was_written(backend, tmp_path):
    first = open_store(tmp_path, backend=backend)
    s = new_station(1)
    first.update(lambda old: old + [s])
    assert open_store(tmp_path, backend=backend).get(s.id) == s


# -- reading ------------------------------------------------------------------------------------
def test_all_is_in_id_order_whatever_order_was_written(store):
    stations = [new_station(i) for i in range(6)]
    store.replace_all(list(reversed(stations)))
    assert [s.id for s in store.all()] == sorted(s.id for s in stations)


def test_get_and_not_found(store):
    first = store.all()[0]
    assert store.get(first.id) == first
    with pytest.raises(NotFound, match="no station with id 'nope'"):
        store.get("nope")


def test_what_a_reader_holds_is_its_own(store):
    before = store.all()
    store.all().clear()
    assert store.all() == before


def test_a_registry_read_back_equals_what_was_written_field_for_field(store):
    full = make_station({"name": "全字段驿站 <b>&\"'", "lat": 23.55, "lon": 116.37, "kind": "smart",
                         "status": "planned", "address": "某路1号", "hours": "周一至周五 08:00-17:30",
                         "amenities": "厕所、AED", "host": "某银行", "phone": "0663-1234567",
                         "honours": "广东最美工会驿站 2024", "year_opened": 2024, "demo": True,
                         "features": "扫码进入", "location_source": "测试", "last_verified": "2025-06-01"})
    bare = make_station({"name": "=最少字段", "lat": 23.31, "lon": 116.17, "status": "closed"})
    assert store.replace_all([full, bare]) is True
    for written in (full, bare):
        read = store.get(written.id)
        for f in dataclasses.fields(Station):
            assert getattr(read, f.name) == getattr(written, f.name), f.name
            assert type(getattr(read, f.name)) is type(getattr(written, f.name)), f.name
    assert store.all() == sorted([full, bare], key=lambda s: s.id)


def test_last_verified_is_written_journaled_and_read_back(journaled):
    store, journal = journaled
    s = store.all()[1]
    assert s.last_verified == ""
    version = store.version()
    assert store.update(lambda stations: [dataclasses.replace(x, last_verified="2025-06-02") if x.id == s.id else x
                                          for x in stations], {"action": "verify"}) is True
    assert store.get(s.id).last_verified == "2025-06-02" and store.version() != version
    assert [c for c in journal.calls if c[0] == "begin"][0][2:] == ([(s.id, True, True)], {"action": "verify"})
    others = [x for x in store.all() if x.id != s.id]
    assert all(x.last_verified == "" for x in others) and len(others) == 2


def test_version_is_stable_without_writes(store):
    assert store.version() == store.version()
    store.all()
    assert store.version() == store.version()


# -- writing ------------------------------------------------------------------------------------
def test_a_change_writes_and_changes_the_version(journaled):
    store, journal = journaled
    before, version = store.all(), store.version()
    s = new_station(10)
    assert store.update(lambda old: old + [s], note={"actor": "test", "action": "create"}) is True
    assert store.version() != version
    assert store.all() == sorted(before + [s], key=lambda x: x.id)
    ids = [x.id for x in before]
    ticket = journal.calls[1][1]
    assert journal.calls == [("recover", ids),
                             ("begin", ticket, [(s.id, False, True)], {"actor": "test", "action": "create"}),
                             ("commit", ticket)]


def test_every_write_changes_the_version(store):
    seen = {store.version()}
    for i in range(10, 13):
        store.update(lambda old, i=i: old + [new_station(i)])
        seen.add(store.version())
    store.update(lambda old: old[:-1])
    seen.add(store.version())
    assert len(seen) == 5


def test_an_unchanged_update_returns_false_writes_nothing_and_keeps_the_version(journaled):
    store, journal = journaled
    before, version = store.all(), store.version()
    assert store.update(lambda old: list(reversed(old))) is False
    assert store.all() == before and store.version() == version
    assert journal.names() == ["recover"]


def test_a_change_that_raises_writes_nothing(journaled):
    store, journal = journaled
    before, version = store.all(), store.version()

    def half_way(old: list[Station]) -> list[Station]:
        old.clear()  # what the change was handed is its own to spoil
        old.append(new_station(20))
        raise RuntimeError("change failed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        store.update(half_way)
    assert store.all() == before and store.version() == version
    assert journal.names() == ["recover"]


def test_a_write_that_fails_is_aborted_in_the_journal_and_leaves_the_registry(journaled, monkeypatch):
    store, journal = journaled
    before, version = store.all(), store.version()
    failing_writes(store, monkeypatch)
    with pytest.raises(OSError, match="No space"):
        store.update(lambda old: old + [new_station(30)])
    assert journal.names() == ["recover", "begin", "abort"]
    assert journal.calls[2] == ("abort", journal.calls[1][1])
    monkeypatch.undo()
    assert store.all() == before and store.version() == version


def test_replace_all(journaled):
    store, journal = journaled
    stations = [new_station(i) for i in (40, 41)]
    assert store.replace_all(stations, note={"actor": "test", "action": "import"}) is True
    assert store.all() == sorted(stations, key=lambda s: s.id)
    version = store.version()
    assert store.replace_all(list(reversed(stations))) is False
    assert store.version() == version
    assert journal.names() == ["recover", "begin", "commit", "recover"]
    assert journal.calls[1][3] == {"actor": "test", "action": "import"}
    assert sorted(c[0] for c in journal.calls[1][2]) == sorted({s.id for s in stations} | {new_station(i).id for i in range(3)})


def test_replace_all_with_nothing_empties_the_registry(store):
    assert store.replace_all([]) is True
    assert store.all() == []
    with pytest.raises(NotFound):
        store.get(new_station(0).id)


def test_concurrent_updates_from_threads_lose_nothing(journaled):
    store, journal = journaled
    before = store.all()
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def add_slowly(old: list[Station], i: int) -> list[Station]:
        time.sleep(0.01)  # a wide window between reading and writing: lost updates would show
        return old + [new_station(100 + i)]

    def add(i: int) -> None:
        try:
            start.wait(30)
            store.update(lambda old: add_slowly(old, i), note={"actor": f"thread {i}"})
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and not any(t.is_alive() for t in threads)
    assert {s.id for s in store.all()} == {s.id for s in before} | {new_station(100 + i).id for i in range(8)}
    assert journal.names() == ["recover", "begin", "commit"] * 8  # each write whole, under the lock


# -- row changes: what an edit costs is its rows ---------------------------------------------------
def test_change_rows_creates_updates_and_deletes_named_rows_only(journaled):
    store, journal = journaled
    a, b, c = store.all()
    version = store.version()
    moved = dataclasses.replace(a, address="新地址")
    added = new_station(50)
    assert store.change_rows(lambda current: {a.id: moved, b.id: None, added.id: added}, {"action": "edit"}) is True
    assert store.all() == sorted([moved, c, added], key=lambda s: s.id)
    assert store.get(a.id) == moved and store.version() != version
    with pytest.raises(NotFound):
        store.get(b.id)
    ticket = journal.calls[1][1]
    assert journal.calls == [("recover", sorted([a.id, b.id, c.id])),
                             ("begin", ticket, sorted([(a.id, True, True), (b.id, True, False), (added.id, False, True)]),
                              {"action": "edit"}),
                             ("commit", ticket)]


def test_change_rows_sees_the_registry_as_a_mapping_and_unchanged_rows_write_nothing(journaled):
    store, journal = journaled
    before, version = store.all(), store.version()
    seen: list[set[str]] = []

    def same(current: Mapping[str, Station]) -> dict[str, Station | None]:
        seen.append(set(current))
        return {s.id: current[s.id] for s in before} | {"no-such-station": None}

    assert store.change_rows(same) is False
    assert seen == [{s.id for s in before}] and store.all() == before and store.version() == version
    assert journal.names() == ["recover"]


def test_change_rows_that_raises_or_fails_to_write_leaves_the_registry(journaled, monkeypatch):
    store, journal = journaled
    before, version = store.all(), store.version()

    def half_way(current: Mapping[str, Station]) -> dict[str, Station | None]:
        raise RuntimeError("change failed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        store.change_rows(half_way)
    failing_writes(store, monkeypatch)
    with pytest.raises(OSError, match="No space"):
        store.change_rows(lambda current: {before[0].id: None})
    monkeypatch.undo()
    assert store.all() == before and store.version() == version
    assert journal.names() == ["recover", "recover", "begin", "abort"]


def test_a_row_must_be_keyed_by_its_own_id(store):
    s = new_station(60)
    with pytest.raises(ValueError, match="holds station"):
        store.change_rows(lambda current: {"other-id": s})


def test_row_changes_from_threads_lose_nothing_and_a_second_reader_follows(journaled, backend, make):
    store, journal = journaled
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def add(i: int) -> None:
        try:
            start.wait(30)
            s = new_station(200 + i)
            store.change_rows(lambda current: {s.id: s})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(store.all()) == 9
    assert journal.names() == ["recover", "begin", "commit"] * 6
    if backend != "memory":  # another reader of the same registry sees every row written
        other = make(None)
        assert other.all() == store.all()
        s = store.all()[0]
        store.change_rows(lambda current: {s.id: dataclasses.replace(s, phone="0663-7654321")})
        assert other.get(s.id).phone == "0663-7654321" and other.all() == store.all()
        assert other.version() == store.version()
