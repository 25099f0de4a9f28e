"""Station management over HTTP: login, authenticated edits, audit log, telemetry, usage, the admin page.

A thin adapter over `stationmap.ops.accounts`, `editing`, `audit`, `telemetry` and `usage`:
- editors and admins send `Authorization: Bearer <token>` (from `stationmap user token` or the
  admin page's login); writes to an existing station send `If-Match: "<etag>"`;
- smart stations POST signed reports to /api/stations/<id>/telemetry (no token: the signature is
  the credential);
- usage and live status are public and read-only, like every endpoint without a token.
`init_app` also sets up rate limits (public per client address, telemetry per station and address,
login per address) and trusts X-Forwarded-For only from `proxy_count` proxies. Failed sign-ins are
also counted per account name, whatever the address (`Accounts.login`: 429 with Retry-After).
Editors see the non-public records (edit view, telemetry) of their own district only (403).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request, url_for

from stationmap import config, params, present
from stationmap.errors import PayloadTooLarge, Unauthorized
from stationmap.geo import geography
from stationmap.model import Station
from stationmap.ops import usage
from stationmap.ops.accounts import Accounts, User, open_accounts
from stationmap.ops.audit import AuditLog, csv_text, open_audit, reconcile
from stationmap.ops.editing import close_station, create_station, delete_station, edit_station, etag, reopen_station
from stationmap.ops.telemetry import MAX_REPORT_BYTES, SIGNATURE_HEADER, Telemetry, open_telemetry, station_live

from . import settings, store
from .params import Body, Param, Reply, documented
from .responses import csv_response, csv_text_response, geojson_response
from .schemas import station_body, telemetry_report

bp = Blueprint("admin", __name__)
TELEMETRY_ENDPOINT = "admin.telemetry_post"
LOGIN_ENDPOINT = "admin.login"
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


# -- wiring ------------------------------------------------------------------------------------
def init_app(app: Flask) -> None:
    """Open accounts, audit and telemetry beside the registry; rate limits; register the blueprint."""
    cfg = app.config["STATIONMAP"]
    data = config.data_dir(cfg)
    app.extensions["stationmap_accounts"] = open_accounts(data)
    app.extensions["stationmap_audit"] = open_audit(data)
    app.extensions["stationmap_telemetry"] = open_telemetry(data)
    if cfg["proxy_count"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = int(cfg["proxy_count"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    from flask_limiter import Limiter

    app.extensions["stationmap_limiter"] = Limiter(
        key_func=_rate_key, app=app, default_limits=[_rate_limit], default_limits_exempt_when=lambda: not _rate_limit(),
        storage_uri="memory://", headers_enabled=True, strategy="moving-window")
    app.register_blueprint(bp)


def _rate_limit() -> str:
    cfg = current_app.config["STATIONMAP"]
    if request.endpoint == TELEMETRY_ENDPOINT:
        return cfg["rate_limit_telemetry"]
    if request.endpoint == LOGIN_ENDPOINT:
        return cfg["rate_limit_login"]
    return cfg["rate_limit_public"]


def _rate_key() -> str:
    addr = request.remote_addr or "unknown"
    if request.endpoint == TELEMETRY_ENDPOINT:  # per station and address: a flood from elsewhere does not mute the device
        return f"station:{str((request.view_args or {}).get('station_id', ''))[:100]}:{addr}"
    return addr


def accounts() -> Accounts:
    return current_app.extensions["stationmap_accounts"]


def audit_log() -> AuditLog:
    return current_app.extensions["stationmap_audit"]


def telemetry() -> Telemetry:
    return current_app.extensions["stationmap_telemetry"]


def current_user() -> User:
    """The account behind the request's bearer token; Unauthorized otherwise."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("no token: send 'Authorization: Bearer <token>' (stationmap user token NAME)")
    return accounts().authenticate(token.strip())


@bp.after_request
def _challenge(resp: Response) -> Response:
    if resp.status_code == 401 and request.endpoint != TELEMETRY_ENDPOINT:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="stationmap"'
    if request.endpoint != "admin.admin_page" and request.path.startswith(("/api/auth", "/api/admin", "/api/audit")):
        resp.headers["Cache-Control"] = "no-store"
    return resp


def _names() -> tuple[Any, Any]:
    return geography.districts()["name"], geography.township_areas()["name"]


def station_json(s: Station) -> dict[str, Any]:
    """A station for the admin page: the presenter's admin record plus live status."""
    return {**present.admin_record(s), "live": station_live(live_statuses(), s.id, s.kind)}


def _station_response(s: Station, status: int = 200) -> Response:
    resp = jsonify(station=station_json(s))
    resp.status_code = status
    resp.set_etag(etag(s))
    return resp


def _user_json(u: User) -> dict[str, Any]:
    d_names, _ = _names()
    return {"name": u.name, "role": u.role, "district": u.district,
            "district_name": d_names.get(u.district, "") if u.district else "全市"}


# -- live status (used by the public station API too) ------------------------------------------
def live_statuses() -> dict[str, dict[str, Any]]:
    return telemetry().live_status(settings()["status_unknown_after_s"])


