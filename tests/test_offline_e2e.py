"""The map installed on a phone and used in a basement: a persistent Chromium profile (not incognito, so
that Chromium's own installability check runs whole), every request that leaves 127.0.0.1 aborted (tiles).

Installable: the manifest is fetched and valid, with 192 and 512 px PNG icons of those sizes, Chromium
reports no installability error, and after a reload the offline worker (Workbox, loaded from our own
vendor folder) controls the page. Offline: the reloaded page comes from the worker, says that it is
offline and how old its data are, lists the nearest stations from a searched place (checked against a
geodesic brute force) and its Amap link is a uri.amap.com navigation link to the station's GCJ-02 point
(checked with coordTransform). A new registry version replaces the kept pages. The embed is left alone.
"""
from __future__ import annotations

import json
import struct
import time
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import coordTransform
import pytest
from geographiclib.geodesic import Geodesic
from playwright.sync_api import Error as PlaywrightError
from webserver import CHROMIUM, CHROMIUM_ARGS, PHONE, start

from stationmap.geo import geography
from stationmap.model import with_changes

PAGES, STATIC = "sm-pages-v1", "sm-static-v1"
KEPT = "name => caches.open(name).then(c => c.keys()).then(ks => ks.map(k => k.url))"
HAS = "([name, url]) => caches.open(name).then(c => c.match(url)).then(r => !!r)"


@pytest.fixture
def server(registry_dir):
    """The app on its own registry copy: this test writes to it."""
    srv = start({"data_dir": str(registry_dir), "rate_limit_public": "100000/minute"})
    yield srv
    srv.stop()


@pytest.fixture
def phone(chromium, tmp_path):
    """A phone's own browser profile, where an installed worker stays; only loopback is reachable."""
    ctx = chromium.browser_type.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, viewport=PHONE,
        device_scale_factor=1, locale="zh-CN", timezone_id="Asia/Shanghai")
    ctx.external = []

    def route(r):
        if r.request.url.startswith(("http://127.0.0.1", "data:", "about:")):
            r.continue_()
        else:
            ctx.external.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    yield ctx
    ctx.close()


def until(page, script: str, arg=None, wait_s: float = 15.0) -> None:
    """Wait until `script` (which may answer with a promise, as the Cache API does) is true in the page."""
    deadline = time.monotonic() + wait_s
    while not page.evaluate(script, arg):
        assert time.monotonic() < deadline, f"not true within {wait_s} s: {script} {arg}"
        page.wait_for_timeout(100)


def png_size(body: bytes) -> tuple[int, int]:
    assert body[:8] == b"\x89PNG\r\n\x1a\n" and body[12:16] == b"IHDR"
    return struct.unpack(">II", body[16:24])


