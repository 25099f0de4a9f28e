"""Workers' reports about a station: filed without an account, read and settled by the district's editors.

A worker sends a small JSON object about one station:

    {"kind": "closed"}                                   closed when it should be open
    {"kind": "broken", "amenity": "microwave"}           a listed facility broken or missing (key or 中文 name)
    {"kind": "location", "lat": 23.55, "lon": 116.37,    wrong location; the reporter's WGS-84 position and
     "accuracy_m": 20}                                   its accuracy if they allow it (within 10 km of the station)
    {"kind": "other", "text": "门口积水"}                 anything else, in at most 280 characters

`text` may go with every kind (required for "other"); control and bidirectional-override characters
are refused. A refused report stores nothing and writes nothing to the audit log.

Limits, enforced in the store so that every web worker shares them: `client_limit` reports per client
address in `client_window_s` (5 an hour) and `station_limit` per station in `station_window_s` (20 a
day); beyond them TooManyRequests with retry_after, the seconds until the oldest counted report ages out.

Privacy: the client address is never stored. What is stored is HMAC-SHA256 of it (IPv6 cut to its /64,
which one household or phone holds) under a random key made for each UTC day and deleted after two
days. While a key lives, the limits can count one client's reports (the key of today and yesterday
are both tried, so a window across midnight is counted whole); once it is deleted, no one, not even
the operator holding the file, can tell which address sent a report.

Editors see and settle the open reports of their district (admins: all), stored with the district
the station was in when the report was filed. Each step (filed, resolved, acted on) is a note in the
audit log. The only thing of a report that reaches the public is `closed_flags`: per station, how
many "closed" reports are open — a count, never the text.
Reports live in `DATA_DIR/reports.sqlite`, or in the schema `reports` of the registry's PostgreSQL
database when there is one (`stationmap.ops.db`), where every worker on every machine counts them.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .. import checks, vocab
from ..errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, TooManyRequests
from ..geo import geography
from ..geo.geodesic import distance_m
from ..hours import TZ
from ..model import Station
from ..store import StationStore
from .accounts import User
from .audit import AuditLog, open_audit
from .db import Place, as_place, connect, dialect, iso_utc, parse_utc, place, transaction, utc_now
from .editing import close_station

FILENAME = "reports.sqlite"
KINDS = ("closed", "broken", "location", "other")
KIND_ZH = {"closed": "应开未开", "broken": "设施损坏或缺失", "location": "位置不对", "other": "其他"}
STATES = ("open", "resolved", "acted")
OUTCOMES = ("resolved", "acted")
MAX_TEXT = 280
MAX_BODY_BYTES = 2048
MAX_DISTANCE_M = 10_000.0
MAX_ACCURACY_M = 100_000.0
FIELDS = ("kind", "amenity", "lat", "lon", "accuracy_m", "text")
# Bidirectional embeddings, overrides and isolates: they make shown text read otherwise than it is stored.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SALT_DAYS_KEPT = 2
PUBLIC_ACTOR = "public"

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_utc TEXT NOT NULL,
    station_id TEXT NOT NULL,
    district TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('closed', 'broken', 'location', 'other')),
    amenity TEXT NOT NULL DEFAULT '',
    lat REAL,
    lon REAL,
    accuracy_m REAL,
    text TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved', 'acted')),
    handled_by TEXT NOT NULL DEFAULT '',
    handled_role TEXT NOT NULL DEFAULT '',
    handled_utc TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS reports_client_at ON reports (client, at_utc);
CREATE INDEX IF NOT EXISTS reports_station_at ON reports (station_id, at_utc);
CREATE INDEX IF NOT EXISTS reports_open_district ON reports (district, at_utc) WHERE state = 'open';
CREATE INDEX IF NOT EXISTS reports_open_closed ON reports (station_id) WHERE state = 'open' AND kind = 'closed';
CREATE TABLE IF NOT EXISTS salts (day TEXT PRIMARY KEY, salt BLOB NOT NULL);
"""


