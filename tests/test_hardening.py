"""Hardening of the web service: JSON nesting and body size limits, Host checks and public links,
district-bounded reads for editors, per-account sign-in throttling, and transport/isolation headers."""
from __future__ import annotations

import hashlib
import http.client
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from stationmap.checks import MAX_JSON_DEPTH, json_depth, json_document
from stationmap.config import load_settings
from stationmap.errors import InvalidInput, TooManyAttempts, Unauthorized
from stationmap.ops import accounts as accounts_mod
from stationmap.ops.accounts import open_accounts
from stationmap.ops.db import utc_now
from stationmap.ops.telemetry import sign
from stationmap.store import open_store

sys.path.insert(0, str(Path(__file__).parent))
from webserver import CHROMIUM, CHROMIUM_ARGS, start  # noqa: E402

PUNING, RONGCHENG = "445281", "445202"
PASSWORD = "a long test password"
PROBLEM = "application/problem+json"


def _app(registry_dir: Path, **overrides):
    from web import create_app

    return create_app({"data_dir": str(registry_dir), "rate_limit_public": "100000/minute",
                       "rate_limit_login": "100000/minute", **overrides})


def _people(registry_dir: Path) -> dict[str, str]:
    """An admin and a 普宁市 editor with passwords; their API tokens by name."""
    acc = open_accounts(registry_dir)
    acc.add_user("root", "admin", password=PASSWORD)
    acc.add_user("ed", "editor", PUNING, password=PASSWORD)
    return {name: acc.issue_token(name)[0] for name in ("root", "ed")}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _problem(resp, status: int) -> str:
    """The detail of a problem+json answer with `status`."""
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.headers["Content-Type"].startswith(PROBLEM)
    body = resp.get_json(force=True)
    assert body["status"] == status
    return body["detail"]


def _station(registry_dir: Path, district: str, kind: str | None = None):
    return next(s for s in open_store(registry_dir).all() if s.district == district and kind in (None, s.kind))


# -- JSON nesting ----------------------------------------------------------------------------------------
def test_json_depth_counts_brackets_outside_strings():
    assert json_depth('1') == 0 and json_depth('[]') == 1 and json_depth('{"a": [1, {"b": 2}]}') == 3
    assert json_depth('["[[[[", "\\"[[", {"k}": "]]]"}]') == 2  # brackets in strings, escaped quotes
    assert json_depth('"unterminated [[[[') == 0
    assert json_depth("[" * 5000 + "]" * 5000) == 5000


def test_json_document_refuses_deep_nesting_before_parsing():
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_document(ok.encode()) == json.loads(ok)
    for deep in ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "[" * 100_000,
                 '{"a":' * 2000 + "1" + "}" * 2000):
        with pytest.raises(InvalidInput, match=f"levels deep; at most {MAX_JSON_DEPTH}"):
            json_document(deep.encode())
    with pytest.raises(InvalidInput, match="report is not JSON"):
        json_document(b"not json", "report")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        json_document(b'{"name": "\xff"}')


def test_deeply_nested_bodies_are_400_on_every_json_route(registry_dir):
    tokens = _people(registry_dir)
    smart = _station(registry_dir, PUNING, "smart")
    key = open_accounts(registry_dir).issue_device_key(smart)
    client = _app(registry_dir).test_client()
    deep_array = ("[" * 1000 + "]" * 1000).encode()
    deep_object = ('{"a":' * 1000 + "1" + "}" * 1000).encode()
    own = _station(registry_dir, PUNING)
    etag = client.get(f"/api/admin/stations/{own.id}", headers=_bearer(tokens["root"])).headers["ETag"]
    for body in (deep_array, deep_object):
        sent = (client.post("/api/auth/login", data=body, content_type="application/json"),
                client.post("/api/stations", data=body, content_type="application/json", headers=_bearer(tokens["root"])),
                client.patch(f"/api/stations/{own.id}", data=body, content_type="application/json",
                             headers={**_bearer(tokens["root"]), "If-Match": etag}))
        for resp in sent:
            assert "1000 levels deep; at most 32" in _problem(resp, 400)
    signed = client.post(f"/api/stations/{smart.id}/telemetry", data=deep_array,
                         headers={"X-Signature": sign(key, deep_array)})
    assert "report nests arrays and objects 1000 levels deep" in _problem(signed, 400)


