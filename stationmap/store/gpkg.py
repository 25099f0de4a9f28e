"""The GeoPackage backend: the registry as `DATA_DIR/stations.gpkg` (layer `stations`, EPSG:4326).

The file opens as it is in QGIS. An edit is one SQLite transaction on the rows it changes (rollback
journal: a killed writer leaves a hot journal that the next opener rolls back, so the old rows stay);
a whole-registry write (import) builds a complete new file beside the old one and renames it into place.
Both run under an exclusive lock (`stations.lock`).

Two small tables beside the layer let every process follow writes without re-reading the registry:
`stationmap_meta` (the file's generation, new with every whole-file write) and `stationmap_log` (one row
per station row written: its revision and id). A reader holding revision r re-reads only the rows
logged after r. The file carries GDAL's `gdal_aspatial` marker so that GDAL and QGIS list only the
`stations` layer. Rows are written with plain SQLite; the GeoPackage's R-tree triggers get the few
ST_ functions they call (`_register_functions`).

A registry of KEEP_ROWS stations or more is also kept as read, column by column, in `.stations.gpkg.rows`
beside the file (marshal: about a quarter of the time SQLite takes to hand back 184,200 rows). A reader
that finds it written from the same file and generation at a revision not after the file's starts from
it and re-reads the rows logged since, as it follows any write; otherwise it reads the GeoPackage.
"""
from __future__ import annotations

import fcntl
import marshal
import os
import re
import sqlite3
import struct
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Iterator

from shapely import from_wkb
from shapely.geometry import Point

from ..errors import RegistryUnavailable
from ..model import Station
from .base import Change, Item, Journal, RowChange, FollowedStore, journaled_rows, journaled_update, reread
from .rows import FIELDS, LIST_FIELDS, from_columns, from_rows, to_row

if TYPE_CHECKING:
    import geopandas as gpd

FILENAME = "stations.gpkg"
LAYER = "stations"
_SIDE_TABLES = """
CREATE TABLE IF NOT EXISTS stationmap_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stationmap_log (rev INTEGER PRIMARY KEY AUTOINCREMENT, station_id TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS stationmap_station_id ON stations (id);
"""
KEEP_ROWS = 20_000  # a registry this large is kept beside the file as read (a worker's start reads it back faster)
_KEPT_FORMAT = "stationmap rows 1"
_ASPATIAL = ("gdal_aspatial", "http://gdal.org/geopackage_aspatial.html", "read-write")


class _Snapshot:
    """What a reader holds: the file (inode), its generation and revision, and the stations."""

    __slots__ = ("inode", "generation", "revision", "stations", "by_id")

    def __init__(self, inode: int, generation: str, revision: int, stations: list[Station]):
        self.inode, self.generation, self.revision = inode, generation, revision
        self.stations = tuple(stations)
        self.by_id = {s.id: s for s in stations}


