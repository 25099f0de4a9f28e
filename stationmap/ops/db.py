"""Where the operations records live (accounts, audit, telemetry, reports), one way to open them and write safely.

Two places, one way to use them. Without a database (the default), each kind of record is a SQLite file
beside the registry, created on first use with its schema, owner-only permissions (it may hold secrets
or personal data), WAL journaling (readers never block the one writer) and full fsync, so a process
killed mid-transaction leaves the file as it was before that transaction. When the registry is in
PostgreSQL (`database_url`), the same records are in that database, one schema per file (`accounts`,
`audit`, `telemetry`, `reports`; tables created by the registry's Alembic migrations), so every worker on
every machine shares them. The modules' SQL runs on both: `PgConnection` takes `?` parameters and gives
rows readable by name or position, as sqlite3 does; a write transaction first takes its schema's
advisory lock, so check-then-write steps stay serialised as under SQLite's single writer.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import InvalidInput

# the schemas that hold in PostgreSQL what the SQLite files hold, each with its writers' advisory lock
SCHEMAS = {"accounts": 1, "audit": 2, "telemetry": 3, "reports": 4}
_LOCK_CLASS = 0x5354_4D50  # 'STMP', first key of the two-key advisory locks of record writers


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso_utc(when: datetime) -> str:
    """'2025-06-01T04:00:00.123456Z': sortable text, the one form stored in every file."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def time_bound(value: date | datetime | str | None, what: str, zone: tzinfo) -> str | None:
    """A day (its midnight) or a time, as the stored UTC text; a day or time without a zone is on `zone`'s clock."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value or " " in value \
                else date.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{what} {value!r}: give a day such as 2025-06-01 or a time such as 2025-06-01T08:00") from None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return iso_utc(value)


# -- where ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Postgres:
    """A kind of records in PostgreSQL: the database and the schema that stands for its SQLite file."""

    url: str
    schema: str

    def __repr__(self) -> str:  # never the password
        return f"Postgres({safe_url(self.url)!r}, {self.schema!r})"

    __str__ = __repr__


Place = Path | Postgres


def as_place(where: Place | str) -> Place:
    """A place as given: the database schema, or the SQLite file's path."""
    return where if isinstance(where, Postgres) else Path(where)


def shared_database(settings: dict[str, Any]) -> str:
    """The database the records share with the registry: `database_url` when the registry is in PostgreSQL
    (store postgis, or auto with a URL), else "" (SQLite files in the data directory)."""
    return settings["database_url"] if settings["store"] in ("auto", "postgis") else ""


def place(data_dir: Path | str, filename: str, database_url: str | None = None) -> Place:
    """Where one kind of records lives: `filename` in `data_dir`, or its schema in the database.
    `database_url` None reads the settings (`shared_database`); "" means the SQLite file."""
    if database_url is None:
        from .. import config

        database_url = shared_database(config.load_settings())
    if database_url:
        schema = Path(filename).stem
        assert schema in SCHEMAS, schema
        return Postgres(database_url, schema)
    return Path(data_dir) / filename


def dialect(con: Any) -> str:
    """'sqlite' or 'postgresql': for the few statements the two write differently."""
    return "sqlite" if isinstance(con, sqlite3.Connection) else "postgresql"


# -- opening ----------------------------------------------------------------------------------------
@contextmanager
def connect(where: Place, schema: str) -> Iterator[Any]:
    """A connection in autocommit mode (use `transaction` for writes); closed (or back in the pool) on exit.
    `schema` is the SQLite file's; a database's schema is Alembic's."""
    if isinstance(where, Postgres):
        with _pg_connect(where) as con:
            yield con
        return
    path = Path(where)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA foreign_keys=ON")
        con.executescript(schema)  # CREATE ... IF NOT EXISTS: cheap, and a deleted file heals
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: Any) -> Iterator[Any]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception: all of it or nothing.
    In PostgreSQL: a transaction holding the schema's advisory lock until it ends."""
    if not isinstance(con, sqlite3.Connection):
        with con.transaction():
            yield con
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


# -- PostgreSQL -------------------------------------------------------------------------------------
class Row:
    """A result row read by column name or position, as sqlite3.Row is."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: tuple):
        self._index, self._values = index, values

    def __getitem__(self, key: int | str) -> Any:
        return self._values[key if isinstance(key, int) else self._index[key]]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _rows(cursor: Any) -> Any:
    index = {c.name: i for i, c in enumerate(cursor.description or ())}
    return lambda values: Row(index, values)


@lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    """sqlite3's `?` parameters as psycopg's `%s` (a literal % doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgConnection:
    """A psycopg connection (autocommit) taking the SQL the modules write for sqlite3."""

    def __init__(self, con: Any, lock: int):
        self._con, self._lock = con, lock

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Any:
        params = tuple(params)
        cur = self._con.cursor(row_factory=_rows)
        return cur.execute(_pg_sql(sql), params) if params else cur.execute(sql)

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> Any:
        cur = self._con.cursor()
        cur.executemany(_pg_sql(sql), [tuple(r) for r in rows])
        return cur

    @contextmanager
    def transaction(self) -> Iterator["PgConnection"]:
        with self._con.transaction():
            self._con.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, self._lock))
            yield self


_engines: dict[tuple[int, str, str], Any] = {}  # (process, url, schema): a pool of connections
_migrated: set[tuple[int, str]] = set()
_engines_lock = threading.Lock()


def _engine(where: Postgres) -> Any:
    """This process's connection pool for one schema (its search_path), the schema migrated to head first."""
    key = (os.getpid(), where.url, where.schema)
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _engines_lock:
        if key in _engines:
            return _engines[key]
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        if (os.getpid(), where.url) not in _migrated:
            from ..store.postgis import upgrade

            upgrade(where.url)
            _migrated.add((os.getpid(), where.url))
        url = make_url(where.url).set(drivername="postgresql+psycopg")
        engine = _engines[key] = create_engine(
            url, pool_size=2, max_overflow=10, pool_pre_ping=True, isolation_level="AUTOCOMMIT",
            connect_args={"options": f"-c search_path={where.schema}"})
        return engine


def dispose(url: str) -> None:
    """Close this process's pooled connections to the database at `url` (a database about to be dropped)."""
    with _engines_lock:
        for key in [k for k in _engines if k[1] == url]:
            _engines.pop(key).dispose()
        _migrated.difference_update({k for k in _migrated if k[1] == url})


@contextmanager
def _pg_connect(where: Postgres) -> Iterator[PgConnection]:
    """A pooled connection; a database that cannot be reached (or goes away meanwhile) is ServerUnavailable."""
    import psycopg

    from ..errors import ServerUnavailable

    def unavailable(exc: BaseException) -> ServerUnavailable:
        text = str(getattr(exc, "orig", None) or exc).strip()
        return ServerUnavailable(f"the database ({safe_url(where.url)}) is unavailable: "
                                 f"{text.splitlines()[0] if text else type(exc).__name__}")

    try:
        raw = _engine(where).raw_connection()
    except Exception as exc:  # the driver's, the pool's and Alembic's many errors
        raise unavailable(exc) from None
    try:
        yield PgConnection(raw.driver_connection, SCHEMAS[where.schema])
    except psycopg.OperationalError as exc:
        raw.invalidate()
        raise unavailable(exc) from None
    finally:
        raw.close()


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
    return url