# -- body size with chunked transfer encoding -----------------------------------------------------------------
def _chunked(url: str, method: str, path: str, body: bytes, headers: dict[str, str] | None = None):
    """Send `body` with Transfer-Encoding: chunked (no Content-Length), in 1000-byte chunks; (status, headers, body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest(method, path)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            conn.putheader(name, value)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for i in range(0, len(body), 1000):
            piece = body[i:i + 1000]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def _padded_login(size: int) -> bytes:
    """A login body of exactly `size` bytes (wrong password, padded with spaces)."""
    body = json.dumps({"name": "ed", "password": "wrong password"}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def test_oversized_chunked_body_is_413_on_every_write_route(registry_dir):
    limit = 4096
    tokens = _people(registry_dir)
    server = start({"data_dir": str(registry_dir), "max_request_bytes": limit, "rate_limit_login": "100000/minute"})
    try:
        sid = _station(registry_dir, PUNING).id
        writes = [(rule.rule.replace("<station_id>", sid), method) for rule in server.app.url_map.iter_rules()
                  for method in sorted(rule.methods - {"GET", "HEAD", "OPTIONS"})]
        assert len(writes) >= 7
        too_big = _padded_login(limit + 1)
        for path, method in writes:
            status, headers, body = _chunked(server.url, method, path, too_big, _bearer(tokens["root"]))
            assert status == 413, (method, path, body[:300])
            if path.startswith("/api"):
                assert headers["Content-Type"].startswith(PROBLEM) and "4,096 bytes" in json.loads(body)["detail"]
            else:  # a page's form (a worker's report without script): the same refusal, as a page
                assert headers["Content-Type"].startswith("text/html") and "4,096 bytes" in body.decode(), body[:300]
        # a chunked body within the limit is read in full, up to the limit itself
        for size in (200, limit):
            status, _, body = _chunked(server.url, "POST", "/api/auth/login", _padded_login(size))
            assert status == 401, body  # read and parsed: a wrong password, not a truncated body
        status, _, body = _chunked(server.url, "POST", "/api/auth/login",
                                   json.dumps({"name": "ed", "password": PASSWORD}).encode())
        assert status == 200 and json.loads(body)["user"]["name"] == "ed"
    finally:
        server.stop()


# -- Host header and public links --------------------------------------------------------------------------
def _links(resp) -> list[str]:
    return [link["href"] for link in resp.get_json()["links"]]


def test_unknown_host_is_refused_by_default(registry_dir):
    client = _app(registry_dir).test_client()
    for host in ("localhost", "127.0.0.1:5000", "[::1]:8080"):
        resp = client.get("/ogcapi/collections", headers={"Host": host})
        assert resp.status_code == 200 and all(h.startswith(f"http://{host}/") for h in _links(resp)), host
    for host in ("evil.example", "evil.example:80", "localhost.evil.example", "127.0.0.1.evil.example"):
        assert "unknown host" in _problem(client.get("/ogcapi/collections", headers={"Host": host}), 400)
    page = client.get("/map", headers={"Host": "evil.example"})
    assert page.status_code == 400 and page.mimetype == "text/html" and "unknown host" in page.get_data(as_text=True)


def test_allowed_hosts_and_public_url(registry_dir):
    listed = _app(registry_dir, allowed_hosts=("map.example.org",)).test_client()
    resp = listed.get("/ogcapi/collections/stations/items?limit=2", headers={"Host": "Map.Example.org:8443"})
    assert resp.status_code == 200 and _links(resp)[0].startswith("http://map.example.org:8443/ogcapi/")
    _problem(listed.get("/ogcapi", headers={"Host": "evil.example"}), 400)

    public = _app(registry_dir, public_url="https://map.example.org/jieyang/").test_client()
    for path in ("/ogcapi/", "/ogcapi/collections", "/ogcapi/collections/stations",
                 "/ogcapi/collections/stations/items?limit=2&offset=2"):
        resp = public.get(path, headers={"Host": "evil.example"})
        assert resp.status_code == 200, path
        assert b"evil" not in resp.data
        assert all(h.startswith("https://map.example.org/jieyang/") for h in _links(resp)), _links(resp)
    feature_id = public.get("/ogcapi/collections/stations/items?limit=1").get_json()["features"][0]["id"]
    item = public.get(f"/ogcapi/collections/stations/items/{feature_id}")
    assert _links(item)[0] == f"https://map.example.org/jieyang/ogcapi/collections/stations/items/{feature_id}"
    with pytest.raises(InvalidInput, match="public_url"):
        _app(registry_dir, public_url="map.example.org")


def test_query_parameters_in_paging_links_stay_parameters(registry_dir):
    client = _app(registry_dir).test_client()
    resp = client.get("/ogcapi/collections/stations/items?limit=2&collection_id=x&_anchor=y&_external=0")
    assert resp.status_code == 200
    nxt = next(link["href"] for link in resp.get_json()["links"] if link["rel"] == "next")
    assert "#" not in nxt and "_anchor=y" in nxt and "collection_id=x" in nxt and "offset=2" in nxt
    assert urlsplit(nxt).path == "/ogcapi/collections/stations/items"


# -- district-bounded reads ------------------------------------------------------------------------------------
def test_editor_reads_only_their_district(registry_dir):
    tokens = _people(registry_dir)
    client = _app(registry_dir).test_client()
    own, other = _station(registry_dir, PUNING, "smart"), _station(registry_dir, RONGCHENG, "smart")
    for path in ("/api/admin/stations/{}", "/api/stations/{}/telemetry"):
        detail = _problem(client.get(path.format(other.id), headers=_bearer(tokens["ed"])), 403)
        assert "ed may see 普宁市 (445281) only" in detail and "榕城区" in detail and other.id in detail
        assert client.get(path.format(own.id), headers=_bearer(tokens["ed"])).status_code == 200
        assert client.get(path.format(other.id), headers=_bearer(tokens["root"])).status_code == 200
        _problem(client.get(path.format("st-no-such"), headers=_bearer(tokens["ed"])), 404)


# -- sign-in throttling ----------------------------------------------------------------------------------------
def test_failed_sign_ins_lock_the_name_for_the_window(registry_dir):
    _people(registry_dir)
    acc = open_accounts(registry_dir)
    t0 = utc_now()
    for name in ("ed", "nobody"):  # an unknown name is throttled the same way
        for i in range(5):
            with pytest.raises(Unauthorized, match="wrong user name or password"):
                acc.login(name, "wrong password", max_failures=5, window_s=900, now=t0 + timedelta(seconds=i))
        with pytest.raises(TooManyAttempts) as refused:
            open_accounts(registry_dir).login(name, PASSWORD, max_failures=5, window_s=900,  # another worker
                                              now=t0 + timedelta(seconds=60))
        assert refused.value.retry_after == 900 - 60 and refused.value.status == 429
    assert acc.login("root", PASSWORD, max_failures=5, window_s=900, now=t0 + timedelta(seconds=61)).name == "root"
    later = t0 + timedelta(seconds=900.5)  # the first failure has left the window, the other four have not
    assert acc.login("ed", PASSWORD, max_failures=5, window_s=900, now=later).name == "ed"
    for i in range(4):  # success cleared the count: four more failures do not lock
        with pytest.raises(Unauthorized):
            acc.login("ed", "wrong password", max_failures=5, window_s=900, now=later + timedelta(seconds=i))
    assert acc.login("ed", PASSWORD, max_failures=5, window_s=900, now=later + timedelta(seconds=5)).name == "ed"


def test_unknown_name_costs_the_same_scrypt_work(registry_dir, monkeypatch):
    _people(registry_dir)
    acc = open_accounts(registry_dir)
    calls: list[tuple] = []
    real = hashlib.scrypt

    def counting(password, **kw):
        calls.append((kw["n"], kw["r"], kw["p"], kw["dklen"]))
        return real(password, **kw)

    monkeypatch.setattr(accounts_mod.hashlib, "scrypt", counting)
    work = {}
    for name in ("ed", "nobody-here"):
        calls.clear()
        with pytest.raises(Unauthorized):
            acc.login(name, "wrong password", max_failures=0)
        work[name] = list(calls)
    assert work["ed"] == work["nobody-here"] == [(2 ** load_settings()["password_work"], 8, 1, 32)]


def test_login_throttle_answers_429_whatever_the_address(registry_dir):
    _people(registry_dir)
    client = _app(registry_dir, proxy_count=1, login_max_failures=3, login_failure_window_s=600).test_client()

    def attempt(i: int, password: str):
        return client.post("/api/auth/login", json={"name": "ed", "password": password},
                           headers={"X-Forwarded-For": f"203.0.113.{i}"})

    assert [attempt(i, "wrong password").status_code for i in range(3)] == [401, 401, 401]
    locked = attempt(10, PASSWORD)
    assert "locked" in _problem(locked, 429)
    assert 590 <= int(locked.headers["Retry-After"]) <= 600
    assert client.post("/api/auth/login", json={"name": "root", "password": PASSWORD}).status_code == 200


# -- transport and isolation headers ------------------------------------------------------------------------
def test_hsts_permissions_coop_and_corp(registry_dir):
    client = _app(registry_dir).test_client()
    page = client.get("/map")
    assert page.headers["Permissions-Policy"] == "geolocation=(self), camera=(), microphone=(), payment=(), usb=()"
    assert page.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert page.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in page.headers  # plain HTTP
    embed = client.get("/embed")
    assert embed.status_code == 200 and "Cross-Origin-Opener-Policy" not in embed.headers
    assert embed.headers["Cross-Origin-Resource-Policy"] == "cross-origin" and "Permissions-Policy" in embed.headers
    api = client.get("/api/stations")
    assert api.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "Permissions-Policy" not in api.headers and "Cross-Origin-Opener-Policy" not in api.headers
    secure = client.get("/api/live", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"

    proxied = _app(registry_dir, proxy_count=1, hsts_max_age=600).test_client()
    assert proxied.get("/map", headers={"X-Forwarded-Proto": "https"}).headers["Strict-Transport-Security"] == "max-age=600"
    assert "Strict-Transport-Security" not in proxied.get("/map").headers
    off = _app(registry_dir, hsts_max_age=0).test_client()
    assert "Strict-Transport-Security" not in off.get("/map", base_url="https://localhost").headers


def test_union_site_frames_embed_and_calls_the_api(chromium, live_server):
    """On a page of a configured origin, /embed draws in an iframe and a CORS fetch of the API succeeds
    (COOP and CORP leave both alone). Chromium's local-network checks are off, as for the framing test."""
    browser = chromium.browser_type.launch(executable_path=CHROMIUM,
                                           args=CHROMIUM_ARGS + ["--disable-features=LocalNetworkAccessChecks"])
    try:
        ctx = browser.new_context()
        ctx.route("https://union.example/**", lambda r: r.fulfill(content_type="text/html", body=(
            f'<iframe id="f" src="{live_server.url}/embed?kind=smart" width="390" height="600"></iframe>'
            f'<script>fetch("{live_server.url}/api/stations?kind=smart").then(r => r.json())'
            '.then(d => { document.title = "stations " + d.features.length; })'
            '.catch(e => { document.title = "failed " + e; });</script>')))
        ctx.route(lambda url: "tile" in url or "autonavi" in url, lambda r: r.abort())
        page = ctx.new_page()
        smart = requests.get(f"{live_server.url}/api/stations?kind=smart", timeout=30).json()["numberReturned"]
        page.goto("https://union.example/")
        frame = next(f for f in page.frames if f.url.startswith(live_server.url))
        frame.wait_for_selector("body.sm-ready", timeout=15_000)
        deadline = time.monotonic() + 15
        while not page.title() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert page.title() == f"stations {smart}"
    finally:
        browser.close()
