"""Smart-station reports: check them, store them, and tell each station's live status.

A device POSTs a small JSON object, signed with HMAC-SHA256 under its station's device key:

    {"station": "st-1a2b3c4d5e", "ts": 1750000000, "nonce": "9f1c2e7a51d0",
     "open": true, "occupancy": 3, "temperature_c": 27.5, "visits": 12, "alarm": false}
    X-Signature: sha256=<hex HMAC-SHA256(key, raw body bytes)>

`ts` is Unix seconds (or ISO 8601 with a zone); `visits` counts entries since the last report.
A report is refused, and nothing stored, if it is oversized (PayloadTooLarge), unsigned or wrongly
signed (Unauthorized), malformed or out of range (InvalidInput), or replayed: a nonce already used
by that station, or a timestamp further than `telemetry_window_s` from the server clock (Replayed).
Reports live in `DATA_DIR/telemetry.sqlite`, or in the schema `telemetry` of the registry's PostgreSQL
database when there is one (`stationmap.ops.db`); the (station, nonce) pair is unique there, so even two
processes (or machines) receiving the same report at once store it once.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import checks
from ..errors import InvalidInput, PayloadTooLarge, Replayed, Unauthorized
from ..hours import TZ
from ..store import StationStore
from .accounts import Accounts
from .db import Place, as_place, connect, iso_utc, parse_utc, place, transaction, utc_now

FILENAME = "telemetry.sqlite"
MAX_REPORT_BYTES = 2048
SIGNATURE_HEADER = "X-Signature"
_NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# field: (type, low, high, required); ranges are what a station of a few dozen square metres can show
FIELDS: dict[str, tuple[type, float | None, float | None, bool]] = {
    "station": (str, None, None, True),
    "ts": (object, None, None, True),
    "nonce": (str, None, None, True),
    "open": (bool, None, None, True),
    "occupancy": (int, 0, 500, True),
    "temperature_c": (float, -30, 70, False),
    "visits": (int, 0, 10000, True),
    "alarm": (bool, None, None, False),
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    district TEXT NOT NULL,
    ts_utc TEXT NOT NULL,
    received_utc TEXT NOT NULL,
    nonce TEXT NOT NULL,
    open INTEGER NOT NULL,
    occupancy INTEGER NOT NULL,
    temperature_c REAL,
    visits INTEGER NOT NULL,
    alarm INTEGER NOT NULL,
    UNIQUE (station_id, nonce)
);
CREATE INDEX IF NOT EXISTS reports_station_ts ON reports (station_id, ts_utc);
CREATE INDEX IF NOT EXISTS reports_ts ON reports (ts_utc);
CREATE TABLE IF NOT EXISTS latest (  -- each station's newest report, kept with every insert: live status reads 16 rows, not millions
    station_id TEXT PRIMARY KEY,
    ts_utc TEXT NOT NULL,
    report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE
);
"""


@dataclass(frozen=True)
class Report:
    station_id: str
    ts: datetime  # UTC
    nonce: str
    open: bool
    occupancy: int
    temperature_c: float | None
    visits: int
    alarm: bool


def sign(key: bytes | str, body: bytes) -> str:
    """The X-Signature header value for `body` under a device key."""
    key = key.encode() if isinstance(key, str) else key
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def build_report(key: bytes | str, station_id: str, *, open: bool = True, occupancy: int = 0, visits: int = 0,
                 temperature_c: float | None = None, alarm: bool = False, ts: float | None = None,
                 nonce: str | None = None) -> tuple[bytes, str]:
    """What a device sends: (body, X-Signature value). For device firmware authors, simulators and tests."""
    import secrets
    import time

    report = {"station": station_id, "ts": int(time.time()) if ts is None else ts,
              "nonce": nonce or secrets.token_hex(12), "open": open, "occupancy": occupancy, "visits": visits,
              "alarm": alarm}
    if temperature_c is not None:
        report["temperature_c"] = temperature_c
    body = json.dumps(report, separators=(",", ":")).encode()
    return body, sign(key, body)


def _parse_ts(value: Any) -> datetime:
    if isinstance(value, bool):
        raise InvalidInput("ts must be Unix seconds or an ISO 8601 time with a zone")
    if isinstance(value, (int, float)) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value, timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise InvalidInput(f"ts {value!r} is not a time") from None
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"ts {value!r} is not an ISO 8601 time") from None
        if t.tzinfo is None:
            raise InvalidInput(f"ts {value!r} has no time zone; add Z or +08:00")
        return t.astimezone(timezone.utc)
    raise InvalidInput("ts must be Unix seconds or an ISO 8601 time with a zone")


