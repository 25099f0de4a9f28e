"""Station management over the API: sign-in, authenticated edits, the audit log, telemetry, usage, live status.

- editors and admins send `Authorization: Bearer <token>` (from `stationmap user token` or the admin
  page's login); writes to an existing station send `If-Match: "<etag>"`;
- smart stations POST signed reports to /api/stations/{station_id}/telemetry (no token: the signature is
  the credential);
- usage and live status are public and read-only, like every route without a token.
Failed sign-ins are counted per account name, whatever the address (`Accounts.login`: 429 with
Retry-After). Editors see the non-public records (edit view, telemetry) of their own district only (403).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import params, present
from ..errors import PayloadTooLarge, Unauthorized
from ..geo import geography
from ..model import Station
from ..ops import usage
from ..ops.accounts import User
from ..ops.audit import csv_text, reconcile
from ..ops.editing import close_station, create_station, delete_station, edit_station, etag, reopen_station
from ..ops.telemetry import MAX_REPORT_BYTES, SIGNATURE_HEADER, station_live
from ..params import Param
from .core import Answer, Request, csv_answer, csv_text_answer, geojson_answer, json_answer, no_content
from .routes import TABLE, Body, Reply
from .schemas import station_body, telemetry_report
from .stations import live_statuses

if TYPE_CHECKING:
    from .service import Service

route = TABLE.group("admin", challenge=True)
CRS = replace(params.CRS, help="Datum of lat/lon in the body: wgs84, gcj02 (Amap) or bd09 (Baidu).")
IF_MATCH = Param("If-Match", "string", "The ETag of the version you change (GET /api/admin/stations/{station_id}), "
                 "or * for whatever is there. Without it: 428; a station changed since: 409.", location="header")
SIGNATURE = Param(SIGNATURE_HEADER, "string", "sha256=<hex HMAC-SHA256 of the body under the station's device key> "
                  "(stationmap device token STATION_ID). Without it, or wrong: 401.", location="header")
LOGIN_BODY = Body("Name and password of an account (stationmap user add NAME --password).",
                  {"type": "object", "required": ["name", "password"],
                   "properties": {"name": {"type": "string"}, "password": {"type": "string", "format": "password"}}})
NEW_STATION = Body("The new station's fields; district and township are derived from the location.",
                   station_body(extra=("id",), required=("name", "lat", "lon")))
STATION_CHANGES = Body("The fields to change; the others keep their values.", station_body())
REPORT = Body(f"A smart station's report (stationmap.ops.telemetry), at most {MAX_REPORT_BYTES} bytes, signed as sent.",
              telemetry_report(), raw=True)
EDITED = Reply(200, "The station as written, with its new ETag.", ("ETag",))
FORBIDDEN = Reply(403, "")
VERSIONED = (Reply(409, "The station changed since that ETag was read: reload it and apply the change again."),
             Reply(428, "No If-Match: the detail names the station's current ETag."))
STATION_ID = {"station_id": "Station id."}


def bearer_token(req: Request) -> str:
    """The token of `Authorization: Bearer <token>`; Unauthorized without one."""
    scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("no token: send 'Authorization: Bearer <token>' (stationmap user token NAME)")
    return token.strip()


def current_user(svc: "Service", req: Request) -> User:
    """The account behind the request's bearer token; Unauthorized otherwise."""
    return svc.accounts.authenticate(bearer_token(req))


def district_names() -> Any:
    return geography.districts()["name"]


def user_json(u: User) -> dict[str, Any]:
    return {"name": u.name, "role": u.role, "district": u.district,
            "district_name": district_names().get(u.district, "") if u.district else "全市"}


def station_json(svc: "Service", s: Station) -> dict[str, Any]:
    """A station for the admin page: the presenter's admin record plus live status."""
    return {**present.admin_record(s), "live": station_live(live_statuses(svc), s.id, s.kind)}


def _station_answer(svc: "Service", s: Station, status: int = 200) -> Answer:
    return json_answer({"station": station_json(svc, s)}, status, headers={"ETag": f'"{etag(s)}"'})


@route.get("/api/live", "Live status of smart stations from their last report; 'unknown' when older than the "
           "configured time.", tag="stations")
def live_view(svc: "Service", req: Request) -> Answer:
    return json_answer({"stale_after_s": svc.settings["status_unknown_after_s"], "stations": live_statuses(svc)})


# -- sign-in -----------------------------------------------------------------------------------
@route.post("/api/auth/login", "Sign in with name and password (JSON); returns a bearer token that expires.",
            tag="admin", body=LOGIN_BODY, private=True,
            responses=(Reply(200, "The token (shown only now), its id and expiry, and the account."),
                       Reply(401, "Wrong name or password, or a disabled account."),
                       Reply(429, "Too many requests from this address, or too many failed sign-ins for this name.",
                             ("Retry-After",))))