def annotate_live(features: list[dict[str, Any]]) -> None:
    """Add `live` (smart stations: open/closed/unknown with occupancy...; others: null) to GeoJSON features."""
    live = live_statuses()
    for f in features:
        p = f["properties"]
        p["live"] = station_live(live, f.get("id") or p.get("id"), p.get("kind", ""))


@bp.get("/api/live")
@documented("Live status of smart stations from their last report; 'unknown' when older than the configured time.",
            tag="stations")
def live_view() -> Response:
    return jsonify(stale_after_s=settings()["status_unknown_after_s"], stations=live_statuses())


# -- login -------------------------------------------------------------------------------------
@bp.post("/api/auth/login")
@documented("Sign in with name and password (JSON); returns a bearer token that expires.", tag="admin",
            body=LOGIN_BODY,
            responses=(Reply(200, "The token (shown only now), its id and expiry, and the account."),
                       Reply(401, "Wrong name or password, or a disabled account."),
                       Reply(429, "Too many requests from this address, or too many failed sign-ins for this name.",
                             ("Retry-After",))))
def login(body: dict[str, Any]) -> Response:
    """Name and password (JSON) -> a token valid for `login_token_ttl_h` hours."""
    name, password = str(body.get("name", ""))[:64], str(body.get("password", ""))[:1000]
    cfg = settings()
    user = accounts().login(name, password, cfg["login_max_failures"], cfg["login_failure_window_s"])
    token, info = accounts().issue_token(user.name, "admin page login",
                                         timedelta(hours=cfg["login_token_ttl_h"]))
    return jsonify(token=token, token_id=info.id, expires_utc=info.expires_utc, user=_user_json(user))


@bp.post("/api/auth/logout")
@documented("Revoke the bearer token of this request.", tag="admin", auth="bearer", status=204,
            responses=(Reply(204, "Revoked."),))
def logout() -> Response:
    """Revoke the token this request carries."""
    current_user()
    accounts().revoke_token(request.headers["Authorization"].partition(" ")[2].strip())
    return Response(status=204)


@bp.get("/api/auth/me")
@documented("The account behind the bearer token (401 without one).", tag="admin", auth="bearer")
def me() -> Response:
    return jsonify(user=_user_json(current_user()))


# -- stations ----------------------------------------------------------------------------------
@bp.get("/api/admin/stations")
@documented("Stations the caller may edit (editors: their district), each with its etag (bearer token).",
            tag="admin", auth="bearer")
def admin_stations() -> Response:
    user = current_user()
    chosen = [s for s in store().all() if user.may_edit(s.district)]
    return jsonify(user=_user_json(user), count=len(chosen), stations=[station_json(s) for s in chosen])


@bp.get("/api/admin/stations/<station_id>")
@documented("One station with its ETag, for editing (bearer token).", tag="admin", auth="bearer",
            path_params={"station_id": "Station id."},
            responses=(Reply(200, "The station with its ETag.", ("ETag",)), FORBIDDEN))
def admin_station(station_id: str) -> Response:
    user = current_user()
    s = store().get(station_id[:100])
    user.check_may_see(s.district, f"station {s.id}")
    return _station_response(s)


@bp.post("/api/stations")
@documented("Create a station (bearer token).", params=(CRS,), tag="admin", auth="bearer", body=NEW_STATION,
            status=201,
            responses=(Reply(201, "Created: the station with its ETag; Location is its edit view.", ("Location", "ETag")),
                       FORBIDDEN, Reply(409, "A station with this id exists: edit it instead.")))
def create(crs: str, body: dict[str, Any]) -> Response:
    """Create a station (bearer token); 201 with Location and ETag."""
    s = create_station(store(), current_user(), body, crs=crs)
    resp = _station_response(s, 201)
    resp.headers["Location"] = url_for("admin.admin_station", station_id=s.id)
    return resp


@bp.patch("/api/stations/<station_id>")
@documented("Edit a station (bearer token, If-Match).", params=(CRS, IF_MATCH), tag="admin", auth="bearer",
            path_params={"station_id": "Station id."}, body=STATION_CHANGES,
            responses=(EDITED, FORBIDDEN, *VERSIONED))
def edit(station_id: str, crs: str, if_match: str | None, body: dict[str, Any]) -> Response:
    """Change fields (JSON) of a station; If-Match: its ETag."""
    return _station_response(edit_station(store(), current_user(), station_id[:100], body, if_match, crs=crs))


@bp.post("/api/stations/<station_id>/close")
@documented("Close a station (暂停开放; bearer token, If-Match).", params=(IF_MATCH,), tag="admin", auth="bearer",
            path_params={"station_id": "Station id."}, responses=(EDITED, FORBIDDEN, *VERSIONED))
def close(station_id: str, if_match: str | None) -> Response:
    return _station_response(close_station(store(), current_user(), station_id[:100], if_match))


@bp.post("/api/stations/<station_id>/reopen")
@documented("Reopen a closed station (bearer token, If-Match).", params=(IF_MATCH,), tag="admin", auth="bearer",
            path_params={"station_id": "Station id."}, responses=(EDITED, FORBIDDEN, *VERSIONED))