@dataclass(frozen=True)
class Submission:
    """A report as a worker sent it, checked."""

    kind: str
    amenity: str = ""
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    text: str = ""


@dataclass(frozen=True)
class WorkerReport:
    """A stored report, as editors see it (the client hash is never part of it)."""

    id: int
    at_utc: str
    station_id: str
    district: str
    kind: str
    amenity: str
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    text: str
    state: str
    handled_by: str
    handled_role: str
    handled_utc: str
    note: str

    def to_json(self) -> dict[str, Any]:
        """For the admin page: stored fields plus words for codes and the local time."""
        term = vocab.AMENITY_BY_KEY.get(self.amenity)
        return {**asdict(self), "at_local": _local(self.at_utc),
                "handled_local": _local(self.handled_utc) if self.handled_utc else "",
                "kind_zh": KIND_ZH[self.kind], "amenity_zh": term.zh if term else "",
                "district_name": geography.districts()["name"].get(self.district, "")}


def _local(at_utc: str) -> str:
    return parse_utc(at_utc).astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S")


# -- checking what a worker sends -----------------------------------------------------------------
def clean_text(value: Any, what: str = "text", limit: int = MAX_TEXT) -> str:
    """Short plain text: NFC, trimmed, at most `limit` characters, no control or bidi-override characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text")
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > limit:
        raise InvalidInput(f"{what} is {len(text)} characters long; at most {limit}")
    bad = next((c for c in text if unicodedata.category(c) in ("Cc", "Cs") or c in _BIDI), None)
    if bad is not None:
        raise InvalidInput(f"{what} holds the control character U+{ord(bad):04X}; send plain text on one line")
    return text


def parse_submission(body: bytes | str | dict[str, Any]) -> Submission:
    """Check a report body (raw JSON or already parsed); InvalidInput names the first bad field."""
    if isinstance(body, (bytes, str)):
        size = len(body.encode() if isinstance(body, str) else body)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"report is {size} bytes; at most {MAX_BODY_BYTES}")
        body = checks.json_document(body, "report", max_depth=2)
    if not isinstance(body, dict):
        raise InvalidInput("report must be a JSON object such as {\"kind\": \"closed\"}")
    unknown = sorted(str(k)[:40] for k in body if k not in FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    kind = body.get("kind")
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
    text = clean_text(body.get("text"))
    if kind == "other" and not text:
        raise InvalidInput("a report of kind other needs a text saying what is wrong")
    amenity = ""
    if kind == "broken":
        word = body.get("amenity")
        if not isinstance(word, str) or not word.strip():
            raise InvalidInput("a report of kind broken names the facility: amenity, e.g. microwave or 微波炉")
        amenity = vocab.amenity_key(word[:40])
    elif body.get("amenity") not in (None, ""):
        raise InvalidInput("amenity goes only with kind broken")
    lat = lon = accuracy = None
    has_point = body.get("lat") is not None or body.get("lon") is not None
    if has_point:
        if kind != "location":
            raise InvalidInput("a position (lat, lon) goes only with kind location")
        if body.get("lat") is None or body.get("lon") is None:
            raise InvalidInput("give both lat and lon (WGS-84, as the phone's location gives them), or neither")
        lat, lon = checks.lat_lon(body["lat"], body["lon"])
        lat, lon = round(lat, 7), round(lon, 7)
    if body.get("accuracy_m") is not None:
        if not has_point:
            raise InvalidInput("accuracy_m goes only with a position (lat, lon)")
        accuracy = checks.number(body["accuracy_m"], "accuracy_m")
        if not 0 <= accuracy <= MAX_ACCURACY_M:
            raise InvalidInput(f"accuracy_m {accuracy} is out of range; use 0 to {MAX_ACCURACY_M:.0f} metres")
    return Submission(kind, amenity, lat, lon, accuracy, text)


def check_against(sub: Submission, station: Station) -> None:
    """What a report may say about this station: a closed report of an open one, a listed facility, a nearby point."""
    if sub.kind == "closed" and station.status != "open":
        raise Conflict(f"station {station.id} is already shown as not open ({station.status}); no report needed")
    if sub.kind == "broken" and sub.amenity not in station.amenities:
        listed = "、".join(vocab.AMENITY_BY_KEY[a].zh + "/" + a for a in station.amenities) or "none"
        raise InvalidInput(f"station {station.id} does not list {sub.amenity}; its facilities: {listed}")
    if sub.lat is not None and sub.lon is not None:
        away = distance_m(sub.lat, sub.lon, station.lat, station.lon)
        if away > MAX_DISTANCE_M:
            raise InvalidInput(f"the position is {away / 1000:.1f} km from the station; a wrong-location report "
                               f"gives a point within {MAX_DISTANCE_M / 1000:.0f} km (WGS-84, as the phone gives it)")


def client_network(address: str | None) -> str:
    """The part of a client address that identifies one client: IPv4 whole, IPv6 its /64."""
    try:
        ip = ipaddress.ip_address((address or "").strip().split("%")[0])
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


# -- the store ------------------------------------------------------------------------------------
class Reports:
    """Workers' reports of every station, in one SQLite file or database schema; steps noted in the
    registry's audit log."""

    def __init__(self, path: Place, audit: AuditLog, client_limit: int = 5, client_window_s: int = 3600,
                 station_limit: int = 20, station_window_s: int = 86400):
        self.path = as_place(path)
        self.audit = audit
        self.client_limit, self.client_window_s = client_limit, client_window_s
        self.station_limit, self.station_window_s = station_limit, station_window_s

    def db(self):
        return connect(self.path, SCHEMA)

    # -- filing ------------------------------------------------------------------------------------
    def file(self, store: StationStore, station_id: str, body: bytes | str | dict[str, Any],
             client_address: str | None, now: datetime | None = None) -> WorkerReport:
        """Check, limit and store one worker's report, or raise and store nothing."""
        sub = parse_submission(body)
        station = store.get(station_id)
        check_against(sub, station)
        now = now or utc_now()
        with self.db() as con, transaction(con):
            mine, others = self._client_hashes(con, client_address, now)
            self._check_limit(con, "client IN (%s)" % ",".join("?" * len(others)), others, self.client_limit,
                              self.client_window_s, now, "from this address")
            self._check_limit(con, "station_id = ?", [station.id], self.station_limit, self.station_window_s, now,
                              f"about station {station.id}")
            rid = con.execute(
                "INSERT INTO reports (at_utc, station_id, district, kind, amenity, lat, lon, accuracy_m, text, client) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (iso_utc(now), station.id, station.district, sub.kind, sub.amenity, sub.lat, sub.lon, sub.accuracy_m,
                 sub.text, mine)).fetchone()[0]
        self.audit.note(PUBLIC_ACTOR, "", "report", station.id, station.district,
                        {"report": rid, "kind": sub.kind, **({"amenity": sub.amenity} if sub.amenity else {})})
        return self.get(rid)

    def _client_hashes(self, con, address: str | None, now: datetime) -> tuple[str, list[str]]:
        """The client's hash under today's key (stored) and under every key still kept (counted)."""
        today = now.date()
        con.execute("DELETE FROM salts WHERE day < ?", ((today - timedelta(days=_SALT_DAYS_KEPT - 1)).isoformat(),))
        con.execute("INSERT INTO salts (day, salt) VALUES (?, ?) ON CONFLICT (day) DO NOTHING",
                    (today.isoformat(), secrets.token_bytes(32)))
        network = client_network(address).encode()
        hashes = {r["day"]: hmac.new(r["salt"], network, hashlib.sha256).hexdigest()
                  for r in con.execute("SELECT day, salt FROM salts").fetchall()}
        return hashes[today.isoformat()], sorted(hashes.values())

    @staticmethod
    def _check_limit(con, where: str, args: list[Any], limit: int, window_s: int, now: datetime, what: str) -> None:
        since = iso_utc(now - timedelta(seconds=window_s))
        n = con.execute(f"SELECT COUNT(*) FROM reports WHERE {where} AND at_utc > ?", (*args, since)).fetchone()[0]
        if n < limit:
            return
        oldest = con.execute(f"SELECT at_utc FROM reports WHERE {where} AND at_utc > ? ORDER BY at_utc LIMIT 1 OFFSET ?",
                             (*args, since, n - limit)).fetchone()["at_utc"]
        wait = (parse_utc(oldest) + timedelta(seconds=window_s) - now).total_seconds()
        raise TooManyRequests(f"{limit} reports {what} within {_span(window_s)} already; thank you — "
                              f"try again in {max(1, int(wait + 0.999))} s", int(wait + 0.999))

    # -- reading -----------------------------------------------------------------------------------
    def get(self, report_id: Any) -> WorkerReport:
        rid = checks.whole_number(report_id, "report id", 1)
        with self.db() as con:
            row = con.execute("SELECT * FROM reports WHERE id = ?", (rid,)).fetchone()
        if row is None:
            raise NotFound(f"no report with id {rid}")
        return _report(row)

    def listing(self, user: User, state: str = "open", district: str | None = None,
                station_id: str | None = None, limit: int = 200) -> list[WorkerReport]:
        """Reports an editor may see (editors: their district; admins: all, or one district), newest first."""
        if state not in STATES + ("all",):
            raise InvalidInput(f"state must be one of {', '.join(STATES + ('all',))}")
        code = geography.district_code(district) if district else None
        if user.role != "admin":
            if code is not None:
                user.check_may_see(code, "these reports")
            code = user.district
        sql, args = "SELECT * FROM reports WHERE 1 = 1", []
        if state != "all":
            sql += " AND state = ?"
            args.append(state)
        if code is not None:
            sql += " AND district = ?"
            args.append(code)
        if station_id:
            sql += " AND station_id = ?"
            args.append(station_id)
        sql += " ORDER BY at_utc DESC, id DESC LIMIT ?"
        args.append(checks.whole_number(limit, "limit", 1, 10000))
        with self.db() as con:
            return [_report(r) for r in con.execute(sql, args).fetchall()]

    def closed_flags(self) -> dict[str, int]:
        """Per station id, how many "closed" reports are open (stations without any are absent).
        Reads the partial index of open "closed" reports only, however many reports are stored."""
        with self.db() as con:
            hint = " INDEXED BY reports_open_closed" if dialect(con) == "sqlite" else ""  # PostgreSQL weighs it itself
            rows = con.execute(f"SELECT station_id, COUNT(*) AS n FROM reports{hint} "
                               "WHERE state = 'open' AND kind = 'closed' GROUP BY station_id").fetchall()
        return {r["station_id"]: r["n"] for r in rows}

    # -- settling ----------------------------------------------------------------------------------
    def resolve(self, user: User, report_id: Any, outcome: str = "resolved", note: Any = "") -> WorkerReport:
        """Mark an open report resolved (nothing to do, or done elsewhere) or acted on (the station edited)."""
        if outcome not in OUTCOMES:
            raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}")
        report = self.get(report_id)
        user.check_district(report.district, f"report {report.id}")
        if not self._settle([report], user, outcome, clean_text(note, "note")):
            raise Conflict(_already(self.get(report.id)))
        return self.get(report.id)

    def act_close(self, store: StationStore, user: User, report_id: Any, if_match: str | None,
                  note: Any = "") -> tuple[WorkerReport, Station]:
        """Close the reported station (editing.close_station, If-Match as for any edit) and mark the report,
        with every other open "closed" report of that station, acted on."""
        report = self.get(report_id)
        user.check_district(report.district, f"report {report.id}")
        text = clean_text(note, "note")
        if report.state != "open":
            raise Conflict(_already(report))
        station = close_station(store, user, report.station_id, if_match)
        same = [r for r in self.listing(user, "open", station_id=report.station_id, limit=10000)
                if r.kind == "closed" and r.id != report.id]
        self._settle([report, *same], user, "acted", text, step="close")
        return self.get(report.id), station

    def _settle(self, reports: list[WorkerReport], user: User, outcome: str, note: str, step: str = "") -> list[int]:
        """Set the outcome of those still open; one audit note each. Returns the ids settled now."""
        done = []
        with self.db() as con, transaction(con):
            for r in reports:
                if con.execute("UPDATE reports SET state = ?, handled_by = ?, handled_role = ?, handled_utc = ?, note = ? "
                               "WHERE id = ? AND state = 'open'",
                               (outcome, user.name, user.role, iso_utc(utc_now()), note, r.id)).rowcount:
                    done.append(r)
        for r in done:
            detail = {"report": r.id, "kind": r.kind, "outcome": outcome}
            detail.update({k: v for k, v in (("step", step), ("note", note)) if v})
            self.audit.note(user.name, user.role, "report-" + ("act" if outcome == "acted" else "resolve"),
                            r.station_id, r.district, detail)
        return [r.id for r in done]