def login(svc: "Service", req: Request, body: dict[str, Any]) -> Answer:
    """Name and password (JSON) -> a token valid for `login_token_ttl_h` hours."""
    name, password = str(body.get("name", ""))[:64], str(body.get("password", ""))[:1000]
    cfg = svc.settings
    user = svc.accounts.login(name, password, cfg["login_max_failures"], cfg["login_failure_window_s"])
    token, info = svc.accounts.issue_token(user.name, "admin page login", timedelta(hours=cfg["login_token_ttl_h"]))
    return json_answer({"token": token, "token_id": info.id, "expires_utc": info.expires_utc,
                        "user": user_json(user)})


@route.post("/api/auth/logout", "Revoke the bearer token of this request.", tag="admin", auth="bearer", status=204,
            private=True, responses=(Reply(204, "Revoked."),))
def logout(svc: "Service", req: Request) -> Answer:
    current_user(svc, req)
    svc.accounts.revoke_token(bearer_token(req))
    return no_content()


@route.get("/api/auth/me", "The account behind the bearer token (401 without one).", tag="admin", auth="bearer",
           private=True)
def me(svc: "Service", req: Request) -> Answer:
    return json_answer({"user": user_json(current_user(svc, req))})


# -- stations ----------------------------------------------------------------------------------
@route.get("/api/admin/stations", "Stations the caller may edit (editors: their district), each with its etag "
           "(bearer token).", tag="admin", auth="bearer", private=True)
def admin_stations(svc: "Service", req: Request) -> Answer:
    user = current_user(svc, req)
    chosen = [s for s in svc.store.all() if user.may_edit(s.district)]
    return json_answer({"user": user_json(user), "count": len(chosen),
                        "stations": [station_json(svc, s) for s in chosen]})


@route.get("/api/admin/stations/{station_id}", "One station with its ETag, for editing (bearer token).", tag="admin",
           auth="bearer", path_params=STATION_ID, private=True,
           responses=(Reply(200, "The station with its ETag.", ("ETag",)), FORBIDDEN))
def admin_station(svc: "Service", req: Request, station_id: str) -> Answer:
    user = current_user(svc, req)
    s = svc.store.get(station_id[:100])
    user.check_may_see(s.district, f"station {s.id}")
    return _station_answer(svc, s)


@route.post("/api/stations", "Create a station (bearer token).", (CRS,), tag="admin", auth="bearer", body=NEW_STATION,
            status=201,
            responses=(Reply(201, "Created: the station with its ETag; Location is its edit view.", ("Location", "ETag")),
                       FORBIDDEN, Reply(409, "A station with this id exists: edit it instead.")))
def create(svc: "Service", req: Request, crs: str, body: dict[str, Any]) -> Answer:
    s = create_station(svc.store, current_user(svc, req), body, crs=crs)
    answer = _station_answer(svc, s, 201)
    answer.headers["Location"] = svc.link(req, "admin.admin_station", station_id=s.id)
    return answer


@route.patch("/api/stations/{station_id}", "Edit a station (bearer token, If-Match).", (CRS, IF_MATCH), tag="admin",
             auth="bearer", path_params=STATION_ID, body=STATION_CHANGES, responses=(EDITED, FORBIDDEN, *VERSIONED))
def edit(svc: "Service", req: Request, station_id: str, crs: str, if_match: str | None,
         body: dict[str, Any]) -> Answer:
    """Change fields (JSON) of a station; If-Match: its ETag."""
    return _station_answer(svc, edit_station(svc.store, current_user(svc, req), station_id[:100], body, if_match,
                                             crs=crs))


@route.post("/api/stations/{station_id}/close", "Close a station (暂停开放; bearer token, If-Match).", (IF_MATCH,),
            tag="admin", auth="bearer", path_params=STATION_ID, responses=(EDITED, FORBIDDEN, *VERSIONED))
def close(svc: "Service", req: Request, station_id: str, if_match: str | None) -> Answer:
    return _station_answer(svc, close_station(svc.store, current_user(svc, req), station_id[:100], if_match))


@route.post("/api/stations/{station_id}/reopen", "Reopen a closed station (bearer token, If-Match).", (IF_MATCH,),
            tag="admin", auth="bearer", path_params=STATION_ID, responses=(EDITED, FORBIDDEN, *VERSIONED))
def reopen(svc: "Service", req: Request, station_id: str, if_match: str | None) -> Answer:
    return _station_answer(svc, reopen_station(svc.store, current_user(svc, req), station_id[:100], if_match))


