"""Workers' reports about a station (no account), editors settling them, and last-verified days.

A worker files a report from a station's page or popup; the district's editors list the open ones,
resolve them or close the station, and confirm stations as checked on the ground. Every step is in
the audit log (`stationmap.ops.reports`, `stationmap.ops.editing.verify_station`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import params, vocab
from ..ops import reports as worker_reports
from ..ops.editing import etag, verify_station
from ..ops.verified import COLUMNS, unverified, unverified_rows
from .admin import FORBIDDEN, IF_MATCH, STATION_ID, VERSIONED, _station_answer, current_user, station_json
from .core import Answer, Request, csv_answer, json_answer
from .routes import TABLE, Body, Reply

if TYPE_CHECKING:
    from .service import Service

route = TABLE.group("admin", challenge=True)
public = TABLE.group("api")
REPORT_ID = {"report_id": "Report id (a number)."}
NEW_REPORT = Body(
    f"What is wrong, at most {worker_reports.MAX_BODY_BYTES} bytes: kind closed (closed when it should be open), "
    "broken (with the amenity), location (optionally the reporter's WGS-84 position) or other (text).",
    {"type": "object", "required": ["kind"], "additionalProperties": False,
     "properties": {"kind": {"type": "string", "enum": list(worker_reports.KINDS)},
                    "amenity": {"type": "string", "enum": list(vocab.AMENITY_KEYS)},
                    "lat": {"type": "number", "minimum": -90, "maximum": 90},
                    "lon": {"type": "number", "minimum": -180, "maximum": 180},
                    "accuracy_m": {"type": "number", "minimum": 0},
                    "text": {"type": "string", "maxLength": worker_reports.MAX_TEXT}}},
    raw=True)
SETTLE = Body("How it was settled, optionally with a note for the audit log.",
              {"type": "object", "additionalProperties": False,
               "properties": {"outcome": {"type": "string", "enum": list(worker_reports.OUTCOMES)},
                              "note": {"type": "string", "maxLength": worker_reports.MAX_TEXT}}})
CLOSE_NOTE = Body("An optional note for the audit log.",
                  {"type": "object", "additionalProperties": False,
                   "properties": {"note": {"type": "string", "maxLength": worker_reports.MAX_TEXT}}})
SETTLED = (FORBIDDEN, Reply(409, "The report was already settled (the detail says by whom and when)."))


@public.post("/api/stations/{station_id}/reports", "Tell the union that a station is closed when it should be "
             "open, a facility is broken, the location is wrong, or something else (no account).",
             tag="reports", path_params=STATION_ID, body=NEW_REPORT, status=201, private=True,
             responses=(Reply(201, "Received: the report's id (nothing of anyone else's)."),
                        Reply(404, "No such station."),
                        Reply(409, "A 'closed' report about a station that is not shown as open."),
                        Reply(413, "The report is too large."),
                        Reply(429, "Too many reports from this network or about this station; try later.",
                              ("Retry-After",))))
def file_report(svc: "Service", req: Request, station_id: str, body: bytes) -> Answer:
    report = svc.reports.file(svc.store, station_id[:100], body, req.remote_addr)
    return json_answer(worker_reports.receipt(report), 201)


@public.get("/api/reports/closed", "Stations with unresolved 'closed' reports: how many each (never their text).",
            tag="reports")
def closed_flags(svc: "Service", req: Request) -> Answer:
    return json_answer({"stations": svc.reports.closed_flags()})


@public.get("/api/unverified", "Stations not confirmed on the ground for some days, never-verified first.",
            params.UNVERIFIED, tag="reports", media=("application/json", "text/csv"))
def unverified_view(svc: "Service", req: Request, days: int, district, format: str) -> Answer:
    rows = unverified_rows(unverified(svc.store.all(), days, district=district))
    if format == "csv":
        return csv_answer([{c: r[c] for c in COLUMNS} for r in rows], f"unverified_{days}d.csv")
    return json_answer({"days": days, "count": len(rows), "stations": rows})


@route.get("/api/admin/reports", "Workers' reports an editor may see (their district), newest first (bearer "
           "token).", params.WORKER_REPORTS, tag="reports", auth="bearer", private=True, responses=(FORBIDDEN,))
def list_reports(svc: "Service", req: Request, state: str, district, station, limit: int) -> Answer:
    found = svc.reports.listing(current_user(svc, req), state, district, station, limit)
    return json_answer({"count": len(found), "reports": [r.to_json() for r in found]})


@route.post("/api/admin/reports/{report_id}/resolve", "Mark a report resolved or acted on (bearer token).",
            tag="reports", auth="bearer", path_params=REPORT_ID, body=SETTLE, private=True, responses=SETTLED)
def resolve_report(svc: "Service", req: Request, report_id: str, body: dict[str, Any]) -> Answer:
    outcome, note = worker_reports.settle_body(body)
    return json_answer({"report": svc.reports.resolve(current_user(svc, req), report_id[:20], outcome, note).to_json()})


@route.post("/api/admin/reports/{report_id}/close", "Close the reported station (bearer token, If-Match: the "
            "station's ETag); the station's open 'closed' reports are marked acted on.", (IF_MATCH,), tag="reports",
            auth="bearer", path_params=REPORT_ID, body=CLOSE_NOTE, private=True,
            responses=(Reply(200, "The report and the closed station, with its new ETag.", ("ETag",)), *SETTLED,
                       *VERSIONED))
def close_reported(svc: "Service", req: Request, report_id: str, if_match: str | None, body: dict[str, Any]) -> Answer:
    _, note = worker_reports.settle_body(body, ("acted",))
    report, station = svc.reports.act_close(svc.store, current_user(svc, req), report_id[:20], if_match, note)
    return json_answer({"report": report.to_json(), "station": station_json(svc, station)},
                       headers={"ETag": f'"{etag(station)}"'})


@route.post("/api/admin/stations/{station_id}/verify", "Confirm a station as checked on the ground today, without "
            "changing it (bearer token).", tag="reports", auth="bearer", path_params=STATION_ID, private=True,
            responses=(Reply(200, "The station with its last-verified day and new ETag.", ("ETag",)), FORBIDDEN))
def verify(svc: "Service", req: Request, station_id: str) -> Answer:
    return _station_answer(svc, verify_station(svc.store, current_user(svc, req), station_id[:100]))
