"""Station management through the running app (a real HTTP server on loopback, temp data directory):
tokens, district permissions, versions, concurrent edits, telemetry, audit, rate and size limits,
security headers, and a server killed with SIGKILL in the middle of a write."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from stationmap.ops.accounts import open_accounts
from stationmap.ops.audit import open_audit
from stationmap.ops.telemetry import build_report
from stationmap.store import open_store

sys.path.insert(0, str(Path(__file__).parent))
from webserver import start  # noqa: E402

PUNING, RONGCHENG = "445281", "445202"
IN_PUNING = {"lat": 23.2975, "lon": 116.1660}
PASSWORD = "a long test password"


class Site:
    """A live server plus the credentials made for it."""

    def __init__(self, data_dir: Path, overrides: dict | None = None):
        self.data_dir = data_dir
        acc = open_accounts(data_dir)
        for name, role, district in (("root", "admin", None), ("ed", "editor", PUNING), ("gone", "editor", PUNING)):
            if name not in {u.name for u in acc.users()}:
                acc.add_user(name, role, district, password=PASSWORD)
        self.admin = acc.issue_token("root")[0]
        self.editor = acc.issue_token("ed")[0]
        self.revoked = acc.issue_token("gone")[0]
        acc.revoke("gone")
        self.expired = acc.issue_token("ed", ttl=timedelta(seconds=-1))[0]
        self.server = start({"data_dir": str(data_dir), **(overrides or {})})
        self.url = self.server.url

    def req(self, method: str, path: str, token: str | None = None, **kw) -> requests.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def station(self, district: str, kind: str | None = None) -> dict:
        feats = self.req("GET", "/api/stations").json()["features"]
        for f in feats:
            p = f["properties"]
            if p["district"] == district and (kind is None or p["kind"] == kind) and not p["id"].startswith("st-x"):
                return self.admin_station(p["id"])
        raise LookupError(district)

    def admin_station(self, sid: str) -> dict:
        r = self.req("GET", f"/api/admin/stations/{sid}", self.admin)
        assert r.status_code == 200, r.text
        return r.json()["station"] | {"_etag_header": r.headers["ETag"]}


@pytest.fixture(scope="module")
def site(tmp_path_factory, _registry_template):
    import shutil

    d = tmp_path_factory.mktemp("admin-api") / "data"
    shutil.copytree(_registry_template, d)
    s = Site(d)
    yield s
    s.server.stop()


def _problem(r: requests.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    body = r.json()
    assert set(body) >= {"type", "title", "status", "detail"} and body["status"] == status
    return body


def _registry_and_log(site: Site) -> tuple[list, int]:
    return open_store(site.data_dir).all(), len(open_audit(site.data_dir).entries(states=("pending", "committed", "aborted")))


# -- authentication -----------------------------------------------------------------------------------
def test_no_bad_revoked_or_expired_token_is_refused(site):
    s = site.station(PUNING)
    before = _registry_and_log(site)
    for token, why in ((None, "no token"), ("smt_not-a-real-token", "unknown token"), (site.revoked, "revoked"),
                       (site.expired, "expired")):
        r = site.req("PATCH", f"/api/stations/{s['id']}", token, json={"phone": "12351"}, headers={"If-Match": "*"})
        assert why in _problem(r, 401)["detail"] and r.headers["WWW-Authenticate"].startswith("Bearer")
        _problem(site.req("POST", "/api/stations", token, json={"name": "x", **IN_PUNING}), 401)
        _problem(site.req("DELETE", f"/api/stations/{s['id']}", token, headers={"If-Match": "*"}), 401)
        _problem(site.req("GET", "/api/audit", token), 401)
    r = site.req("PATCH", f"/api/stations/{s['id']}", headers={"Authorization": f"Basic {site.admin}", "If-Match": "*"},
                 json={"phone": "12351"})
    _problem(r, 401)
    assert _registry_and_log(site) == before


def test_every_write_route_needs_credentials(site):
    """Public means read-only: every route that accepts a write method refuses an anonymous caller, but for
    workers' reports (no account by design), which refuse an empty report (and JSON sent to the report form),
    and the planner's questions over a sent layer, which keep nothing of the registry's."""
    app = site.server.app
    writes = [(rule.rule, sorted(rule.methods - {"GET", "HEAD", "OPTIONS"})) for rule in app.url_map.iter_rules()
              if rule.methods - {"GET", "HEAD", "OPTIONS"}]
    assert {r for r, _ in writes} >= {"/api/stations", "/api/stations/<station_id>", "/api/auth/login",
                                      "/api/stations/<station_id>/telemetry"}
    sid = site.station(PUNING)["id"]
    for rule, methods in writes:
        path = rule.replace("<station_id>", sid).replace("<report_id>", "1").replace("<key>", "no-such-job")
        for method in methods:
            public = {"/api/stations/<station_id>/reports": 400, "/api/whatif": 400,  # a report; a question, no write
                      "/api/demand": 400,  # a planner's demand layer for questions (JSON {} is no such file)
                      "/api/jobs/<key>": 404}  # only the asker's own question, by its address
            expected = public.get(rule, 401)  # login: no name and password
            if rule == "/s/<station_id>/report":  # the station page's report form: a form, never JSON
                expected = 415
            _problem(site.req(method, path, json={}), expected)


def test_login_me_logout(site, caplog):
    caplog.set_level(logging.DEBUG)
    _problem(site.req("POST", "/api/auth/login", json={"name": "ed", "password": "wrong password"}), 401)
    _problem(site.req("POST", "/api/auth/login", data="not json"), 400)
    r = site.req("POST", "/api/auth/login", json={"name": "ed", "password": PASSWORD})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    token = r.json()["token"]
    assert r.json()["user"] == {"name": "ed", "role": "editor", "district": PUNING, "district_name": "普宁市"}
    assert site.req("GET", "/api/auth/me", token).json()["user"]["name"] == "ed"
    assert site.req("POST", "/api/auth/logout", token).status_code == 204
    _problem(site.req("GET", "/api/auth/me", token), 401)
    logged = caplog.text
    assert "/api/auth/login" in logged  # the request log is captured ...
    assert token not in logged and PASSWORD not in logged and site.admin not in logged  # no secrets in logs


# -- permissions and versions --------------------------------------------------------------------------
def test_editor_touching_another_district_is_forbidden(site):
    other = site.station(RONGCHENG)
    own = site.station(PUNING)
    before = _registry_and_log(site)
    tag = {"If-Match": other["_etag_header"]}
    assert "榕城区" in _problem(site.req("PATCH", f"/api/stations/{other['id']}", site.editor, json={"phone": "12351"},
                                         headers=tag), 403)["detail"]
    _problem(site.req("POST", f"/api/stations/{other['id']}/close", site.editor, headers=tag), 403)
    _problem(site.req("DELETE", f"/api/stations/{other['id']}", site.editor, headers=tag), 403)
    _problem(site.req("POST", "/api/stations", site.editor, json={"name": "越界", "lat": 23.547, "lon": 116.37}), 403)
    _problem(site.req("PATCH", f"/api/stations/{own['id']}", site.editor, json={"lat": 23.547, "lon": 116.37},
                      headers={"If-Match": own["_etag_header"]}), 403)  # moving out of the district
    listing = site.req("GET", "/api/admin/stations", site.editor).json()
    assert listing["count"] and all(s["district"] == PUNING for s in listing["stations"])
    assert _registry_and_log(site) == before


def test_create_edit_close_reopen_delete_and_audit(site):
    r = site.req("POST", "/api/stations?crs=wgs84", site.editor,
                 json={"name": "接口测试驿站", **IN_PUNING, "hours": "周一至周五 08:00-17:30", "amenities": "饮水、微波炉"})
    assert r.status_code == 201, r.text
    s = r.json()["station"]
    assert r.headers["Location"].endswith(f"/api/admin/stations/{s['id']}")
    assert r.headers["ETag"].strip('"').split(":")[0] == s["etag"]  # "<etag>:br" when sent compressed
    assert s["district"] == PUNING and s["amenities"] == ["drinking_water", "microwave"]
    path = f"/api/stations/{s['id']}"
    _problem(site.req("PATCH", path, site.editor, json={"phone": "12351"}), 428)
    _problem(site.req("PATCH", path, site.editor, json={"phone": "not a phone"}, headers={"If-Match": r.headers["ETag"]}), 400)
    _problem(site.req("PATCH", path, site.editor, json={"district": RONGCHENG}, headers={"If-Match": r.headers["ETag"]}), 400)
    r2 = site.req("PATCH", path, site.editor, json={"phone": "0663-8888888"}, headers={"If-Match": r.headers["ETag"]})
    assert r2.status_code == 200 and r2.json()["station"]["phone"] == "0663-8888888"
    stale = site.req("PATCH", path, site.editor, json={"phone": "12351"}, headers={"If-Match": r.headers["ETag"]})
    assert "changed by someone else" in _problem(stale, 409)["detail"]
    r3 = site.req("POST", path + "/close", site.editor, headers={"If-Match": r2.headers["ETag"]})
    assert r3.json()["station"]["status"] == "closed"
    public = site.req("GET", path).json()
    assert public["properties"]["status"] == "closed"
    r4 = site.req("POST", path + "/reopen", site.editor, headers={"If-Match": r3.headers["ETag"]})
    assert r4.json()["station"]["status"] == "open"
    assert site.req("DELETE", path, site.editor, headers={"If-Match": r4.headers["ETag"]}).status_code == 204
    _problem(site.req("GET", path), 404)
    log = site.req("GET", f"/api/audit?station={s['id']}", site.editor).json()
    assert [e["action"] for e in log["entries"]] == ["delete", "reopen", "close", "edit", "create"]
    assert all(e["actor"] == "ed" and e["role"] == "editor" for e in log["entries"])
    assert log["entries"][3]["changed"] == ["phone"] and log["entries"][3]["before"]["phone"] == ""
    csv_resp = site.req("GET", f"/api/audit?station={s['id']}&format=csv", site.admin)
    assert csv_resp.headers["Content-Type"].startswith("text/csv") and "attachment" in csv_resp.headers["Content-Disposition"]
    lines = csv_resp.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("seq,at_utc,at_local,actor") and len(lines) == 6 and "接口测试驿站" in lines[-1]


def test_concurrent_edits_to_one_station(site):
    s = site.station(PUNING)
    barrier = threading.Barrier(8)
    results: list[requests.Response] = []

    def edit(i: int) -> None:
        barrier.wait()
        results.append(site.req("PATCH", f"/api/stations/{s['id']}", site.admin, json={"host": f"并发 {i}"},
                                headers={"If-Match": s["_etag_header"]}))

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [409] * 7, codes
    winner = next(r for r in results if r.status_code == 200).json()["station"]["host"]
    assert site.admin_station(s["id"])["host"] == winner
    entries = site.req("GET", f"/api/audit?station={s['id']}&actor=root", site.admin).json()["entries"]
    assert len(entries) == 1 and entries[0]["after"]["host"] == winner


# -- telemetry ---------------------------------------------------------------------------------------
def test_telemetry_accepted_once_and_shown_live(site):
    smart = site.station(PUNING, kind="smart")
    key = open_accounts(site.data_dir).issue_device_key(open_store(site.data_dir).get(smart["id"]))
    path = f"/api/stations/{smart['id']}/telemetry"
    body, sig = build_report(key, smart["id"], open=True, occupancy=6, visits=14, temperature_c=29.0)
    ok = site.req("POST", path, data=body, headers={"X-Signature": sig, "Content-Type": "application/json"})
    assert ok.status_code == 201, ok.text
    assert ok.json()["live"]["state"] == "open"
    assert "replayed" in _problem(site.req("POST", path, data=body, headers={"X-Signature": sig}), 409)["detail"]
    old, old_sig = build_report(key, smart["id"], ts=time.time() - 3600)
    _problem(site.req("POST", path, data=old, headers={"X-Signature": old_sig}), 409)
    _problem(site.req("POST", path, data=body.replace(b"14", b"99"), headers={"X-Signature": sig}), 401)
    _problem(site.req("POST", path, data=body), 401)
    bad = json.dumps({"station": smart["id"], "ts": int(time.time()), "nonce": "abcdefgh1234", "open": True,
                      "occupancy": -5, "visits": 1}).encode()
    from stationmap.ops.telemetry import sign

    _problem(site.req("POST", path, data=bad, headers={"X-Signature": sign(key, bad)}), 400)
    _problem(site.req("POST", path, data=b"x" * 5000, headers={"X-Signature": sig}), 413)
    reports = site.req("GET", path + "?limit=10", site.admin).json()["reports"]
    assert len(reports) == 1 and reports[0]["visits"] == 14
    feature = site.req("GET", f"/api/stations/{smart['id']}").json()
    assert feature["properties"]["live"]["state"] == "open" and feature["properties"]["live"]["occupancy"] == 6
    assert site.req("GET", "/api/live").json()["stations"][smart["id"]]["occupancy"] == 6
    plain = next(f for f in site.req("GET", "/api/stations?kind=outdoor").json()["features"])
    assert plain["properties"]["live"] is None
    usage = site.req("GET", "/api/usage?by=district").json()
    assert usage["total_visits"] == 14 and usage["rows"][0]["district"] == PUNING
    demand = site.req("GET", "/api/usage/demand").content.decode("utf-8-sig").splitlines()
    assert demand[0].split(",")[:5] == ["station", "name", "lat", "lon", "weight"] and demand[1].endswith(",14")


# -- protection ----------------------------------------------------------------------------------------
def test_security_headers(site):
    page = site.req("GET", "/admin")
    assert page.status_code == 200 and "驿站管理" in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'self'" in csp and "tile.openstreetmap.org" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["X-Frame-Options"] == "SAMEORIGIN"
    for path in ("/api/live", "/api/stations", "/api/usage"):
        assert site.req("GET", path).headers["X-Content-Type-Options"] == "nosniff"
    assert site.req("GET", "/static/admin.js").status_code == 200


def test_rate_and_size_limits(registry_dir):
    site = Site(registry_dir, {"rate_limit_public": "5/minute", "rate_limit_telemetry": "2/minute",
                               "rate_limit_login": "2/minute", "max_request_bytes": 4096})
    try:
        codes = [site.req("GET", "/api/live").status_code for _ in range(7)]
        assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
        _problem(site.req("GET", "/api/live"), 429)
        smart = next(s for s in open_store(registry_dir).all() if s.kind == "smart")
        key = open_accounts(registry_dir).issue_device_key(smart)
        sent = [site.req("POST", f"/api/stations/{smart.id}/telemetry", data=b, headers={"X-Signature": s}).status_code
                for b, s in (build_report(key, smart.id) for _ in range(3))]
        assert sent == [201, 201, 429]
        logins = [site.req("POST", "/api/auth/login", json={"name": "ed", "password": "guess"}).status_code for _ in range(3)]
        assert logins == [401, 401, 429]
        big = {"name": "大请求", **IN_PUNING, "address": "x" * 10000}
        _problem(site.req("POST", "/api/stations", site.admin, json=big), 413)
    finally:
        site.server.stop()


# -- a server killed mid-write ---------------------------------------------------------------------------
_SERVER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    data_dir, flag = sys.argv[1], Path(sys.argv[2])
    import stationmap.store.gpkg as gpkg
    real_commit = gpkg._commit

    def stalled_commit(con):  # the edited row is written, its transaction not yet committed
        flag.write_text("stalled")
        time.sleep(120)
        return real_commit(con)

    gpkg._commit = stalled_commit
    from werkzeug.serving import make_server
    from web import create_app
    server = make_server("127.0.0.1", 0, create_app({"data_dir": data_dir}), threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()
""")