def parse_report(station_id: str, body: bytes) -> Report:
    """Validate a report body (already authenticated); InvalidInput names the first bad field."""
    data = checks.json_document(body, "report")
    if not isinstance(data, dict):
        raise InvalidInput("report must be a JSON object")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    for name, (kind, low, high, required) in FIELDS.items():
        value = data.get(name)
        if value is None:
            if required:
                raise InvalidInput(f"missing field {name}")
            continue
        if kind is bool and not isinstance(value, bool):
            raise InvalidInput(f"{name} must be true or false")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidInput(f"{name} must be a whole number")
        if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
            raise InvalidInput(f"{name} must be a number")
        if kind is str and not isinstance(value, str):
            raise InvalidInput(f"{name} must be text")
        if low is not None and not low <= value <= high:
            raise InvalidInput(f"{name} {value} is out of range {low}..{high}")
    if data["station"] != station_id:
        raise InvalidInput(f"report is for station {data['station']!r}, posted to {station_id!r}")
    if not _NONCE.match(data["nonce"]):
        raise InvalidInput("nonce must be 8-64 letters, digits, '-' or '_', new for every report")
    temp = data.get("temperature_c")
    return Report(station_id, _parse_ts(data["ts"]), data["nonce"], data["open"], data["occupancy"],
                  None if temp is None else float(temp), data["visits"], bool(data.get("alarm", False)))


class Telemetry:
    """Reports of every smart station, in one SQLite file or database schema."""

    def __init__(self, path: Place):
        self.path = as_place(path)

    def db(self):
        return connect(self.path, SCHEMA)

    def receive(self, store: StationStore, accounts: Accounts, station_id: str, body: bytes,
                signature: str | None, window_s: int, now: datetime | None = None) -> Report:
        """Authenticate, validate and store one report, or raise and store nothing."""
        if len(body) > MAX_REPORT_BYTES:
            raise PayloadTooLarge(f"report is {len(body)} bytes; at most {MAX_REPORT_BYTES}")
        if not signature:
            raise Unauthorized(f"unsigned report: send {SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the body>")
        key = accounts.device_key(station_id)
        if not hmac.compare_digest(sign(key, body), signature.strip()):
            raise Unauthorized("signature does not match this station's device key")
        report = parse_report(station_id, body)
        station = store.get(station_id)
        now = now or utc_now()
        skew = (report.ts - now).total_seconds()
        if abs(skew) > window_s:
            raise Replayed(f"report time is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the server "
                           f"(at most {window_s} s): a replay, or the device clock is wrong")
        with self.db() as con, transaction(con):
            row = con.execute(
                "INSERT INTO reports (station_id, district, ts_utc, received_utc, nonce, open, occupancy, "
                "temperature_c, visits, alarm) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (station_id, nonce) DO NOTHING RETURNING id",
                (station_id, station.district, iso_utc(report.ts), iso_utc(now), report.nonce,
                 int(report.open), report.occupancy, report.temperature_c, report.visits, int(report.alarm))).fetchone()
            if row is None:
                raise Replayed(f"nonce {report.nonce!r} was already used by station {station_id}: a replayed report")
            con.execute("INSERT INTO latest (station_id, ts_utc, report_id) VALUES (?, ?, ?) "
                        "ON CONFLICT (station_id) DO UPDATE SET ts_utc = excluded.ts_utc, report_id = excluded.report_id "
                        "WHERE excluded.ts_utc >= latest.ts_utc", (station_id, iso_utc(report.ts), row[0]))
        return report

    def live_status(self, stale_after_s: int, now: datetime | None = None) -> dict[str, dict[str, Any]]:
        """Last known state per reporting station; 'unknown' once the last report is older than `stale_after_s`."""
        now = now or utc_now()
        with self.db() as con:
            rows = con.execute("SELECT r.* FROM latest l JOIN reports r ON r.id = l.report_id").fetchall()
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            at = parse_utc(r["ts_utc"])
            age = max(0, int((now - at).total_seconds()))
            fresh = age <= stale_after_s
            status = {"state": ("open" if r["open"] else "closed") if fresh else "unknown",
                      "reported_at": r["ts_utc"], "reported_at_local": at.astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S"),
                      "age_s": age}
            if fresh:
                status.update(occupancy=r["occupancy"], temperature_c=r["temperature_c"], alarm=bool(r["alarm"]))
            out[r["station_id"]] = status
        return out

    def reports(self, station_id: str, limit: int = 100) -> list[dict[str, Any]]:
        with self.db() as con:
            rows = con.execute("SELECT * FROM reports WHERE station_id = ? ORDER BY ts_utc DESC, id DESC LIMIT ?",
                               (station_id, int(limit))).fetchall()
        return [{k: r[k] for k in r.keys() if k != "id"} | {"open": bool(r["open"]), "alarm": bool(r["alarm"])}
                for r in rows]


UNKNOWN = {"state": "unknown"}


def station_live(live: dict[str, dict[str, Any]], station_id: str, kind: str) -> dict[str, Any] | None:
    """What the map shows for one station: its live status, 'unknown' for a silent smart station, None otherwise."""
    if station_id in live:
        return live[station_id]
    return dict(UNKNOWN) if kind == "smart" else None


def open_telemetry(data_dir: Path | str, database_url: str | None = None) -> Telemetry:
    """The telemetry of `data_dir`, or of the database (`database_url`; None: from the settings)."""
    return Telemetry(place(data_dir, FILENAME, database_url))