class GpkgStore(FollowedStore):
    """The registry in one GeoPackage file: rows written in place, whole files renamed into place, under a flock."""

    def __init__(self, path: Path, journal: Journal | None = None):
        self.path = Path(path)
        self._journal = journal
        self._snapshot: _Snapshot | None = None
        self._lock = threading.RLock()
        self._reader: tuple[int, int, sqlite3.Connection] | None = None  # (pid, inode, connection)
        self._known: tuple[tuple[Any, ...], tuple[int, str, int]] | None = None  # ((con, inode, data_version), state)

    def describe(self) -> str:
        return f"GeoPackage {self.path}"

    # -- reading -------------------------------------------------------------------------------
    def version(self) -> str:
        with self._lock:
            inode, generation, revision = self._state()
        return f"gpkg:{generation}:{revision}"

    def _fresh(self) -> _Snapshot:
        """The snapshot, brought up to date: unchanged, the logged rows re-read, or the whole file re-read."""
        with self._lock:
            inode, generation, revision = self._state()
            snap = self._snapshot
            if snap is None or (snap.inode, snap.generation) != (inode, generation) or revision < snap.revision:
                snap = self._snapshot = self._read_all(inode, generation, revision)
            elif revision != snap.revision:
                snap = self._snapshot = self._read_since(snap, revision)
            return snap

    def _connection(self) -> sqlite3.Connection:
        """This process's reading connection to the file now at `path` (reopened after a rename or a fork)."""
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            raise RegistryUnavailable(f"the registry {self.path} is missing; open the data directory again "
                                      "to start from the sample registry") from None
        if self._reader is not None and self._reader[:2] == (os.getpid(), inode):
            return self._reader[2]
        if self._reader is not None and self._reader[0] == os.getpid():
            self._reader[2].close()
        try:
            con = _open(self.path)
        except sqlite3.DatabaseError:
            raise _unreadable(self.path) from None
        self._reader = (os.getpid(), inode, con)
        return con

    def _state(self) -> tuple[int, str, int]:
        """(inode, generation, revision) of the file as it is now. Asked again only when SQLite's data_version
        says another connection committed since the last answer (this reading connection never writes)."""
        con = self._connection()
        inode = self._reader[1] if self._reader else 0
        try:
            seen = (con, inode, con.execute("PRAGMA data_version").fetchone()[0])
            if self._known is not None and self._known[0] == seen:
                return self._known[1]
            con.execute("BEGIN")
            try:
                row = con.execute("SELECT (SELECT value FROM stationmap_meta WHERE key = 'generation'), "
                                  "(SELECT COALESCE(MAX(rev), 0) FROM stationmap_log)").fetchone()
            finally:
                con.execute("COMMIT")
            state = (inode, str(row[0]), int(row[1]))
            self._known = (seen, state)
            return state
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
        except sqlite3.DatabaseError:
            raise _unreadable(self.path) from None
        st = os.stat(self.path)  # a GeoPackage written by another program: follow the file itself
        return inode, f"file-{st.st_ino}-{st.st_mtime_ns}-{st.st_size}", 0

    def _read_all(self, inode: int, generation: str, revision: int) -> _Snapshot:
        kept = self._kept(inode, generation, revision)
        if kept is not None:
            return kept if kept.revision == revision else self._read_since(kept, revision)
        con = self._connection()
        try:
            columns = _columns(con)
            if "id" not in columns:
                raise _unreadable(self.path)
            rows = con.execute(f'SELECT {", ".join(_q(c) for c in columns)} FROM "{LAYER}" ORDER BY id').fetchall()
        except sqlite3.DatabaseError:
            raise _unreadable(self.path) from None
        if len(rows) < KEEP_ROWS:
            try:
                self.kept_path.unlink(missing_ok=True)  # kept from a larger registry this file replaced
            except OSError:  # a directory we may only read
                pass
            return _Snapshot(inode, generation, revision, from_rows(columns, rows))
        stored = dict(zip(columns, zip(*rows)))
        del rows
        self._keep(self._kept_key(inode, generation, revision), stored)
        return _Snapshot(inode, generation, revision, from_columns(stored, len(stored["id"])))

    # -- the kept copy of a large registry's rows --------------------------------------------------
    @property
    def kept_path(self) -> Path:
        """Where the rows of a large registry are kept for the next process (`.stations.gpkg.rows`)."""
        return self.path.with_name(f".{self.path.name}.rows")

    def _kept_key(self, inode: int, generation: str, revision: int) -> tuple[Any, ...]:
        """What the kept rows were read from: the file (inode), its generation and revision, its columns, and
        the id the log names at that revision (a file restored in place with another history differs there)."""
        con = self._connection()
        logged = None
        if revision:
            row = con.execute("SELECT station_id FROM stationmap_log WHERE rev = ?", (revision,)).fetchone()
            logged = row[0] if row else None
        return (_KEPT_FORMAT, inode, generation, revision, tuple(_columns(con)), logged)

    def _keep(self, key: tuple[Any, ...], stored: dict[str, tuple[Any, ...]]) -> None:
        """Write the rows read (column by column, marshal) beside the file, renamed into place; a directory
        that cannot take them only means the next process reads the GeoPackage again."""
        for stray in self.kept_path.parent.glob(f"{self.kept_path.name}.*.tmp"):  # of readers killed mid-write
            pid = stray.name[len(self.kept_path.name) + 1:-len(".tmp")]
            if pid.isdigit() and not _pid_alive(int(pid)):
                stray.unlink(missing_ok=True)
        tmp = self.kept_path.with_name(f"{self.kept_path.name}.{os.getpid()}.tmp")
        try:
            head = marshal.dumps(key)
            with open(tmp, "wb") as fh:
                fh.write(struct.pack("<I", len(head)) + head)
                fh.write(marshal.dumps(stored))
            os.replace(tmp, self.kept_path)
        except OSError:
            tmp.unlink(missing_ok=True)

    def _kept(self, inode: int, generation: str, revision: int) -> _Snapshot | None:
        """The kept rows as a snapshot, when they were read from this file in this generation at a revision
        not after `revision` (the rows written since are then re-read by the caller); else None."""
        try:
            with open(self.kept_path, "rb") as fh:  # marshal.loads of bytes: marshal.load reads a file in small pieces
                key = marshal.loads(fh.read(struct.unpack("<I", fh.read(4))[0]))
                if not (isinstance(key, tuple) and len(key) == 6 and key[:3] == (_KEPT_FORMAT, inode, generation)
                        and isinstance(key[3], int) and key[3] <= revision
                        and key == self._kept_key(inode, generation, key[3])):
                    return None
                stored = marshal.loads(fh.read())
            return _Snapshot(inode, generation, key[3], from_columns(stored, len(stored["id"])))
        except (OSError, EOFError, ValueError, TypeError, KeyError, struct.error, sqlite3.DatabaseError):
            return None

    def _read_since(self, snap: _Snapshot, revision: int) -> _Snapshot:
        con = self._connection()
        con.execute("BEGIN")
        try:
            ids = [r[0] for r in con.execute("SELECT DISTINCT station_id FROM stationmap_log WHERE rev > ? AND rev <= ?",
                                            (snap.revision, revision))]
            columns = _columns(con)
            rows = _select_ids(con, columns, ids)
        finally:
            con.execute("COMMIT")
        return _Snapshot(snap.inode, snap.generation, revision, reread(snap.by_id, ids, from_rows(columns, rows)))

    # -- writing -------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            lock = open(self.path.with_suffix(".lock"), "a+")
        except OSError as exc:
            raise RegistryUnavailable(f"cannot write the registry in {self.path.parent}: {exc.strerror or exc}; "
                                      "give a writable directory with --data-dir or STATIONMAP_DATA_DIR") from None
        with self._lock, lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def update(self, change: Change, note: dict[str, Any] | None = None) -> bool:
        with self._locked():
            exists = self.path.exists()
            return journaled_update(self.all() if exists else [], change, note, self._journal, self._write, exists)

    def change_rows(self, change: RowChange, note: dict[str, Any] | None = None) -> bool:
        with self._locked():
            snap = self._fresh()
            return journaled_rows(MappingProxyType(snap.by_id), change, note, self._journal, self._write_rows)

    def _write_rows(self, items: list[Item]) -> None:
        """The changed rows, the log and the layer's extent in one SQLite transaction."""
        con = _open(self.path)
        try:
            con.execute("BEGIN IMMEDIATE")
            _ensure_side_tables(con)
            columns = _columns(con)
            names = ", ".join(_q(c) for c in ("geom", *columns))
            for sid, before, after in items:
                if after is None:
                    con.execute(f'DELETE FROM "{LAYER}" WHERE id = ?', (sid,))
                else:
                    row = to_row(after)
                    values = [_point_blob(after.lon, after.lat), *(row[c] for c in columns)]
                    if before is None or con.execute(f'UPDATE "{LAYER}" SET ({names}) = ({", ".join("?" * len(values))}) '
                                                     f"WHERE id = ?", (*values, sid)).rowcount == 0:
                        con.execute(f'INSERT INTO "{LAYER}" ({names}) VALUES ({", ".join("?" * len(values))})', values)
                    con.execute("UPDATE gpkg_contents SET min_x = MIN(COALESCE(min_x, ?1), ?1), max_x = MAX(COALESCE(max_x, ?1), ?1), "
                                "min_y = MIN(COALESCE(min_y, ?2), ?2), max_y = MAX(COALESCE(max_y, ?2), ?2) WHERE table_name = ?3",
                                (after.lon, after.lat, LAYER))
                con.execute("INSERT INTO stationmap_log (station_id) VALUES (?)", (sid,))
            con.execute("UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE table_name = ?",
                        (LAYER,))
            _commit(con)
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def _write(self, stations: list[Station]) -> None:
        """A complete new file (with a new generation), renamed into place."""
        tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp.gpkg")
        try:
            to_frame(stations).to_file(tmp, layer=LAYER, driver="GPKG", engine="pyogrio")
            con = _open(tmp)
            try:
                con.execute("BEGIN IMMEDIATE")
                _ensure_side_tables(con, generation=uuid.uuid4().hex)
                con.execute("COMMIT")
            finally:
                con.close()
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


