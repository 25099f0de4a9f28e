"""SQLite files beside the registry (accounts, audit, telemetry): one way to open them and write safely.

Each file is created on first use with its schema, owner-only permissions (it may hold secrets or
personal data), WAL journaling (readers never block the one writer) and full fsync, so a process
killed mid-transaction leaves the file as it was before that transaction.
"""
from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from datetime import date, datetime, timezone, tzinfo
from pathlib import Path
from typing import Iterator

from ..errors import InvalidInput


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


@contextmanager
def connect(path: Path, schema: str) -> Iterator[sqlite3.Connection]:
    """A connection in autocommit mode (use `transaction` for writes); closed on exit."""
    path = Path(path)
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
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception: all of it or nothing."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
