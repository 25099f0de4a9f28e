"""The audit log: who changed which station, when, and what it was before and after.

`AuditLog` is the station store's journal (`stationmap.store.Journal`), so every registry write is
recorded under the same exclusive lock, in `DATA_DIR/audit.sqlite` (or, when the registry is in
PostgreSQL, in the schema `audit` of that database: `stationmap.ops.db`):

1. `begin` commits a *pending* change carrying the rows about to change, before and after;
2. the store writes those rows (one transaction) or the whole registry (renamed into place);
3. `commit` marks the change *committed*.

A writer killed between 1 and 3 leaves a pending change; the next writer (or reader, through
`reconcile`) settles it under the lock by comparing the registry's rows with the change's: every row
as "after" means the write happened (committed), otherwise it did not (aborted). So log and registry
cannot diverge, and no step costs more than the rows the change touches.

Steps that change no station (a worker's report filed, an editor resolving it) are *notes*: `note`
writes a committed change without items and one row in `notes` (station and a small JSON detail),
so they take their place in the same sequence and read back through `entries` with op "note".
"""
from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..hours import TZ
from ..model import Station
from ..store.rows import record
from .db import Place, as_place, connect, iso_utc, parse_utc, place, time_bound, transaction, utc_now

FILENAME = "audit.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL UNIQUE,
    at_utc TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'committed', 'aborted')),
    digest_before TEXT NOT NULL,
    digest_after TEXT NOT NULL,
    settled_utc TEXT
);
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER NOT NULL REFERENCES changes(seq) ON DELETE CASCADE,
    station_id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('create', 'update', 'delete')),
    before TEXT,
    after TEXT,
    PRIMARY KEY (seq, station_id)
);
CREATE INDEX IF NOT EXISTS items_station ON items (station_id);
CREATE TABLE IF NOT EXISTS notes (
    seq INTEGER PRIMARY KEY REFERENCES changes(seq) ON DELETE CASCADE,
    station_id TEXT NOT NULL,
    district TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS notes_station ON notes (station_id);
CREATE INDEX IF NOT EXISTS changes_pending ON changes (state) WHERE state = 'pending';
"""
CSV_COLUMNS = ("seq", "at_utc", "at_local", "actor", "role", "action", "station_id", "op", "changed",
               "before", "after", "detail")


@dataclass(frozen=True)
class AuditEntry:
    """One station's change within one registry write."""

    seq: int
    at_utc: str
    at_local: str  # Asia/Shanghai, for display
    actor: str
    role: str
    action: str
    station_id: str
    op: str  # create, update or delete; note: a step that changed no station (detail says what)
    changed: tuple[str, ...]  # fields that differ (all fields for create/delete)
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    state: str = "committed"
    detail: dict[str, Any] | None = None  # notes only: e.g. {"report": 7, "kind": "closed"}
    district: str = ""  # notes only: the station's district when noted (for editors' scoping)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "changed": list(self.changed)}

    def districts(self) -> set[str]:
        """The districts this entry concerns (before, after, or where a note's station was): editors' scoping."""
        found = {(self.before or {}).get("district"), (self.after or {}).get("district"), self.district}
        return {d for d in found if d}


def _local(at_utc: str) -> str:
    return parse_utc(at_utc).astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S")


class AuditLog:
    """The journal of one registry, in one SQLite file or database schema."""

    def __init__(self, path: Place):
        self.path = as_place(path)

    def _db(self):
        return connect(self.path, SCHEMA)

    # -- the store's journal protocol (called under the store lock) ----------------------------
    def recover(self, current: Mapping[str, Station]) -> None:
        """Settle changes a killed writer left pending, judging by the changed rows as they are now."""
        with self._db() as con:
            pending = [r[0] for r in con.execute("SELECT seq FROM changes WHERE state = 'pending'")]
            if not pending:
                return
            with transaction(con):
                for seq in pending:
                    items = con.execute("SELECT station_id, after FROM items WHERE seq = ?", (seq,)).fetchall()
                    done = bool(items) and all(_dump(current.get(r["station_id"])) == r["after"] for r in items)
                    con.execute("UPDATE changes SET state = ?, settled_utc = ? WHERE seq = ? AND state = 'pending'",
                                ("committed" if done else "aborted", iso_utc(utc_now()), seq))

    def begin(self, items: list[tuple[str, Station | None, Station | None]], note: dict[str, Any] | None) -> int:
        """Record the rows about to change (id, before, after) as a pending change; returns its ticket."""
        note = note or {}
        rows = [(sid, "create" if b is None else "delete" if a is None else "update", _dump(b), _dump(a))
                for sid, b, a in items]
        with self._db() as con, transaction(con):
            seq = con.execute(
                "INSERT INTO changes (uid, at_utc, actor, role, action, state, digest_before, digest_after) "
                "VALUES (?, ?, ?, ?, ?, 'pending', '', '') RETURNING seq",
                (uuid.uuid4().hex, iso_utc(utc_now()), str(note.get("actor") or "unknown"), str(note.get("role") or ""),
                 str(note.get("action") or "update"))).fetchone()[0]
            con.executemany("INSERT INTO items (seq, station_id, op, before, after) VALUES (?, ?, ?, ?, ?)",
                            [(seq, *row) for row in rows])
        return seq

    def note(self, actor: str, role: str, action: str, station_id: str, district: str,
             detail: dict[str, Any] | None = None) -> int:
        """Record a step that changes no station (committed at once); returns its sequence number."""
        with self._db() as con, transaction(con):
            seq = con.execute(
                "INSERT INTO changes (uid, at_utc, actor, role, action, state, digest_before, digest_after) "
                "VALUES (?, ?, ?, ?, ?, 'committed', '', '') RETURNING seq",
                (uuid.uuid4().hex, iso_utc(utc_now()), actor, role, action)).fetchone()[0]
            con.execute("INSERT INTO notes (seq, station_id, district, detail) VALUES (?, ?, ?, ?)",
                        (seq, station_id, district, json.dumps(detail or {}, ensure_ascii=False, sort_keys=True)))
        return seq

    def commit(self, ticket: int) -> None:
        self._settle(ticket, "committed")

    def abort(self, ticket: int) -> None:
        self._settle(ticket, "aborted")

    def _settle(self, seq: int, state: str) -> None:
        with self._db() as con, transaction(con):
            con.execute("UPDATE changes SET state = ?, settled_utc = ? WHERE seq = ? AND state = 'pending'",
                        (state, iso_utc(utc_now()), seq))

    # -- reading ---------------------------------------------------------------------------------
    def entries(self, station_id: str | None = None, actor: str | None = None, since_utc: str | None = None,
                limit: int | None = None, states: tuple[str, ...] = ("committed",)) -> list[AuditEntry]:
        """Entries, newest first; by default only committed ones (call `reconcile` first to settle).

        `since_utc`: a day or time, UTC unless it names its zone (e.g. 2025-06-01, 2025-06-01T08:00+08:00)."""
        sql = ("SELECT * FROM (SELECT c.seq, c.at_utc, c.actor, c.role, c.action, c.state, i.station_id, i.op, "
               "i.before, i.after, NULL AS detail, '' AS district FROM changes c JOIN items i ON i.seq = c.seq "
               "UNION ALL SELECT c.seq, c.at_utc, c.actor, c.role, c.action, c.state, n.station_id, 'note', "
               "NULL, NULL, n.detail, n.district FROM changes c JOIN notes n ON n.seq = c.seq) AS e "
               "WHERE state IN (%s)" % ",".join("?" * len(states)))
        args: list[Any] = list(states)
        if station_id:
            sql += " AND station_id = ?"
            args.append(station_id)
        if actor:
            sql += " AND actor = ?"
            args.append(actor)
        since = time_bound(since_utc, "since", timezone.utc)
        if since:
            sql += " AND at_utc >= ?"
            args.append(since)
        sql += " ORDER BY seq DESC, station_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._db() as con:
            rows = con.execute(sql, args).fetchall()
        out = []
        for r in rows:
            b = json.loads(r["before"]) if r["before"] else None
            a = json.loads(r["after"]) if r["after"] else None
            keys = sorted((b or a or {}).keys())
            changed = tuple(k for k in keys if (b or {}).get(k) != (a or {}).get(k))
            out.append(AuditEntry(r["seq"], r["at_utc"], _local(r["at_utc"]), r["actor"], r["role"], r["action"],
                                  r["station_id"], r["op"], changed, b, a, r["state"],
                                  json.loads(r["detail"]) if r["detail"] else None, r["district"]))
        return out

    def pending(self) -> int:
        with self._db() as con:
            return con.execute("SELECT COUNT(*) FROM changes WHERE state = 'pending'").fetchone()[0]


def _dump(station: Station | None) -> str | None:
    return None if station is None else json.dumps(record(station), ensure_ascii=False, sort_keys=True)


def reconcile(store) -> None:
    """Settle pending entries now, under the store's lock (a row change of no rows: nothing is written)."""
    store.change_rows(lambda _current: {})


def csv_text(entries: Iterable[AuditEntry]) -> str:
    """Entries as CSV text (before/after as JSON text; text kept inert for spreadsheets)."""
    from ..files.sheets import rows_csv  # pandas: not imported by every command that opens the audit log

    rows = []
    for e in entries:
        rec = e.to_json()
        rec["changed"] = " ".join(e.changed)
        rec["before"] = json.dumps(e.before, ensure_ascii=False) if e.before else ""
        rec["after"] = json.dumps(e.after, ensure_ascii=False) if e.after else ""
        rec["detail"] = json.dumps(e.detail, ensure_ascii=False) if e.detail else ""
        rows.append([rec[c] for c in CSV_COLUMNS])
    return rows_csv(CSV_COLUMNS, rows)


def open_audit(data_dir: Path | str, database_url: str | None = None) -> AuditLog:
    """The audit log of `data_dir`, or of the database (`database_url`; None: from the settings)."""
    return AuditLog(place(data_dir, FILENAME, database_url))