@route.delete("/api/stations/{station_id}", "Delete a station (bearer token, If-Match); the audit log keeps it.",
              (IF_MATCH,), tag="admin", auth="bearer", path_params=STATION_ID, status=204,
              responses=(Reply(204, "Deleted."), FORBIDDEN, *VERSIONED))
def delete(svc: "Service", req: Request, station_id: str, if_match: str | None) -> Answer:
    delete_station(svc.store, current_user(svc, req), station_id[:100], if_match)
    return no_content()


# -- audit ---------------------------------------------------------------------------------------
@route.get("/api/audit", "The audit log, newest first: who, when (UTC and Asia/Shanghai), action, before and after "
           "(bearer token; editors see their district).", params.AUDIT, tag="admin", auth="bearer",
           media=("application/json", "text/csv"), private=True)
def audit_view(svc: "Service", req: Request, station, actor, since, limit: int, format: str) -> Answer:
    user = current_user(svc, req)
    reconcile(svc.store)
    entries = svc.audit.entries(station, actor, since, limit if user.role == "admin" else None)
    if user.role != "admin":
        entries = [e for e in entries if user.district in e.districts()]
    entries = entries[:limit]
    if format == "csv":
        return csv_text_answer(csv_text(entries), "audit.csv")
    return json_answer({"count": len(entries), "entries": [e.to_json() for e in entries]})


# -- telemetry -------------------------------------------------------------------------------------
@route.post("/api/stations/{station_id}/telemetry", "A smart station's signed report (X-Signature: sha256=HMAC of "
            "the body with its device key).", (SIGNATURE,), tag="telemetry", path_params=STATION_ID, body=REPORT,
            status=201, challenge=False,
            responses=(Reply(201, "Accepted: the station's live status."),
                       Reply(401, "Unsigned or wrongly signed, or the station has no device key."),
                       Reply(409, "Replayed: the nonce was used before, or the time is outside the window.")))
def telemetry_post(svc: "Service", req: Request, station_id: str, x_signature: str | None, body: bytes) -> Answer:
    """A signed report from a smart station (see stationmap.ops.telemetry for the format)."""
    if len(body) > MAX_REPORT_BYTES:
        raise PayloadTooLarge(f"report is {len(body)} bytes; at most {MAX_REPORT_BYTES}")
    report = svc.telemetry.receive(svc.store, svc.accounts, station_id[:100], body, x_signature,
                                   svc.settings["telemetry_window_s"])
    return json_answer({"accepted": True, "station": station_id, "nonce": report.nonce,
                        "live": live_statuses(svc).get(station_id)}, 201)


@route.get("/api/stations/{station_id}/telemetry", "The latest reports of a smart station (bearer token).",
           (params.REPORTS,), tag="admin", auth="bearer", path_params=STATION_ID, responses=(FORBIDDEN,))
def telemetry_get(svc: "Service", req: Request, station_id: str, limit: int) -> Answer:
    user = current_user(svc, req)
    s = svc.store.get(station_id[:100])
    user.check_may_see(s.district, f"station {s.id}")
    return json_answer({"station": s.id, "live": station_live(live_statuses(svc), s.id, s.kind),
                        "reports": svc.telemetry.reports(s.id, limit)})


# -- usage -----------------------------------------------------------------------------------------
@route.get("/api/usage", "Visits reported by smart stations per station, district, day or ISO week (Asia/Shanghai).",
           params.USAGE, tag="planning", media=("application/json", "text/csv"))
def usage_view(svc: "Service", req: Request, by: str, since, until, district, format: str) -> Answer:
    rows = usage.visits(svc.telemetry, svc.store, by, since, until, district)
    if format == "csv":
        return csv_answer(rows, f"usage_by_{by}.csv")
    return json_answer({"by": by, "since": since, "until": until, "total_visits": sum(r["visits"] for r in rows),
                        "rows": rows})


@route.get("/api/usage/demand", "Observed visits as a demand layer: one weighted point per station (lat, lon, "
           "weight = visits); the CSV loads as a planner's demand file.", (*params.PERIOD, params.DEMAND_FORMAT),
           tag="planning", media=("text/csv", "application/geo+json", "application/json"))
def usage_demand_view(svc: "Service", req: Request, since, until, format: str) -> Answer:
    rows = usage.demand_rows(svc.telemetry, svc.store, since, until)
    if format == "csv":
        return csv_answer(rows, "observed_visits_demand.csv")
    if format == "geojson":
        return geojson_answer(present.points_collection(rows), "observed_visits_demand.geojson")
    return json_answer({"count": len(rows), "points": rows})
