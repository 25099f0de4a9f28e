"""The PostGIS backend: the registry as the table `stations` of a PostgreSQL database (`database_url`).

Each station is one row with a `geography(Point, 4326)` column under a GiST index. Every write is one
database transaction on the rows it changes (an import writes only the rows that differ), taken under
a session advisory lock, so writers on every worker and machine are serialised and a killed writer's
transaction is rolled back by the server. `registry_log` numbers every row written: each process keeps
the registry in memory and re-reads only the rows logged since it last looked (`version()` is that
number, with the database's generation). The schema is Alembic's (migrations in `migrations/`),
upgraded by `stationmap db upgrade` and at every open (`upgrade`).

The audit log (the store's journal), accounts, telemetry and reports are in the same database, one
schema each (`stationmap.ops.db`), so every worker and machine shares them.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator

import psycopg

from ..errors import RegistryUnavailable, ServerUnavailable
from ..model import Station
from .base import Change, Item, Journal, RowChange, FollowedStore, diff, journaled_rows, journaled_update, reread
from .rows import FIELDS, from_rows, to_row

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x5354_4D50  # the advisory lock of registry writers ('STMP')
_COLUMNS = ", ".join(FIELDS)
BULK_ROWS = 1000  # more rows than this in one write go in by COPY


def upgrade(url: str, revision: str = "head") -> None:
    """Create or migrate the registry's schema (Alembic) in the database at `url`."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(_sqlalchemy_url(url))
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def _sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class _Snapshot:
    __slots__ = ("generation", "revision", "stations", "by_id")

    def __init__(self, generation: str, revision: int, stations: list[Station]):
        self.generation, self.revision = generation, revision
        self.stations = tuple(stations)
        self.by_id = {s.id: s for s in stations}


class PostgisStore(FollowedStore):
    """The registry in PostGIS, followed incrementally by every process through `registry_log`."""

    def __init__(self, url: str, journal: Journal | None = None, migrate: bool = True):
        self.url = url
        self._journal = journal
        self._lock = threading.RLock()
        self._snapshot: _Snapshot | None = None
        self._con: psycopg.Connection | None = None
        if migrate:
            try:
                upgrade(url)
            except Exception as exc:  # the driver's many errors: one clear line
                raise RegistryUnavailable(f"cannot open the PostGIS registry ({_safe(url)}): {exc}".splitlines()[0]) from None

    def describe(self) -> str:
        return f"PostGIS {_safe(self.url)}"

    # -- reading -------------------------------------------------------------------------------
    def version(self) -> str:
        with self._lock:
            generation, revision = self._state(self._connection())
        return f"postgis:{generation}:{revision}"

    def _connection(self) -> psycopg.Connection:
        if self._con is None or self._con.closed or self._con.broken:
            try:
                self._con = psycopg.connect(self.url, autocommit=True)
            except psycopg.Error as exc:
                raise ServerUnavailable(f"the PostGIS registry ({_safe(self.url)}) is unreachable: "
                                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc}") from None
        return self._con

    @staticmethod
    def _state(con: psycopg.Connection) -> tuple[str, int]:
        row = con.execute("SELECT (SELECT generation FROM registry_state), "
                          "(SELECT COALESCE(MAX(rev), 0) FROM registry_log)").fetchone()
        return str(row[0]), int(row[1])

    def _fresh(self) -> _Snapshot:
        with self._lock:
            con = self._connection()
            with con.transaction():
                con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                generation, revision = self._state(con)
                snap = self._snapshot
                if snap is None or snap.generation != generation or revision < snap.revision:
                    rows = con.execute(f"SELECT {_COLUMNS} FROM stations ORDER BY id").fetchall()
                    snap = self._snapshot = _Snapshot(generation, revision, from_rows(FIELDS, rows))
                elif revision != snap.revision:
                    ids = [r[0] for r in con.execute("SELECT DISTINCT station_id FROM registry_log WHERE rev > %s",
                                                     (snap.revision,))]
                    rows = con.execute(f"SELECT {_COLUMNS} FROM stations WHERE id = ANY(%s)", (ids,)).fetchall()
                    stations = reread(snap.by_id, ids, from_rows(FIELDS, rows))
                    snap = self._snapshot = _Snapshot(generation, revision, stations)
            return snap

    # -- writing -------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        """This process's lock, then the database's advisory lock (released by the server if we die)."""
        with self._lock:
            con = self._connection()
            con.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            try:
                yield
            finally:
                if not con.closed and not con.broken:
                    con.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))

    def update(self, change: Change, note: dict[str, Any] | None = None) -> bool:
        with self._locked():
            return journaled_update(list(self._fresh().stations), change, note, self._journal, self._write)

    def change_rows(self, change: RowChange, note: dict[str, Any] | None = None) -> bool:
        with self._locked():
            return journaled_rows(MappingProxyType(self._fresh().by_id), change, note, self._journal, self._write_rows)

    def _write(self, stations: list[Station]) -> None:
        """A whole new registry, written as the rows that differ from the current one."""
        self._write_rows(diff(self._fresh().by_id, stations))

    def _write_rows(self, items: list[Item]) -> None:
        placeholders = ", ".join(["%s"] * len(FIELDS))
        updates = ", ".join(f"{f} = EXCLUDED.{f}" for f in FIELDS if f != "id")
        con = self._connection()
        with con.transaction(), con.cursor() as cur:
            gone = [sid for sid, _before, after in items if after is None]
            if gone:
                cur.execute("DELETE FROM stations WHERE id = ANY(%s)", (gone,))
            rows = [(*map(to_row(after).__getitem__, FIELDS), after.lon, after.lat) for _sid, _before, after in items
                    if after is not None]
            if len(rows) > BULK_ROWS:  # an import: streamed in with COPY, then merged in one statement
                cur.execute("CREATE TEMP TABLE incoming (LIKE stations) ON COMMIT DROP")
                with cur.copy(f"COPY incoming ({_COLUMNS}, geog) FROM STDIN") as copy:
                    for *fields, lon, lat in rows:
                        copy.write_row((*fields, f"SRID=4326;POINT({lon!r} {lat!r})"))
                cur.execute(f"INSERT INTO stations ({_COLUMNS}, geog) SELECT {_COLUMNS}, geog FROM incoming "
                            f"ON CONFLICT (id) DO UPDATE SET {updates}, geog = EXCLUDED.geog")
            elif rows:
                cur.executemany(f"INSERT INTO stations ({_COLUMNS}, geog) VALUES ({placeholders}, "
                                f"ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography) "
                                f"ON CONFLICT (id) DO UPDATE SET {updates}, geog = EXCLUDED.geog", rows)
            with cur.copy("COPY registry_log (station_id) FROM STDIN") as copy:
                for sid, _b, _a in items:
                    copy.write_row((sid,))
            _before_commit(cur)


def _before_commit(cur: psycopg.Cursor) -> None:
    """The last step inside a write's transaction (tests stop a writer here to kill it)."""


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
