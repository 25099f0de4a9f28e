"""The API layer called in process, with no web framework: request in, (status, headers, body) out.

The same routes answer through Flask in test_api.py and the other API tests; here they are asked
directly, as the static export asks them, and the answers are held against the live server's.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest
import requests

from stationmap import config
from stationmap.api import TABLE, Doc, Request, Route, Service
from stationmap.api.core import Fields, json_answer
from stationmap.ops.accounts import open_accounts
from stationmap.ops.telemetry import build_report

PROBLEM = "application/problem+json"
PUNING = "445281"


@pytest.fixture
def svc(registry_dir) -> Service:
    return Service(config.load_settings({"data_dir": str(registry_dir)}))


def ask(svc: Service, method: str, target: str, **kw) -> object:
    return svc.handle(Request.make(method, target, **kw))


def problem(answer, status: int) -> dict:
    assert answer.status == status and answer.media == PROBLEM, (answer.status, answer.body[:300])
    doc = answer.json()
    assert doc["status"] == status and doc["detail"]
    return doc


def test_api_layer_runs_without_the_web_framework(tmp_path):
    code = textwrap.dedent("""
        import sys
        from stationmap.api import Request, Service
        svc = Service.open({"data_dir": sys.argv[1], "store": "memory"})
        answers = [svc.handle(Request.make("GET", t)) for t in
                   ("/api/stations?kind=smart", "/api/nearest?lat=23.55&lon=116.37&k=2", "/ogcapi/collections",
                    "/api/openapi.json", "/api/nope")]
        assert [a.status for a in answers] == [200, 200, 200, 200, 404], [a.status for a in answers]
        print(sorted(m for m in ("flask", "werkzeug", "web") if m in sys.modules))
    """)
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "data")], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_routes_answer_with_status_media_and_body(svc):
    stations = ask(svc, "GET", "/api/stations?kind=smart")
    assert stations.status == 200 and stations.content_type == "application/geo+json"
    doc = stations.json()
    assert doc["features"] and {f["properties"]["kind"] for f in doc["features"]} == {"smart"}
    assert all(f["properties"]["live"]["state"] == "unknown" for f in doc["features"])  # never reported
    sid = doc["features"][0]["id"]
    one = ask(svc, "GET", f"/api/stations/{sid}").json()
    assert one["id"] == sid and one["type"] == "Feature"
    csv = ask(svc, "GET", "/api/usage?format=csv")
    assert csv.content_type == "text/csv; charset=utf-8" and csv.body.startswith("\ufeff".encode())
    assert 'filename="usage_by_station.csv"' in csv.headers["Content-Disposition"]


def test_bad_requests_are_problem_documents(svc):
    assert "unknown parameter" in problem(ask(svc, "GET", "/api/nearest?lat=23.5&lon=116.3&kk=1"), 400)["detail"]
    assert "out of range" in problem(ask(svc, "GET", "/api/nearest?lat=95&lon=116.3"), 400)["detail"]
    assert "'lat' is required" in problem(ask(svc, "GET", "/api/nearest?lon=116.3"), 400)["detail"]
    assert problem(ask(svc, "GET", "/api/stations/no-such-id"), 404)["instance"] == "/api/stations/no-such-id"
    assert "openapi.json" in problem(ask(svc, "GET", "/api/no-such-route"), 404)["detail"]
    refused = ask(svc, "PUT", "/api/stations")
    assert problem(refused, 405) and refused.headers["Allow"] == "GET, POST"
    bad_json = ask(svc, "POST", "/api/auth/login", body=b"{not json")
    problem(bad_json, 400)
    assert bad_json.headers["Cache-Control"] == "no-store"  # a sign-in answer is never cached, errors too


def test_setting_bounds_apply_in_process(registry_dir):
    svc = Service(config.load_settings({"data_dir": str(registry_dir), "max_results": 3}))
    assert "use 1 to 3" in problem(ask(svc, "GET", "/api/nearest?lat=23.5&lon=116.3&k=4"), 400)["detail"]
    assert ask(svc, "GET", "/api/nearest?lat=23.5&lon=116.3&k=3").json()["count"] == 3


def test_bearer_tokens_and_versions_are_checked_in_the_layer(svc, registry_dir):
    denied = ask(svc, "GET", "/api/auth/me")
    problem(denied, 401)
    assert denied.headers["WWW-Authenticate"].startswith("Bearer") and denied.headers["Cache-Control"] == "no-store"
    accounts = open_accounts(registry_dir)
    accounts.add_user("ed", "editor", PUNING)
    bearer = {"authorization": f"Bearer {accounts.issue_token('ed')[0]}"}  # header names in any case
    me = ask(svc, "GET", "/api/auth/me", headers=bearer)
    assert me.status == 200 and me.json()["user"]["district_name"] == "普宁市"

    station = next(s for s in svc.store.all() if s.district == PUNING)
    path = f"/api/stations/{station.id}"
    change = json.dumps({"phone": "12351-9"}).encode()
    assert "ETag" in problem(ask(svc, "PATCH", path, headers=bearer, body=change), 428)["detail"]
    current = ask(svc, "GET", f"/api/admin/stations/{station.id}", headers=bearer)
    etag = current.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    edited = ask(svc, "PATCH", path, headers={**bearer, "If-Match": etag}, body=change)
    assert edited.status == 200 and edited.json()["station"]["phone"] == "12351-9" and edited.headers["ETag"] != etag
    problem(ask(svc, "PATCH", path, headers={**bearer, "If-Match": etag}, body=change), 409)
    elsewhere = next(s for s in svc.store.all() if s.district != PUNING)
    problem(ask(svc, "GET", f"/api/admin/stations/{elsewhere.id}", headers=bearer), 403)


def test_signed_telemetry_has_no_bearer_challenge(svc, registry_dir):
    smart = next(s for s in svc.store.all() if s.kind == "smart")
    target = f"/api/stations/{smart.id}/telemetry"
    unsigned = ask(svc, "POST", target, body=b"{}")
    problem(unsigned, 401)
    assert "WWW-Authenticate" not in unsigned.headers
    key = open_accounts(registry_dir).issue_device_key(smart)
    body, signature = build_report(key, smart.id, occupancy=2, visits=3)
    accepted = ask(svc, "POST", target, body=body, headers={"X-Signature": signature})
    assert accepted.status == 201 and accepted.json()["live"]["occupancy"] == 2
    problem(ask(svc, "POST", target, body=body, headers={"X-Signature": signature}), 409)  # replayed


def test_a_new_costly_question_is_202_with_a_job_to_poll(svc):
    first = ask(svc, "GET", "/api/gaps?reach_m=1450&limit=3", remote_addr="10.0.0.9")
    assert first.status == 202 and first.headers["Retry-After"] == "1" and first.headers["Cache-Control"] == "no-store"
    status = first.json()
    assert first.headers["Location"] == status["poll"] == f"/api/jobs/{status['job']}"
    assert status["status"] in ("queued", "running", "done") and status["question"]["reach_m"] == 1450
    polled = ask(svc, "GET", first.headers["Location"])
    assert polled.status == 200 and polled.json()["job"] == status["job"]
    problem(ask(svc, "GET", "/api/jobs/no-such-job"), 404)


def test_links_are_built_on_the_public_url_or_the_request(registry_dir):
    plain = Service(config.load_settings({"data_dir": str(registry_dir)}))
    landing = plain.handle(Request.make("GET", "/ogcapi", base_url="http://10.1.2.3:8000/map-service")).json()
    assert {link["href"] for link in landing["links"]} >= {"http://10.1.2.3:8000/map-service/ogcapi/",
                                                           "http://10.1.2.3:8000/map-service/api/openapi.json"}
    public = Service(config.load_settings({"data_dir": str(registry_dir), "public_url": "https://map.example.org/"}))
    items = public.handle(Request.make("GET", "/ogcapi/collections/districts/items?limit=2&f=json")).json()
    hrefs = {link["rel"]: link["href"] for link in items["links"]}
    assert hrefs["next"] == "https://map.example.org/ogcapi/collections/districts/items?f=json&limit=2&offset=2"


def test_the_document_is_built_from_the_route_table(svc):
    doc = ask(svc, "GET", "/api/openapi.json")
    assert doc.content_type == "application/vnd.oai.openapi+json;version=3.0"
    paths = doc.json()["paths"]
    assert {(p, m) for p, item in paths.items() for m in item} == {(r.path, r.method.lower()) for r in TABLE}


def test_a_route_added_to_the_table_is_served_and_documented(registry_dir):
    from stationmap.params import KIND

    def kinds(svc, req, kind):
        return json_answer({"kind": kind, "count": sum(s.kind == kind for s in svc.store.all())})

    table = TABLE.copy()
    table.add(Route("GET", "/api/kinds/{flavour}", "api.kinds", Doc("Count of one kind.", (replace(KIND, required=True),)),
                    lambda svc, req, flavour, kind: kinds(svc, req, kind)))
    svc = Service(config.load_settings({"data_dir": str(registry_dir)}), routes=table)
    assert ask(svc, "GET", "/api/kinds/x?kind=smart").json()["count"] == sum(s.kind == "smart" for s in svc.store.all())
    problem(ask(svc, "GET", "/api/kinds/x"), 400)
    op = ask(svc, "GET", "/api/openapi.json").json()["paths"]["/api/kinds/{flavour}"]["get"]
    assert op["operationId"] == "api_kinds_get" and {p["name"] for p in op["parameters"]} == {"kind", "flavour"}
    assert "404" in op["responses"]


def test_header_fields_ignore_case_and_query_keeps_repeats():
    headers = Fields([("If-Match", '"a"'), ("X-Other", "1")], folded=True)
    assert headers.get("if-match") == '"a"' and "IF-MATCH" in headers and headers.get("missing") is None
    query = Request.make("GET", "/api/stations?amenity=toilet&amenity=microwave&q=%E9%A9%BF").query
    assert query.getlist("amenity") == ["toilet", "microwave"] and query.get("q") == "驿"


def test_in_process_answers_are_the_live_servers(live_server):
    """The Flask adapter adds nothing to a route's body: the same request answered in process is byte-equal."""
    svc = Service(config.load_settings({"data_dir": live_server.app.config["STATIONMAP"]["data_dir"]}))
    sid = svc.store.all()[0].id
    for target in ("/api/districts", "/ogcapi/collections", f"/ogcapi/collections/stations/items/{sid}",
                   "/api/townships?layer=seats", "/api/nearest?lat=95&lon=1"):
        served = requests.get(live_server.url + target, timeout=60)
        answer = svc.handle(Request.make("GET", target, base_url=live_server.url))
        assert (served.status_code, served.headers["Content-Type"]) == (answer.status, answer.content_type), target
        assert served.content == answer.body, target
