"""The pages in real headless Chromium (Debian's, driven by Playwright) against the running app.

Every request that leaves 127.0.0.1 is recorded and aborted: only the configured tile hosts may be
asked for anything, and the pages must work with the tiles unreachable. Screenshots at phone size
go to tests/screenshots/ (git-ignored) for review.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from stationmap import mapview
from webserver import PHONE

SHOTS = Path(__file__).parent / "screenshots"
HERE = (23.548, 116.372)  # a rider in 榕城区 at noon
PAGE_BUDGET = 500_000  # bytes before map tiles


@pytest.fixture
def page_factory(chromium, live_server):
    """New phone-sized pages that record every request and abort those leaving the service."""
    SHOTS.mkdir(exist_ok=True)
    contexts = []

    def make(**ctx_args):
        ctx = chromium.new_context(viewport=PHONE, device_scale_factor=1, locale="zh-CN",
                                   timezone_id="Asia/Shanghai", **ctx_args)
        contexts.append(ctx)
        page = ctx.new_page()
        page.external, page.local, page.errors = [], [], []

        def route(r):
            host = urlsplit(r.request.url).hostname
            if host == "127.0.0.1" or r.request.url.startswith(("data:", "about:")):
                page.local.append(r.request.url)
                r.continue_()
            else:
                page.external.append(r.request.url)
                r.abort()

        ctx.route("**/*", route)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        return page

    yield make
    for ctx in contexts:
        ctx.close()


def external_hosts(page) -> set[str]:
    return {urlsplit(u).hostname for u in page.external}


def tile_hosts(live_server) -> set[str]:
    return mapview.tile_hosts(live_server.app.config["STATIONMAP"])


def test_map_finds_nearest_open_station_with_microwave(page_factory, live_server):
    page = page_factory(geolocation={"latitude": HERE[0], "longitude": HERE[1]}, permissions=["geolocation"])
    page.goto(live_server.url + "/map")
    page.wait_for_selector("body.sm-ready")
    assert "示例数据" in page.inner_text("#sm-sample")
    assert page.evaluate("StationMap.state.cluster.getLayers().length") == 135
    assert page.locator(".marker-cluster").count() > 0  # clustering at city scale
    page.screenshot(path=str(SHOTS / "map-start.png"))

    page.click(".sm-chip[data-amenity=microwave]")
    with page.expect_response(lambda r: "/api/nearest" in r.url) as nearest_resp:
        page.click("#sm-locate")
    assert nearest_resp.value.ok
    page.wait_for_selector(".sm-item")
    ids = page.eval_on_selector_all(".sm-item", "els => els.map(e => e.dataset.id)")
    api = requests.get(live_server.url + "/api/nearest", params={"lat": HERE[0], "lon": HERE[1], "k": 5,
                                                                  "amenity": "microwave"}, timeout=30).json()
    assert ids == [r["id"] for r in api["results"]]
    first = page.locator(".sm-item").first
    text = first.inner_text()
    assert "步行" in text and "分钟" in text and ("米" in text or "公里" in text)
    amap = first.locator(".sm-nav-amap").get_attribute("href")
    assert amap == api["results"][0]["nav"]["amap"]  # the page fills the same link template as the API
    assert first.locator(".sm-nav-baidu").get_attribute("href") == api["results"][0]["nav"]["baidu"]
    # the nearest stations are now on screen as markers of their own
    page.wait_for_timeout(500)
    assert page.locator(f'.sm-pin[data-id="{ids[0]}"]').count() == 1
    page.screenshot(path=str(SHOTS / "map-nearest.png"))

    first.locator(".sm-item-main").click()
    popup = page.wait_for_selector(".sm-popup")
    body = popup.inner_text()
    assert "开放时间" in body and "服务设施" in body and "微波炉" in body and "高德导航" in body
    page.wait_for_timeout(400)  # popup fade-in and auto-pan
    page.screenshot(path=str(SHOTS / "map-popup.png"))

    page.click("#sm-lang")
    assert page.inner_text("h2") == "Nearest stations"
    assert "walk" in page.locator(".sm-item").first.inner_text()
    assert page.evaluate("document.documentElement.lang") == "en"
    page.screenshot(path=str(SHOTS / "map-english.png"))

    assert not page.errors
    assert external_hosts(page) <= tile_hosts(live_server)
    assert any("tile.openstreetmap.org" in u for u in page.external)  # tiles were asked for, and blocked


def test_open_now_filter_matches_the_api(page_factory, live_server):
    page = page_factory()
    page.goto(live_server.url + "/map")
    page.wait_for_selector("body.sm-ready")
    page.click("#sm-open")
    shown = page.evaluate("StationMap.state.cluster.getLayers().length")
    api = requests.get(live_server.url + "/api/stations", params={"open_now": "true"}, timeout=30).json()
    assert shown == len(api["features"])


def test_map_page_weight_before_tiles(page_factory, live_server):
    page = page_factory()
    page.goto(live_server.url + "/map")
    page.wait_for_selector("body.sm-ready")
    total = sum(len(requests.get(u, timeout=30).content) for u in set(page.local))
    print(f"/map weight before tiles: {total:,} bytes in {len(set(page.local))} requests")
    assert total < PAGE_BUDGET
    assert all(urlsplit(u).hostname in tile_hosts(live_server) for u in page.external)


def test_embed_amap_puning_smart_shifted(page_factory, live_server):
    page = page_factory()
    resp = page.goto(live_server.url + "/embed?district=普宁市&kind=smart&basemap=amap")
    csp = resp.headers["content-security-policy"]
    assert "frame-ancestors 'self' https://union.example" in csp
    page.wait_for_selector("body.sm-ready")
    assert page.locator(".sm-bar").count() == 0 and page.locator("#sm-sheet").count() == 0  # no page chrome
    assert "示例数据" in page.inner_text("#sm-sample")
    api = requests.get(live_server.url + "/api/stations", params={"district": "445281", "kind": "smart"}, timeout=30).json()
    assert page.evaluate("StationMap.state.cluster.getLayers().length") == len(api["features"]) > 0
    for f in api["features"]:  # drawn at the GCJ-02 position on the Amap basemap
        lat, lon = page.evaluate(f"(m => [m.getLatLng().lat, m.getLatLng().lng])(StationMap.state.markers['{f['id']}'])")
        assert (lon, lat) == pytest.approx(tuple(f["properties"]["coords"]["gcj02"]), abs=2e-6)
    page.screenshot(path=str(SHOTS / "embed-puning-smart-amap.png"))
    assert external_hosts(page) and external_hosts(page) <= {h for h in tile_hosts(live_server) if "autonavi" in h}
    assert not page.errors


def test_embed_framing_only_from_configured_origin(chromium, live_server):
    """A union page may frame /embed; another site may not (CSP frame-ancestors, enforced by the browser).
    The parent pages are served by Playwright at their https origins; Chromium's local-network checks
    (a public page framing 127.0.0.1) are switched off for this one browser, or every frame would fail."""
    from webserver import CHROMIUM, CHROMIUM_ARGS

    browser = chromium.browser_type.launch(executable_path=CHROMIUM,
                                           args=CHROMIUM_ARGS + ["--disable-features=LocalNetworkAccessChecks"])
    try:
        ctx = browser.new_context()
        ctx.route("https://*.example/**", lambda r: r.fulfill(content_type="text/html", body=(
            f'<iframe id="f" src="{live_server.url}/embed?kind=smart" width="390" height="600"></iframe>')))
        ctx.route(lambda url: "tile" in url or "autonavi" in url, lambda r: r.abort())
        page = ctx.new_page()
        for origin, allowed in (("https://union.example", True), ("https://evil.example", False)):
            page.goto(origin + "/")
            page.wait_for_timeout(1500)
            frames = [f for f in page.frames if f.url.startswith(live_server.url)]
            ready = bool(frames) and frames[0].evaluate("document.body.classList.contains('sm-ready')")
            assert ready is allowed, origin
    finally:
        browser.close()


def test_map_is_not_frameable_elsewhere(live_server):
    resp = requests.get(live_server.url + "/map", timeout=30)
    assert "frame-ancestors 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_planner(page_factory, live_server):
    n = 3 if importlib.util.find_spec("stationmap.siting") else 0
    page = page_factory()
    page.goto(live_server.url + f"/planner?minutes=15&mode=ebike&min_stations=1&n={n}")
    page.wait_for_selector("#sm-districts")
    assert page.locator("#sm-districts tbody tr").count() == 5
    assert page.locator("#sm-townships tbody tr").count() == 87
    assert "模型估算" in page.inner_text("#sm-modelled")
    assert page.locator("#sm-gaps tbody tr").count() > 0
    if n:
        assert page.locator("#sm-sites tbody tr").count() == n
    page.screenshot(path=str(SHOTS / "planner.png"), full_page=True)
    for link in page.eval_on_selector_all(".sm-downloads a", "els => els.map(e => e.href)"):
        resp = requests.get(link, timeout=120)
        assert resp.status_code == 200 and resp.headers["Content-Disposition"].startswith("attachment"), link
    page.select_option("select[name=min_stations]", "2")
    page.fill("input[name=n]", "0")
    page.click("#sm-plan-form button[type=submit]")
    page.wait_for_selector("#sm-districts")
    assert "min_stations=2" in page.url
    assert not page.errors
    assert external_hosts(page) <= tile_hosts(live_server)
