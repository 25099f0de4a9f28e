"""The station registry: a narrow store interface and its GeoPackage backend.

The GeoPackage (`DATA_DIR/stations.gpkg`, layer `stations`, EPSG:4326) opens as it is in QGIS.
Every write builds a complete new file beside the old one and renames it into place under an
exclusive lock, so a reader or a killed writer only ever sees the old or the new registry.
"""
from __future__ import annotations

import abc
import fcntl
import json
import math
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import geopandas as gpd
import pandas as pd
from pyogrio.errors import DataLayerError, DataSourceError
from shapely.geometry import Point

from .config import GEODATA_DIR
from .errors import InvalidInput, NotFound, RegistryUnavailable
from .hours import parse_hours
from .model import Station, make_station

LAYER = "stations"
SAMPLE_FILE = GEODATA_DIR / "sample_stations.geojson"
_LIST_FIELDS = ("amenities", "honours", "features")


class Journal(Protocol):
    """A record kept beside the registry (the audit log) that must never disagree with it.

    Called under the store's exclusive lock: `recover` first with the registry as it is (to settle
    an entry a killed writer left pending), `begin` before the new file is renamed into place,
    `commit` after, `abort` if the write failed.
    """

    def recover(self, current: list[Station]) -> None: ...
    def begin(self, old: list[Station], new: list[Station], note: dict[str, Any] | None) -> Any: ...
    def commit(self, ticket: Any) -> None: ...
    def abort(self, ticket: Any) -> None: ...


class StationStore(abc.ABC):
    """What callers may do with a registry; a PostGIS store would implement the same abstract methods."""

    @abc.abstractmethod
    def all(self) -> list[Station]:
        """Every station, in id order."""

    @abc.abstractmethod
    def update(self, change: Callable[[list[Station]], list[Station]], note: dict[str, Any] | None = None) -> bool:
        """Apply `change` to the current list atomically; returns False (and writes nothing) if unchanged.

        `note` (e.g. {"actor": ..., "action": ...}) goes to the store's journal with the change."""

    @abc.abstractmethod
    def version(self) -> str:
        """A text that changes whenever the registry does (answers computed from it are kept under it)."""

    def get(self, station_id: str) -> Station:
        for s in self.all():
            if s.id == station_id:
                return s
        raise NotFound(f"no station with id {station_id!r}")

    def replace_all(self, stations: list[Station], note: dict[str, Any] | None = None) -> bool:
        return self.update(lambda _old: list(stations), note)


class GpkgStore(StationStore):
    def __init__(self, path: Path, journal: Journal | None = None):
        self.path = Path(path)
        self.journal = journal
        self._cache: tuple[tuple, list[Station]] | None = None

    # -- reading -------------------------------------------------------------------------------
    def all(self) -> list[Station]:
        st = self.path.stat()
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._cache is None or self._cache[0] != key:
            try:
                frame = gpd.read_file(self.path, layer=LAYER, engine="pyogrio")
            except (DataLayerError, DataSourceError):
                raise RegistryUnavailable(
                    f"the registry {self.path} is not a readable GeoPackage with a '{LAYER}' layer; "
                    "restore it from a backup, or move it away to start again from the sample registry") from None
            self._cache = (key, _from_frame(frame))
        return list(self._cache[1])

    def version(self) -> str:
        st = self.path.stat()  # every write renames a new file into place: a new inode and time
        return f"gpkg:{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"

    # -- writing -------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            lock = open(self.path.with_suffix(".lock"), "a+")
        except OSError as exc:
            raise RegistryUnavailable(f"cannot write the registry in {self.path.parent}: {exc.strerror or exc}; "
                                      "give a writable directory with --data-dir or STATIONMAP_DATA_DIR") from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def update(self, change: Callable[[list[Station]], list[Station]], note: dict[str, Any] | None = None) -> bool:
        with self._locked():
            old = self.all() if self.path.exists() else []
            if self.journal:
                self.journal.recover(old)
            new = sorted(change(list(old)), key=lambda s: s.id)
            if new == old and self.path.exists():
                return False
            ticket = self.journal.begin(old, new, note) if self.journal else None
            try:
                self._write(new)
            except BaseException:
                if self.journal:
                    self.journal.abort(ticket)
                raise
            if self.journal:
                self.journal.commit(ticket)
            return True

    def _write(self, stations: list[Station]) -> None:
        tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp.gpkg")
        try:
            to_frame(stations).to_file(tmp, layer=LAYER, driver="GPKG", engine="pyogrio")
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            dirfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
        finally:
            tmp.unlink(missing_ok=True)