def test_installed_map_opens_offline_and_leaves_the_embed_alone(server, phone):
    page = phone.pages[0] if phone.pages else phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    base = server.url
    store = server.app.extensions["stationmap"].store

    # -- installable -------------------------------------------------------------------------------
    page.goto(base + "/map")
    page.wait_for_selector("body.sm-ready")
    assert page.evaluate("() => navigator.serviceWorker.ready.then(r => r.active.scriptURL)") == base + "/sw.js"
    # the first visit loaded before the worker ran: it is asked to keep this page all the same
    until(page, HAS, [PAGES, base + "/map"])
    page.reload()
    page.wait_for_selector("body.sm-ready")
    assert page.evaluate("() => navigator.serviceWorker.controller && navigator.serviceWorker.controller.scriptURL") \
        == base + "/sw.js"
    assert page.get_attribute("meta[name=theme-color]", "content") == "#c8102e"

    cdp = phone.new_cdp_session(page)
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    got = cdp.send("Page.getAppManifest")
    assert got["errors"] == [] and got["url"] == base + page.get_attribute("link[rel=manifest]", "href")
    manifest = json.loads(got["data"])
    assert manifest["name"] == "揭阳工会驿站" and manifest["short_name"] and manifest["lang"] == "zh-CN"
    assert (manifest["start_url"], manifest["display"], manifest["theme_color"]) == ("/map", "standalone", "#c8102e")
    sizes = set()
    for icon in manifest["icons"]:
        resp = page.request.get(urlsplit(got["url"])._replace(path=urlsplit(got["url"]).path.rsplit("/", 1)[0]
                                                              + "/" + icon["src"]).geturl())
        assert resp.ok and resp.headers["content-type"].split(";")[0] == icon["type"], icon
        if icon["type"] == "image/png":
            w, h = png_size(resp.body())
            assert icon["sizes"] == f"{w}x{h}"
            sizes.add((w, icon["purpose"]))
    assert {(192, "any"), (512, "any"), (512, "maskable")} <= sizes

    # Workbox comes from our own vendor folder, never its CDN
    worker = page.request.get(base + "/sw.js").text()
    config = json.loads(worker.split("\n", 1)[0].removeprefix("var SM = ").rstrip(";"))
    assert config["workbox"].startswith("/static/v/") and "googleapis" not in worker
    for name in ("workbox-sw.js", "workbox-core.prod.js", "workbox-routing.prod.js", "workbox-strategies.prod.js",
                 "workbox-expiration.prod.js", "workbox-cacheable-response.prod.js"):
        assert page.request.get(f"{base}{config['workbox']}/{name}").ok, name
    # the shell is kept: the page, the vendored libraries, our script and style
    until(page, "([name, parts]) => caches.open(name).then(c => c.keys()).then(ks => "
                "parts.every(p => ks.some(k => k.url.endsWith(p))))",
          [STATIC, ["vendor/leaflet/leaflet.js", "vendor/leaflet.markercluster/leaflet.markercluster.js",
                    "vendor/gcoord/gcoord.global.prod.js", "stationmap.js", "stationmap.css", "sw-register.js"]])

    # -- offline, three hours later ------------------------------------------------------------------
    page.clock.set_fixed_time(datetime.now() + timedelta(hours=3, minutes=5))
    phone.set_offline(True)
    resp = page.reload()
    assert resp is not None and resp.ok and resp.from_service_worker
    page.wait_for_selector("body.sm-ready")
    note = page.wait_for_selector("#sm-offline:not([hidden])").inner_text()
    assert "离线" in note and "3 小时前" in note, note
    assert page.locator(".sm-marker, .leaflet-marker-icon").count() > 0  # the last-known stations are drawn

    page.type("#sm-q", "棉湖")
    page.wait_for_selector(".sm-hit")
    assert "棉湖镇" in page.locator(".sm-hit").first.inner_text()
    page.locator(".sm-hit").first.click()
    page.wait_for_selector(".sm-item")
    seat = geography.townships().set_index("name").loc["棉湖镇"].geometry
    origin = page.evaluate("StationMap.state.user")
    assert origin == pytest.approx([seat.y, seat.x], abs=1e-4)
    ids = page.eval_on_selector_all(".sm-item", "els => els.map(e => e.dataset.id)")
    stations = {s.id: s for s in store.all()}
    by_distance = sorted(stations, key=lambda i: Geodesic.WGS84.Inverse(
        origin[0], origin[1], stations[i].lat, stations[i].lon)["s12"])
    assert ids == by_distance[:5]

    first = stations[ids[0]]
    href = page.locator(".sm-item").first.locator(".sm-nav-amap").get_attribute("href")
    url = urlsplit(href)
    assert (url.scheme, url.netloc, url.path) == ("https", "uri.amap.com", "/navigation")
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    to_lon, to_lat, to_name = q["to"].split(",", 2)
    assert (float(to_lat), float(to_lon)) == pytest.approx(coordTransform.wgs84_to_gcj02(first.lon, first.lat)[::-1],
                                                           abs=1e-5)
    from_lon, from_lat = (float(x) for x in q["from"].split(",")[:2])
    assert (from_lat, from_lon) == pytest.approx(coordTransform.wgs84_to_gcj02(origin[1], origin[0])[::-1], abs=1e-5)
    assert to_name == first.name and q["mode"] == "ride" and q["coordinate"] == "gaode" and q["callnative"] == "1"
    page.screenshot(path="tests/screenshots/offline-nearest.png")

    # -- a new registry version replaces the kept pages --------------------------------------------------
    phone.set_offline(False)
    page.clock.set_fixed_time(datetime.now())
    page.goto(base + "/map?lang=en")
    until(page, HAS, [PAGES, base + "/map?lang=en"])
    renamed = "改名的驿站（示例）"
    store.update(lambda ss: [with_changes(s, name=renamed) if s.id == first.id else s for s in ss])
    page.goto(base + "/map")
    page.wait_for_selector("body.sm-ready")
    until(page, f"a => ({HAS})(a).then(kept => !kept)", [PAGES, base + "/map?lang=en"])
    phone.set_offline(True)
    resp = page.goto(base + "/map?lang=en")  # dropped: the kept map of the new version stands in
    assert resp is not None and resp.from_service_worker
    page.wait_for_selector("body.sm-ready")
    assert page.evaluate("id => StationMap.state.byId[id].n", first.id) == renamed

    # -- the embed is left alone: nothing of it is answered or kept by the worker ---------------------------
    phone.set_offline(False)
    responses = []
    page.on("response", lambda r: responses.append(r))
    resp = page.goto(base + "/embed?district=445281")
    page.wait_for_selector("body.sm-ready")
    assert responses and not any(r.from_service_worker for r in responses), \
        [r.url for r in responses if r.from_service_worker]
    assert not any("/embed" in u for u in page.evaluate(KEPT, PAGES))
    phone.set_offline(True)
    with pytest.raises(PlaywrightError):
        page.goto(base + "/embed?district=445281")
    phone.set_offline(False)

    assert not errors, errors
    assert all(urlsplit(u).hostname.endswith("autonavi.com") for u in phone.external)  # only tiles left loopback
