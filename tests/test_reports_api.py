"""Workers' reports and last-verified days through the running app: a worker files without an account, the
district's editor (and no other) sees and settles it, the public sees a count only, and the audit log tells
the story."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from stationmap.ops.accounts import open_accounts

sys.path.insert(0, str(Path(__file__).parent))
from test_admin_api import PASSWORD, PUNING, RONGCHENG, Site, _problem  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory, _registry_template):
    d = tmp_path_factory.mktemp("reports-api") / "data"
    shutil.copytree(_registry_template, d)
    open_accounts(d).add_user("rong", "editor", RONGCHENG, password=PASSWORD)
    s = Site(d, {"report_client_limit": 4})
    s.rong = open_accounts(d).issue_token("rong")[0]
    yield s
    s.server.stop()


def _open_station(site: Site, district: str) -> dict:
    for f in site.req("GET", "/api/stations", params={"district": district, "kind": "outdoor"}).json()["features"]:
        if f["properties"]["open_now"]:
            return site.admin_station(f["id"])
    pytest.skip("no station open at this hour")


def test_a_report_reaches_its_districts_editor_only_and_is_settled_with_an_audit_trail(site):
    st = _open_station(site, PUNING)
    hostile = "<img src=x onerror=alert(1)> =HYPERLINK(\"http://x\")"
    r = site.req("POST", f"/api/stations/{st['id']}/reports", json={"kind": "closed", "text": hostile})
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert receipt["received"] and receipt["station"] == st["id"] and "text" not in receipt
    rid = receipt["id"]

    assert site.req("GET", "/api/reports/closed").json()["stations"][st["id"]] >= 1  # a count, never the text
    assert hostile not in site.req("GET", "/api/reports/closed").text

    mine = site.req("GET", "/api/admin/reports", site.editor).json()["reports"]
    assert [x["text"] for x in mine if x["id"] == rid] == [hostile]  # stored as sent, shown as text by the page
    assert rid not in [x["id"] for x in site.req("GET", "/api/admin/reports", site.rong).json()["reports"]]
    _problem(site.req("GET", "/api/admin/reports", site.rong, params={"district": PUNING}), 403)
    _problem(site.req("POST", f"/api/admin/reports/{rid}/resolve", site.rong, json={}), 403)
    _problem(site.req("GET", "/api/admin/reports"), 401)

    _problem(site.req("POST", f"/api/admin/reports/{rid}/close", site.editor, json={}), 428)
    r = site.req("POST", f"/api/admin/reports/{rid}/close", site.editor, json={"note": "核实属实"},
                 headers={"If-Match": st["_etag_header"]})
    assert r.status_code == 200, r.text
    assert r.json()["report"]["state"] == "acted" and r.json()["station"]["status"] == "closed"
    assert r.headers["ETag"] != st["_etag_header"]
    _problem(site.req("POST", f"/api/admin/reports/{rid}/resolve", site.editor, json={}), 409)
    assert st["id"] not in site.req("GET", "/api/reports/closed").json()["stations"]

    steps = [e for e in site.req("GET", "/api/audit", site.editor, params={"station": st["id"]}).json()["entries"]]
    told = [(e.get("detail") or {}).get("kind") or e["action"] for e in steps]
    assert "close" in told and len(steps) >= 3, told  # filed, the station closed, the report acted on


def test_bad_reports_are_refused_and_store_nothing(site):
    st = _open_station(site, RONGCHENG)
    before = site.req("GET", "/api/admin/reports", site.rong, params={"state": "all"}).json()["count"]
    for body, status in (({"kind": "sabotage"}, 400), ({"kind": "other"}, 400), ({"kind": "broken"}, 400),
                         ({"kind": "other", "text": "x" * 281}, 400), ({"kind": "other", "text": "a\u202eb"}, 400),
                         ({"kind": "location", "lat": 40.0, "lon": 116.0}, 400)):
        _problem(site.req("POST", f"/api/stations/{st['id']}/reports", json=body), status)
    _problem(site.req("POST", "/api/stations/st-nothing/reports", json={"kind": "other", "text": "?"}), 404)
    _problem(site.req("POST", f"/api/stations/{st['id']}/reports", data=b'{"kind": "other", "text": "' + b"y" * 3000
                      + b'"}', headers={"Content-Type": "application/json"}), 413)
    assert site.req("GET", "/api/admin/reports", site.rong, params={"state": "all"}).json()["count"] == before


def test_reports_are_limited_per_client(site):
    st = _open_station(site, RONGCHENG)
    codes = [site.req("POST", f"/api/stations/{st['id']}/reports", json={"kind": "other", "text": f"n{i}"}).status_code
             for i in range(5)]
    assert codes.count(201) <= 4 and codes[-1] == 429
    r = site.req("POST", f"/api/stations/{st['id']}/reports", json={"kind": "other", "text": "again"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_verify_sets_the_day_and_the_unverified_list_follows(site):
    st = site.station(PUNING)
    listed = {s["id"] for s in site.req("GET", "/api/unverified", params={"days": 30}).json()["stations"]}
    assert st["id"] in listed
    _problem(site.req("POST", f"/api/admin/stations/{st['id']}/verify", site.rong), 403)
    r = site.req("POST", f"/api/admin/stations/{st['id']}/verify", site.editor)
    assert r.status_code == 200 and r.json()["station"]["last_verified"]
    public = site.req("GET", f"/api/stations/{st['id']}").json()["properties"]
    assert public["last_verified"] == r.json()["station"]["last_verified"]
    listed = {s["id"] for s in site.req("GET", "/api/unverified", params={"days": 30}).json()["stations"]}
    assert st["id"] not in listed
    csv = site.req("GET", "/api/unverified", params={"days": 30, "format": "csv", "district": "普宁"})
    assert csv.headers["Content-Type"].startswith("text/csv") and st["id"] not in csv.text
    _problem(site.req("GET", "/api/unverified", params={"days": 0}), 400)
