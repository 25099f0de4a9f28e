"""What a phone downloads from the running service, and how often: compression, ETags and 304s,
fingerprinted static URLs with year-long caching, and the compressed weight of the workers' map."""
from __future__ import annotations

import gzip
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import brotli
import pytest
import requests

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
BUDGET = 150 * 1024  # bytes on the wire: /map and its scripts and styles, before tiles
BROWSER = "gzip, deflate, br, zstd"  # what Chromium asks for
FINGERPRINTED = re.compile(r"^/static/v/([0-9a-f]{12})/(.+)$")
IMMUTABLE = "public, max-age=31536000, immutable"
DECODE = {"gzip": gzip.decompress, "br": brotli.decompress}


class _Refs(HTMLParser):
    """The scripts and stylesheets a page makes the browser fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"] or "")
        elif tag == "link" and "stylesheet" in (a.get("rel") or "").split() and a.get("href"):
            self.urls.append(a["href"] or "")


def referenced(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    return parser.urls


def fetch(server, path: str, encoding: str, **headers: str) -> tuple[requests.Response, bytes]:
    """The response and its body exactly as sent (not decoded)."""
    r = requests.get(server.url + path, headers={"Accept-Encoding": encoding, **headers}, stream=True, timeout=60)
    return r, r.raw.read(decode_content=False)


def decoded(r: requests.Response, body: bytes) -> bytes:
    coding = r.headers.get("Content-Encoding")
    return DECODE[coding](body) if coding else body


def map_assets(server) -> list[str]:
    r, body = fetch(server, "/map", "identity")
    refs = referenced(body.decode())
    assert any(u.endswith(".js") for u in refs) and any(u.endswith(".css") for u in refs), refs
    return refs


def test_map_with_its_scripts_and_styles_fits_the_budget(live_server):
    r, page = fetch(live_server, "/map", "gzip")
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
    sizes = {"/map": len(page)}
    for url in referenced(gzip.decompress(page).decode()):
        r, body = fetch(live_server, url, "gzip")
        assert r.status_code == 200, url
        sizes[url] = len(body)
    total = sum(sizes.values())
    print(f"/map before tiles, gzip: {total:,} bytes in {len(sizes)} responses: {sizes}")
    assert total <= BUDGET, sizes


@pytest.mark.parametrize("path", ["/map", "/embed", "/api/stations", "/ogcapi/collections/stations/items?limit=50",
                                  "asset"])
def test_responses_are_compressed_as_asked(live_server, path):
    if path == "asset":
        path = next(u for u in map_assets(live_server) if u.endswith("leaflet.js"))
    plain, plain_body = fetch(live_server, path, "identity")
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    for asked, coding in (("gzip", "gzip"), ("br", "br"), (BROWSER, "br"), ("br;q=0.5, gzip", "gzip")):
        r, body = fetch(live_server, path, asked)
        assert r.headers.get("Content-Encoding") == coding, (path, asked)
        assert "accept-encoding" in r.headers["Vary"].lower()
        assert len(body) < len(plain_body) / 2 and int(r.headers["Content-Length"]) == len(body)
        text = decoded(r, body)
        if path.startswith("/static/"):
            assert text == plain_body
        elif "json" in r.headers["Content-Type"]:
            assert len(text) == len(plain_body) and text.startswith(b"{")
        else:  # a page: the same but for its nonce
            assert len(text) == len(plain_body) and text.startswith(b"<!DOCTYPE html>")
    assert "accept-encoding" in plain.headers["Vary"].lower()


def test_small_answers_are_not_compressed(live_server):
    r, body = fetch(live_server, "/healthz", BROWSER)
    assert r.status_code == 200 and len(body) < 500 and "Content-Encoding" not in r.headers


def test_map_assets_have_fingerprinted_urls_cached_for_a_year(live_server):
    for url in map_assets(live_server):
        m = FINGERPRINTED.match(url)
        assert m, url
        r, body = fetch(live_server, url, BROWSER)
        assert r.status_code == 200 and r.headers["Cache-Control"] == IMMUTABLE, url
        assert decoded(r, body) == (STATIC / m.group(2)).read_bytes(), url
        assert r.headers["ETag"]


def test_one_file_url_carries_that_file_hash(live_server):
    from flask import url_for

    with live_server.app.test_request_context():
        url = url_for("static", filename="admin.js")
        assert url_for("static", filename="no-such-file.js") == "/static/no-such-file.js"
    on_disk = (STATIC / "admin.js").read_bytes()
    assert url == f"/static/v/{hashlib.sha256(on_disk).hexdigest()[:12]}/admin.js"
    r, body = fetch(live_server, url, "gzip")
    assert r.headers["Cache-Control"] == IMMUTABLE and gzip.decompress(body) == on_disk
    # the admin page links it by that URL
    assert url in requests.get(live_server.url + "/admin", timeout=30).text
    # an old or made-up fingerprint (a page from before a deploy) gets today's file, not to be kept
    stale, body = fetch(live_server, "/static/v/000000000000/admin.js", "identity")
    assert stale.status_code == 200 and body == on_disk and stale.headers["Cache-Control"] == "no-cache"
    plain, body = fetch(live_server, "/static/admin.js", "identity")
    assert plain.status_code == 200 and body == on_disk and plain.headers["Cache-Control"] == "no-cache"
    assert fetch(live_server, "/static/v/000000000000/../../web/assets.py", "identity")[0].status_code == 404


@pytest.mark.parametrize("which", ["fingerprinted", "plain"])
def test_static_files_answer_if_none_match_with_304(live_server, which):
    url = next(u for u in map_assets(live_server) if u.endswith("stationmap.js"))
    if which == "plain":
        url = "/static/" + FINGERPRINTED.match(url).group(2)
    for asked in ("identity", "gzip", BROWSER):
        r, _ = fetch(live_server, url, asked)
        tag = r.headers["ETag"]
        again, body = fetch(live_server, url, asked, **{"If-None-Match": tag})
        assert again.status_code == 304 and body == b"" and again.headers["ETag"] == tag
        assert again.headers["Cache-Control"] == r.headers["Cache-Control"]
    # a copy kept in another coding is not this one
    gz_tag = fetch(live_server, url, "gzip")[0].headers["ETag"]
    assert fetch(live_server, url, "br", **{"If-None-Match": gz_tag})[0].status_code == 200


def _nonce(r: requests.Response) -> str:
    return re.search(r"'nonce-([^']+)'", r.headers["Content-Security-Policy"]).group(1)


@pytest.mark.parametrize("path", ["/map", "/embed?district=普宁市&kind=smart"])
def test_pages_answer_if_none_match_with_304_and_no_policy(live_server, path):
    for asked in ("identity", BROWSER):
        first, body = fetch(live_server, path, asked)
        second, _ = fetch(live_server, path, asked)
        assert first.status_code == 200 and "no-cache" in first.headers["Cache-Control"]
        assert "private" in first.headers["Cache-Control"]  # no shared cache hands one nonce to many
        assert _nonce(first) != _nonce(second) and _nonce(first) in decoded(first, body).decode()
        assert first.headers["ETag"] == second.headers["ETag"]  # the same page, whatever its nonce
        again, body = fetch(live_server, path, asked, **{"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and body == b"" and again.headers["ETag"] == first.headers["ETag"]
        # the kept page keeps the policy it came with: a new nonce would block its script
        assert "Content-Security-Policy" not in again.headers
        assert fetch(live_server, path, asked, **{"If-None-Match": '"other"'})[0].status_code == 200
    tags = {fetch(live_server, p, "identity")[0].headers["ETag"] for p in ("/map", "/embed")}
    assert len(tags) == 2


def test_reload_revalidates_and_the_kept_page_still_runs(chromium, live_server):
    """In Chromium: a reload gets 304 (the page keeps the nonce it came with) and its script runs again."""
    # No request interception (it turns the browser's cache off): anything not on the loopback goes to a
    # closed local port instead.
    ctx = chromium.new_context(proxy={"server": "http://127.0.0.1:9", "bypass": "127.0.0.1"},
                               viewport={"width": 390, "height": 844})
    try:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        nonce = "document.querySelector('script[nonce]').nonce"
        page.goto(live_server.url + "/map")
        page.wait_for_selector(".leaflet-marker-icon")
        first = page.evaluate(nonce)
        page.reload()
        page.wait_for_selector(".leaflet-marker-icon")
        assert first and page.evaluate(nonce) == first  # the stored page, revalidated, not a new render
        assert page.locator(".leaflet-marker-icon").count() > 0 and not errors
    finally:
        ctx.close()


# -- an app of our own, with its own static folder and an editor's account ------------------------
def test_a_changed_file_gets_a_new_url(tmp_path):
    from flask import Flask

    from web import assets

    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "lib.js").write_text("var lib = 1;\n" * 100)
    (tmp_path / "app.css").write_text("body { color: black }\n" * 40)
    app = Flask("weight-test", static_folder=str(tmp_path))
    assets.init_app(app)
    client = app.test_client()

    def urls() -> tuple[str, str]:
        with app.test_request_context():
            return assets.asset_url("vendor/lib.js"), assets.asset_base()

    lib, base = urls()
    assert client.get(base + "app.css").headers["Cache-Control"] == IMMUTABLE
    (tmp_path / "vendor" / "lib.js").write_text("var lib = 2;\n" * 101)
    new_lib, new_base = urls()
    assert new_lib != lib and new_base != base
    assert client.get(new_lib).headers["Cache-Control"] == IMMUTABLE
    assert client.get(new_lib).data == (tmp_path / "vendor" / "lib.js").read_bytes()
    assert client.get(lib).headers["Cache-Control"] == "no-cache"  # the old URL is not kept any more
    assert client.get(base + "app.css").headers["Cache-Control"] == "no-cache"


def test_an_edit_names_the_version_read_compressed(registry_dir):
    """The ETag of a compressed read ("...:gzip") is accepted as If-Match; the map page's ETag follows the edit."""
    from webserver import start

    from stationmap.ops.accounts import open_accounts

    acc = open_accounts(registry_dir)
    acc.add_user("root", "admin", None, password="a long test password")
    token = acc.issue_token("root")[0]
    server = start({"data_dir": str(registry_dir)})
    try:
        auth = {"Authorization": f"Bearer {token}"}
        page_tag = fetch(server, "/map", BROWSER)[0].headers["ETag"]
        sid = requests.get(server.url + "/api/stations", timeout=30).json()["features"][0]["properties"]["id"]
        r, _ = fetch(server, f"/api/admin/stations/{sid}", "gzip", **auth)
        assert r.headers["Content-Encoding"] == "gzip" and r.headers["ETag"].endswith(':gzip"')
        edit = requests.patch(server.url + f"/api/stations/{sid}", json={"phone": "13800000001"}, timeout=30,
                              headers={**auth, "If-Match": r.headers["ETag"]})
        assert edit.status_code == 200, edit.text
        stale = requests.patch(server.url + f"/api/stations/{sid}", json={"phone": "13800000002"}, timeout=30,
                               headers={**auth, "If-Match": r.headers["ETag"]})
        assert stale.status_code == 409, stale.text
        assert fetch(server, "/map", BROWSER, **{"If-None-Match": page_tag})[0].status_code == 200
    finally:
        server.stop()