def reopen(station_id: str, if_match: str | None) -> Response:
    return _station_response(reopen_station(store(), current_user(), station_id[:100], if_match))


@bp.delete("/api/stations/<station_id>")
@documented("Delete a station (bearer token, If-Match); the audit log keeps it.", params=(IF_MATCH,), tag="admin",
            auth="bearer", path_params={"station_id": "Station id."}, status=204,
            responses=(Reply(204, "Deleted."), FORBIDDEN, *VERSIONED))
def delete(station_id: str, if_match: str | None) -> Response:
    delete_station(store(), current_user(), station_id[:100], if_match)
    return Response(status=204)


# -- audit ---------------------------------------------------------------------------------------
@bp.get("/api/audit")
@documented("The audit log, newest first: who, when (UTC and Asia/Shanghai), action, before and after "
            "(bearer token; editors see their district).",
            params=params.AUDIT,
            tag="admin", auth="bearer", media=("application/json", "text/csv"))
def audit_view(station, actor, since, limit: int, format: str) -> Response:
    user = current_user()
    reconcile(store())
    entries = audit_log().entries(station, actor, since, limit if user.role == "admin" else None)
    if user.role != "admin":
        entries = [e for e in entries if user.district in ((e.before or {}).get("district"), (e.after or {}).get("district"))]
    entries = entries[:limit]
    if format == "csv":
        return csv_text_response(csv_text(entries), "audit.csv")
    return jsonify(count=len(entries), entries=[e.to_json() for e in entries])


# -- telemetry -------------------------------------------------------------------------------------
@bp.post("/api/stations/<station_id>/telemetry")
@documented("A smart station's signed report (X-Signature: sha256=HMAC of the body with its device key).",
            params=(SIGNATURE,), tag="telemetry", path_params={"station_id": "Station id."}, body=REPORT,
            status=201, responses=(Reply(201, "Accepted: the station's live status."),
                       Reply(401, "Unsigned or wrongly signed, or the station has no device key."),
                       Reply(409, "Replayed: the nonce was used before, or the time is outside the window.")))
def telemetry_post(station_id: str, x_signature: str | None, body: bytes) -> Response:
    """A signed report from a smart station (see stationmap.ops.telemetry for the format)."""
    if (request.content_length or 0) > MAX_REPORT_BYTES:
        raise PayloadTooLarge(f"report is {request.content_length} bytes; at most {MAX_REPORT_BYTES}")
    report = telemetry().receive(store(), accounts(), station_id[:100], body, x_signature,
                                 settings()["telemetry_window_s"])
    resp = jsonify(accepted=True, station=station_id, nonce=report.nonce, live=live_statuses().get(station_id))
    resp.status_code = 201
    return resp


@bp.get("/api/stations/<station_id>/telemetry")
@documented("The latest reports of a smart station (bearer token).",
            params=(params.REPORTS,),
            tag="admin", auth="bearer", path_params={"station_id": "Station id."}, responses=(FORBIDDEN,))
def telemetry_get(station_id: str, limit: int) -> Response:
    user = current_user()
    s = store().get(station_id[:100])
    user.check_may_see(s.district, f"station {s.id}")
    return jsonify(station=s.id, live=station_live(live_statuses(), s.id, s.kind),
                   reports=telemetry().reports(s.id, limit))


# -- usage -----------------------------------------------------------------------------------------

@bp.get("/api/usage")
@documented("Visits reported by smart stations per station, district, day or ISO week (Asia/Shanghai).",
            params=params.USAGE,
            tag="planning", media=("application/json", "text/csv"))
def usage_view(by: str, since, until, district, format: str) -> Response:
    rows = usage.visits(telemetry(), store(), by, since, until, district)
    if format == "csv":
        return csv_response(rows, f"usage_by_{by}.csv")
    return jsonify(by=by, since=since, until=until, total_visits=sum(r["visits"] for r in rows), rows=rows)


@bp.get("/api/usage/demand")
@documented("Observed visits as a demand layer: one weighted point per station (lat, lon, weight = visits); "
            "the CSV loads as a planner's demand file.",
            params=(*params.PERIOD, params.DEMAND_FORMAT),
            tag="planning", media=("text/csv", "application/geo+json", "application/json"))
def usage_demand_view(since, until, format: str) -> Response:
    rows = usage.demand_rows(telemetry(), store(), since, until)
    if format == "csv":
        return csv_response(rows, "observed_visits_demand.csv")
    if format == "geojson":
        return geojson_response(present.points_collection(rows), "observed_visits_demand.geojson")
    return jsonify(count=len(rows), points=rows)


# -- the admin page ----------------------------------------------------------------------------------
@bp.get("/admin")
@documented("Station management page (HTML; sign in with a name and password).", tag="pages", media=("text/html",))
def admin_page() -> str:
    d_names, _ = _names()
    return render_template("admin.html", districts=[(code, d_names[code]) for code in d_names.index],
                           stale_after_s=settings()["status_unknown_after_s"],
                           sample=any(s.demo for s in store().all()))
