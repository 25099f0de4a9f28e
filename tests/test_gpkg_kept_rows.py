"""The rows of a large GeoPackage registry kept beside it for the next process: a new reader starts from
them and then reads only the rows written since; a new file, new columns, or a broken copy send it back to
the GeoPackage. The threshold is lowered so that the 135 sample stations count as large."""
from __future__ import annotations

import dataclasses

import pytest

from stationmap.model import make_station
from stationmap.store import gpkg, open_store
from stationmap.store.gpkg import GpkgStore


@pytest.fixture
def path(tmp_path, monkeypatch):
    monkeypatch.setattr(gpkg, "KEEP_ROWS", 1)
    open_store(tmp_path, backend="gpkg").all()  # the sample registry, read once: its rows kept
    return tmp_path / "stations.gpkg"


def fresh(path) -> GpkgStore:
    return GpkgStore(path)


def test_a_new_reader_starts_from_the_kept_rows(path):
    reader = fresh(path)
    assert reader.kept_path.exists()
    kept = reader._kept(*reader._state())
    assert kept is not None and [s.id for s in kept.stations] == [s.id for s in fresh(path).all()]
    assert list(kept.stations) == GpkgStore(path).all()


def test_rows_written_since_the_copy_are_read_again(path):
    writer = fresh(path)
    first, second = writer.all()[:2]
    writer.change_rows(lambda cur: {first.id: dataclasses.replace(first, address="保留副本之后改写"), second.id: None})
    added = make_station({"name": "保留副本之后新建", "lat": 23.51, "lon": 116.31, "hours": "24小时"})
    writer.change_rows(lambda cur: {added.id: added})
    reader = fresh(path)
    assert reader._kept(*reader._state()).revision < reader._state()[2]  # the copy is older than the file
    got = {s.id: s for s in reader.all()}
    assert got[first.id].address == "保留副本之后改写" and second.id not in got and got[added.id] == added
    assert reader.all() == writer.all()


def test_a_new_file_or_a_broken_copy_is_read_from_the_geopackage(path):
    writer = fresh(path)
    stations = writer.all()[:10]
    writer.replace_all(stations)  # a new file (new generation): the old copy no longer applies
    reader = fresh(path)
    assert reader.all() == stations
    reader.kept_path.write_bytes(reader.kept_path.read_bytes()[:100])  # cut short
    assert fresh(path).all() == stations
    reader.kept_path.write_bytes(b"\x00" * 3)
    assert fresh(path).all() == stations


def test_small_registries_keep_no_copy(tmp_path):
    store = open_store(tmp_path, backend="gpkg")
    assert len(store.all()) < gpkg.KEEP_ROWS and not store.kept_path.exists()


def test_a_registry_grown_small_drops_the_copy(path, monkeypatch):
    writer = fresh(path)
    assert writer.kept_path.exists()
    monkeypatch.setattr(gpkg, "KEEP_ROWS", 50)
    writer.replace_all(writer.all()[:10])
    assert len(fresh(path).all()) == 10 and not writer.kept_path.exists()