def test_server_killed_mid_write_loses_nothing(registry_dir, tmp_path):
    acc = open_accounts(registry_dir)
    acc.add_user("root", "admin")
    token = acc.issue_token("root")[0]
    station = next(s for s in open_store(registry_dir).all() if s.district == PUNING)
    flag = tmp_path / "flag"
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(registry_dir), str(flag)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
    try:
        port = int(proc.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        before = requests.get(f"{url}/api/admin/stations/{station.id}", headers={"Authorization": f"Bearer {token}"},
                              timeout=30)
        etag_before = before.headers["ETag"]

        def doomed_edit() -> None:
            try:
                requests.patch(f"{url}/api/stations/{station.id}", json={"address": "永远写不完"}, timeout=60,
                               headers={"Authorization": f"Bearer {token}", "If-Match": etag_before})
            except requests.RequestException:
                pass  # the server dies under it

        t = threading.Thread(target=doomed_edit)
        t.start()
        end = time.monotonic() + 60
        while not flag.exists():
            assert proc.poll() is None and time.monotonic() < end, proc.stderr.read()
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        t.join(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    site = Site(registry_dir)  # a fresh server on the same data directory
    try:
        after = site.req("GET", f"/api/admin/stations/{station.id}", token)
        assert after.status_code == 200 and after.json()["station"]["address"] == station.address
        assert after.headers["ETag"] == etag_before  # the same version: nothing half-written
        assert site.req("GET", "/api/stations").json()["numberReturned"] == 135
        assert site.req("GET", f"/api/audit?station={station.id}&actor=root", token).json()["entries"] == []
        assert open_audit(registry_dir).pending() == 0  # settled (as aborted) when the audit was read
        retry = site.req("PATCH", f"/api/stations/{station.id}", token, json={"address": "重新写入"},
                         headers={"If-Match": etag_before})
        assert retry.status_code == 200 and retry.json()["station"]["address"] == "重新写入"
    finally:
        site.server.stop()


# -- the admin page in a real browser ---------------------------------------------------------------------
def test_admin_page_sign_in_edit_and_audit(site, chromium):
    """Sign in on /admin, change a station's phone in the dialog, see it saved and in the audit tab;
    no script error and no Content-Security-Policy violation on the way."""
    ctx = chromium.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1100, "height": 900})
    page = ctx.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    # map tiles cannot be reached from here: their failed loads are not the page's problems
    page.on("console", lambda m: problems.append(m.text) if m.type == "error"
            and (m.location.get("url") or site.url).startswith(site.url) else None)
    try:
        page.goto(site.url + "/admin")
        page.fill("#login input[name=name]", "ed")
        page.fill("#login input[name=password]", PASSWORD)
        page.click("#login button[type=submit]")
        page.wait_for_selector("#stations tr")
        assert "ed（编辑 · 普宁市）" in page.inner_text("#who")
        target = site.req("GET", "/api/admin/stations", site.editor).json()["stations"][0]
        page.fill("#filter", target["id"])
        page.click("#stations tr >> text=编辑 Edit")
        page.fill("#edit-form input[name=phone]", "0663-7654321")
        page.click("#edit-save")
        page.wait_for_selector("#message:has-text('已保存')")
        assert site.admin_station(target["id"])["phone"] == "0663-7654321"
        page.click("[data-tab=audit]")
        page.wait_for_selector(f"#audit tr:has-text('{target['id']}')")
        assert "phone" in page.inner_text("#audit")
        page.click("#logout")
        page.wait_for_selector("#login", state="visible")
    finally:
        ctx.close()
    assert not problems, problems
