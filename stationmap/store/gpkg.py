"""The GeoPackage backend: the registry as `DATA_DIR/stations.gpkg` (layer `stations`, EPSG:4326).

The file opens as it is in QGIS. Every write builds a complete new file beside the old one and renames
it into place under an exclusive lock, so a reader or a killed writer only ever sees the old or the new
registry; what a killed writer left beside it is removed by `remove_dead_writers_files`.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import geopandas as gpd
import pandas as pd
from pyogrio.errors import DataLayerError, DataSourceError
from shapely.geometry import Point

from ..errors import RegistryUnavailable
from ..hours import parse_hours
from ..model import Station
from .base import Change, Journal, StationStore, journaled_update

FILENAME = "stations.gpkg"
LAYER = "stations"
_LIST_FIELDS = ("amenities", "honours", "features")


class GpkgStore(StationStore):
    """The registry in one GeoPackage file, written whole and renamed into place under a flock."""

    def __init__(self, path: Path, journal: Journal | None = None):
        self.path = Path(path)
        self._journal = journal
        self._cache: tuple[tuple, list[Station]] | None = None

    def describe(self) -> str:
        return f"GeoPackage {self.path}"

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

    def update(self, change: Change, note: dict[str, Any] | None = None) -> bool:
        with self._locked():
            exists = self.path.exists()
            return journaled_update(self.all() if exists else [], change, note, self._journal, self._write, exists)

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


def remove_dead_writers_files(path: Path) -> None:
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