def settle_body(body: dict[str, Any] | None, outcomes: tuple[str, ...] = OUTCOMES) -> tuple[str, str]:
    """An editor's body for settling a report: {"outcome": "resolved"|"acted", "note": "..."}, both optional."""
    body = body or {}
    if not isinstance(body, dict):
        raise InvalidInput('expected an object such as {"outcome": "resolved", "note": "已核实"}')
    unknown = sorted(str(k)[:40] for k in body if k not in ("outcome", "note"))
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)}; known: outcome, note")
    outcome = body.get("outcome", outcomes[0])
    if outcome not in outcomes:
        raise InvalidInput(f"outcome must be one of {', '.join(outcomes)}")
    return outcome, clean_text(body.get("note"), "note")


def page_words() -> dict[str, Any]:
    """Words the admin page shows instead of codes: amenities, smart features, statuses, report kinds."""
    from ..model import KIND_ZH as STATION_KIND_ZH, STATUS_ZH

    def terms(items) -> list[dict[str, str]]:
        return [{"key": t.key, "zh": t.zh, "en": t.en, "icon": t.icon} for t in items]

    return {"amenities": terms(vocab.AMENITIES), "features": terms(vocab.SMART_FEATURES),
            "kinds": STATION_KIND_ZH, "statuses": STATUS_ZH, "report_kinds": KIND_ZH, "report_states":
            {"open": "待处理", "resolved": "已处理", "acted": "已采取措施"}}


def receipt(report: WorkerReport) -> dict[str, Any]:
    """What the reporter gets back: that it arrived, and nothing of anyone else's."""
    return {"received": True, "id": report.id, "station": report.station_id, "kind": report.kind,
            "at_utc": report.at_utc}


def _already(report: WorkerReport) -> str:
    return (f"report {report.id} was already {report.state} by {report.handled_by} at "
            f"{_local(report.handled_utc) if report.handled_utc else '?'}")


def _span(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds} s"


def _report(row) -> WorkerReport:
    return WorkerReport(**{k: row[k] for k in WorkerReport.__dataclass_fields__})


def open_reports(data_dir: Path | str, database_url: str | None = None, audit: AuditLog | None = None,
                 **limits: int) -> Reports:
    """The reports of `data_dir`, or of the database (`database_url`; None: from the settings), noted in
    `audit` (else the audit log of the same place); `limits`: Reports' client_limit, station_limit..."""
    return Reports(place(data_dir, FILENAME, database_url), audit or open_audit(data_dir, database_url), **limits)
