"""The station registry: one interface (`StationStore`), two backends, and the one place that picks one.

`open_store(data_dir)` is how every command, the web app and the question runners get the registry;
the backend comes from the `store` setting (`STATIONMAP_STORE`): `gpkg`, the GeoPackage
`DATA_DIR/stations.gpkg` that QGIS opens as it is, `postgis`, the database at `database_url`
(`STATIONMAP_DATABASE_URL`), or `memory`, held by this process only (tests, demonstrations); `auto`
(the default) is postgis when a database URL is set, else gpkg. Whichever, the registry is journaled
to the audit log (in `data_dir`, or in the database with a PostGIS registry), and a new, empty registry
starts with the shipped sample stations.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

from .. import config
from ..errors import InvalidInput
from ..model import Station, make_station
from .base import Change, Journal, RowChange, StationStore
from .gpkg import FILENAME, LAYER, GpkgStore, remove_dead_writers_files, to_frame
from .memory import MemoryStore

__all__ = ["BACKENDS", "Change", "Journal", "RowChange", "StationStore", "GpkgStore", "MemoryStore", "LAYER",
           "SAMPLE_FILE", "open_store", "load_sample", "to_frame"]

BACKENDS = ("gpkg", "memory", "postgis")
SAMPLE_FILE = config.GEODATA_DIR / "sample_stations.geojson"
_memory: dict[Path, MemoryStore] = {}  # one in-memory registry per data directory in this process
_memory_lock = threading.Lock()


def open_store(data_dir: Path | str, backend: str | None = None) -> StationStore:
    """The registry of `data_dir`, journaled to its audit log; a new, empty one starts with the sample registry.

    `backend`: gpkg, memory, postgis or auto; None reads the `store` setting (STATIONMAP_STORE)."""
    from ..ops.audit import open_audit

    settings = config.load_settings()
    backend = backend or settings["store"]
    if backend == "auto":
        backend = "postgis" if settings["database_url"] else "gpkg"
    if backend not in BACKENDS:
        raise InvalidInput(f"unknown registry store {backend!r}; choose one of {', '.join(BACKENDS)} or auto "
                           "(setting store, STATIONMAP_STORE)")
    directory = _usable_dir(Path(data_dir))
    if backend == "postgis":
        if not settings["database_url"]:
            raise InvalidInput("the postgis store needs a database: set database_url (STATIONMAP_DATABASE_URL) "
                               "to postgresql://user:password@host/db")
        from .postgis import PostgisStore

        pg = PostgisStore(settings["database_url"], journal=open_audit(directory, settings["database_url"]))
        if pg.version().endswith(":0"):  # never written
            pg.update(lambda old: old or load_sample(), note={"actor": "system", "action": "sample"})
        return pg
    if backend == "memory":
        with _memory_lock:
            store = _memory.get(directory.resolve())
            if store is None:
                store = _memory[directory.resolve()] = MemoryStore(journal=open_audit(directory, ""), name=str(directory))
                store.update(lambda _old: load_sample(), note={"actor": "system", "action": "sample"})
        return store
    path = directory / FILENAME
    gpkg = GpkgStore(path, journal=open_audit(directory, ""))
    remove_dead_writers_files(path)
    if not path.exists():
        gpkg.update(lambda _old: load_sample(), note={"actor": "system", "action": "sample"})
    return gpkg


def _usable_dir(directory: Path) -> Path:
    """`directory`, created if missing; InvalidInput (saying what to give instead) if it cannot be."""
    if directory.exists() and not directory.is_dir():
        raise InvalidInput(f"the data directory {directory} is a file; give a directory with --data-dir "
                           "or STATIONMAP_DATA_DIR")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot use {directory} as the data directory: {exc.strerror or exc}; "
                           "give another with --data-dir or STATIONMAP_DATA_DIR") from None
    return directory


def load_sample() -> list[Station]:
    """The shipped sample registry (demo stations) from geodata/sample_stations.geojson."""
    data = json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))
    out = []
    for f in data["features"]:
        lon, lat = f["geometry"]["coordinates"]
        out.append(make_station({**f["properties"], "lat": lat, "lon": lon}))
    return out