def open_store(data_dir: Path | str) -> StationStore:
    """The registry in `data_dir`, journaled to its audit log; a new, empty directory starts with the sample registry."""
    from .audit import open_audit

    path = Path(data_dir) / "stations.gpkg"
    if path.parent.exists() and not path.parent.is_dir():
        raise InvalidInput(f"the data directory {path.parent} is a file; give a directory with --data-dir "
                           "or STATIONMAP_DATA_DIR")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot use {path.parent} as the data directory: {exc.strerror or exc}; "
                           "give another with --data-dir or STATIONMAP_DATA_DIR") from None
    store = GpkgStore(path, journal=open_audit(path.parent))
    _remove_dead_writers_files(path)
    if not path.exists():
        store.update(lambda _old: load_sample(), note={"actor": "system", "action": "sample"})
    return store


def _remove_dead_writers_files(path: Path) -> None:
    """Remove what writers killed mid-write left beside `path`: their temporary GeoPackage
    (`.stations.<pid>.tmp.gpkg`) and its SQLite journal, WAL and shared-memory files (`-journal`,
    `-wal`, `-shm`). Files of a writer whose process is still alive are kept: it is still writing."""
    own = re.compile(rf"\.{re.escape(path.stem)}\.(\d+)\.tmp\.gpkg(?:-journal|-wal|-shm)?")
    for stray in path.parent.glob(f".{path.stem}.*.tmp.gpkg*"):
        found = own.fullmatch(stray.name)
        if found and not _pid_alive(int(found.group(1))):
            stray.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def load_sample() -> list[Station]:
    """The shipped sample registry (demo stations) from geodata/sample_stations.geojson."""
    data = json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))
    out = []
    for f in data["features"]:
        lon, lat = f["geometry"]["coordinates"]
        out.append(make_station({**f["properties"], "lat": lat, "lon": lon}))
    return out


def to_frame(stations: list[Station]) -> gpd.GeoDataFrame:
    """Stations as the GeoPackage layer stores them (lists as JSON text)."""
    rows = []
    for s in stations:
        rec = s.to_record()
        for key in _LIST_FIELDS:
            rec[key] = json.dumps(rec[key], ensure_ascii=False)
        rec["demo"] = int(rec["demo"])
        rec["year_opened"] = rec["year_opened"] if rec["year_opened"] is not None else -1
        rows.append(rec)
    columns = list(Station.__dataclass_fields__)
    frame = pd.DataFrame(rows, columns=columns)
    geometry = [Point(s.lon, s.lat) for s in stations]
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def _from_frame(frame: gpd.GeoDataFrame) -> list[Station]:
    out = []
    for rec in frame.drop(columns="geometry").to_dict("records"):
        for key in _LIST_FIELDS:
            rec[key] = tuple(json.loads(rec[key] or "[]"))
        year = rec.get("year_opened")
        rec["year_opened"] = None if year is None or (isinstance(year, float) and math.isnan(year)) or year < 0 else int(year)
        rec["demo"] = bool(rec["demo"])
        rec["hours"] = parse_hours(rec["hours"] or None)
        rec["lat"], rec["lon"] = float(rec["lat"]), float(rec["lon"])
        rec = {k: ("" if v is None else v) for k, v in rec.items()} | {
            k: rec[k] for k in ("hours", "year_opened")}
        out.append(Station(**rec))
    return sorted(out, key=lambda s: s.id)