def _commit(con: sqlite3.Connection) -> None:
    """COMMIT: the moment a row write takes effect (tests stop a writer here to kill it)."""
    con.execute("COMMIT")


def _open(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA synchronous=FULL")
    _register_functions(con)
    return con


def _ensure_side_tables(con: sqlite3.Connection, generation: str | None = None) -> None:
    """The revision tables and GDAL's aspatial marker (inside the caller's transaction)."""
    for stmt in _SIDE_TABLES.strip().split(";"):
        if stmt.strip():
            con.execute(stmt)
    if generation or con.execute("SELECT 1 FROM stationmap_meta WHERE key = 'generation'").fetchone() is None:
        con.execute("INSERT OR REPLACE INTO stationmap_meta (key, value) VALUES ('generation', ?)",
                    (generation or uuid.uuid4().hex,))
    if con.execute("SELECT 1 FROM gpkg_extensions WHERE extension_name = ?", (_ASPATIAL[0],)).fetchone() is None:
        con.execute("INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope) "
                    "VALUES (NULL, NULL, ?, ?, ?)", _ASPATIAL)


def _columns(con: sqlite3.Connection) -> list[str]:
    """The station fields the layer has (a file written by an older version may lack the newest)."""
    present = {r[1] for r in con.execute(f'PRAGMA table_info("{LAYER}")')}
    return [c for c in FIELDS if c in present]


def _select_ids(con: sqlite3.Connection, columns: list[str], ids: list[str]) -> list[tuple]:
    out: list[tuple] = []
    names = ", ".join(_q(c) for c in columns)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        out += con.execute(f'SELECT {names} FROM "{LAYER}" WHERE id IN ({", ".join("?" * len(chunk))})', chunk).fetchall()
    return out


def _q(name: str) -> str:
    return f'"{name}"'


def _unreadable(path: Path) -> RegistryUnavailable:
    return RegistryUnavailable(f"the registry {path} is not a readable GeoPackage with a '{LAYER}' layer; "
                               "restore it from a backup, or move it away to start again from the sample registry")


# -- GeoPackage geometry blobs: what the layer's R-tree triggers need -----------------------------
def _point_blob(lon: float, lat: float) -> bytes:
    """A GeoPackage geometry blob: 'GP', version 0, flags (little-endian, no envelope), SRS 4326, WKB point."""
    return struct.pack("<2sBBi", b"GP", 0, 1, 4326) + struct.pack("<BIdd", 1, 1, lon, lat)


_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def _bounds(blob: bytes | None) -> tuple[float, float, float, float] | None:
    if blob is None or len(blob) < 8 or blob[:2] != b"GP" or blob[3] & 0x10:
        return None
    flags = blob[3]
    order = "<" if flags & 1 else ">"
    size = _ENVELOPE_BYTES.get((flags >> 1) & 7, 0)
    if size:
        minx, maxx, miny, maxy = struct.unpack(order + "4d", blob[8:40])
        return minx, miny, maxx, maxy
    wkb = blob[8 + size:]
    if len(wkb) == 21 and struct.unpack(("<" if wkb[0] else ">") + "I", wkb[1:5])[0] == 1:
        x, y = struct.unpack(("<" if wkb[0] else ">") + "dd", wkb[5:21])
        return x, y, x, y
    return tuple(from_wkb(wkb).bounds)  # type: ignore[return-value]


def _register_functions(con: sqlite3.Connection) -> None:
    con.create_function("ST_IsEmpty", 1, lambda b: int(_bounds(b) is None), deterministic=True)
    for name, i in (("ST_MinX", 0), ("ST_MinY", 1), ("ST_MaxX", 2), ("ST_MaxY", 3)):
        con.create_function(name, 1, lambda b, i=i: (_bounds(b) or (None,) * 4)[i], deterministic=True)


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
    """Stations as the GeoPackage layer stores them (lists as JSON text). Reading is plain SQLite; only
    whole-file writes need geopandas, imported here so that reading commands start without it."""
    import geopandas as gpd
    import pandas as pd

    frame = pd.DataFrame([to_row(s) for s in stations], columns=list(FIELDS))
    geometry = [Point(s.lon, s.lat) for s in stations]
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


__all__ = ["FILENAME", "LAYER", "LIST_FIELDS", "GpkgStore", "remove_dead_writers_files", "to_frame"]
