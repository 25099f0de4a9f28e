"""The pages in real headless Chromium (Debian's, driven by Playwright) against the running app.

Every request that leaves 127.0.0.1 is recorded and aborted: only the configured tile hosts may be
asked for anything, and the pages must work with the tiles unreachable. Screenshots at phone size
go to tests/screenshots/ (git-ignored) for review.
"""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from test_worker_field_e2e import assert_icons_apart
from webserver import PHONE, answered, loopback_page

from stationmap.geo import datums
from stationmap.maps import mapview

SHOTS = Path(__file__).parent / "screenshots"
HERE = (23.548, 116.372)  # a rider in 榕城区 at noon
PAGE_BUDGET = 150_000  # bytes before map tiles, compressed (gzip)


@pytest.fixture
def page_factory(chromium, live_server):
    """New phone-sized pages that record every request and abort those leaving the service."""
    SHOTS.mkdir(exist_ok=True)
    contexts = []

    def make(**ctx_args):
        ctx, page = loopback_page(chromium, **ctx_args)
        contexts.append(ctx)
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
    page.click("#sm-modes button[data-mode=walk]")
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
    # the page fills the API's link templates: the same destination and mode, from where the worker is
    for app, key in (("amap", "to"), ("baidu", "destination")):
        href = first.locator(f".sm-nav-{app}").get_attribute("href")
        mine, theirs = (parse_qs(urlsplit(u).query) for u in (href, api["results"][0]["nav"][app]))
        assert mine[key] == theirs[key] and mine["mode"] == theirs["mode"], app
        assert ("from" if app == "amap" else "origin") in mine
    # the nearest stations are now on screen as markers of their own (the map zooms in, the cluster opens)
    page.wait_for_selector(f'.sm-pin[data-id="{ids[0]}"]', timeout=10_000)
    assert page.locator(f'.sm-pin[data-id="{ids[0]}"]').count() == 1
    page.screenshot(path=str(SHOTS / "map-nearest.png"))

    first.locator(".sm-item-main").click()
    popup = page.wait_for_selector(".sm-popup")
    body = popup.inner_text()
    assert "开放时间" in body and "服务设施" in body and "微波炉" in body and "高德导航" in body
    # on a phone the popup's Amap button is on screen, not under the zoom buttons or the legend, and it
    # navigates to the station's GCJ-02 position (WGS-84 would land ~550 m off)
    assert _tappable(page, ".sm-popup .sm-nav-amap")
    page.wait_for_timeout(400)  # let the auto-pan settle, for the screenshot only
    page.screenshot(path=str(SHOTS / "map-popup.png"))
    button = page.locator(".sm-popup .sm-nav-amap")
    station = requests.get(f"{live_server.url}/api/stations/{ids[0]}", timeout=30).json()
    lon, lat = station["geometry"]["coordinates"]
    to_lon, to_lat = (float(x) for x in parse_qs(urlsplit(button.get_attribute("href")).query)["to"][0].split(",")[:2])
    assert (to_lat, to_lon) == pytest.approx(datums.from_wgs84(lat, lon, "gcj02"), abs=2e-6)

    page.click("#sm-lang")
    assert page.inner_text("h2") == "Nearest stations"
    assert "walk" in page.locator(".sm-item").first.inner_text()
    assert page.evaluate("document.documentElement.lang") == "en"
    page.screenshot(path=str(SHOTS / "map-english.png"))

    assert not page.errors
    assert external_hosts(page) <= tile_hosts(live_server)
    assert any("autonavi.com" in u for u in page.external)  # Amap tiles were asked for, and blocked


def _tappable(page, selector: str) -> bool:
    """Within 5 s (the popup fades in and pans), the element is inside the window and is what a finger
    at its centre touches: nothing drawn over it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("""sel => {
            const el = document.querySelector(sel);
            if (!el) return false;
            const r = el.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
            return x >= 0 && y >= 0 && x <= innerWidth && y <= innerHeight && el.contains(document.elementFromPoint(x, y));
        }""", arg=selector, timeout=5000)
    except PlaywrightTimeout:
        return False
    return True


def test_smart_stations_stay_visible_at_city_scale(page_factory, live_server):
    """16 smart stations: each is drawn as its own marker or counted in its cluster's 智N badge."""
    page = page_factory()
    page.goto(live_server.url + "/map")
    page.wait_for_selector("body.sm-ready")
    smart = requests.get(live_server.url + "/api/stations", params={"kind": "smart"}, timeout=30).json()["features"]
    assert len(smart) == 16
    # counted once the opening zoom has settled (while it animates, both zoom levels' clusters are in the page)
    page.wait_for_function("""n => {
        const badges = [...document.querySelectorAll('.marker-cluster .sm-cluster-smart')];
        const singles = document.querySelectorAll('.leaflet-marker-pane .sm-pin.sm-smart').length;
        return badges.length > 0 && badges.reduce((a, e) => a + parseInt(e.textContent.slice(1), 10), 0) + singles === n;
    }""", arg=len(smart), timeout=10_000)
    # every badge counts the smart stations inside its own cluster
    for_each = page.evaluate("""() => Object.values(StationMap.state.markers)
        .filter(m => StationMap.state.byId[m.options.stationId].k === 'smart')
        .map(m => StationMap.state.cluster.getVisibleParent(m))
        .filter(p => p && p.getAllChildMarkers)
        .map(p => [p.getElement().querySelector('.sm-cluster-smart').textContent,
                   p.getAllChildMarkers().filter(m => StationMap.state.byId[m.options.stationId].k === 'smart').length])""")
    assert for_each and all(text == f"智{n}" for text, n in for_each)
    assert page.locator("#sm-legend .sm-cluster-smart").count() == 1  # and the legend says what 智N means


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
    total = sum(len(gzip.compress(requests.get(u, timeout=30).content, 9)) for u in set(page.local))
    print(f"/map weight before tiles: {total:,} bytes gzipped in {len(set(page.local))} requests")
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
    assert_icons_apart(page)  # the README's own example: distinct smart-station icons, none over another
    assert external_hosts(page) and external_hosts(page) <= {h for h in tile_hosts(live_server) if "autonavi" in h}
    assert not page.errors


@pytest.mark.parametrize("query, zoom, centre", [
    ("district=普宁市&zoom=12", 12, None),          # a zoom alone centres on the district
    ("zoom=13&center=23.55,116.37", 13, (23.55, 116.37)),
    ("district=445281", None, None),               # nothing: the district fills the frame
])
def test_embed_view_parameters(page_factory, live_server, query, zoom, centre):
    page = page_factory(viewport={"width": 600, "height": 450})
    page.goto(live_server.url + "/embed?" + query)
    page.wait_for_selector("body.sm-ready")
    got = page.evaluate("(m => ({zoom: m.getZoom(), c: m.getCenter(), b: m.getBounds()}))(StationMap.state.map)")
    if zoom is not None:
        assert got["zoom"] == zoom
    if centre:
        shown = mapview.to_display(*centre, page.evaluate("StationMap.state.basemap"))  # in the basemap's datum
        assert (got["c"]["lat"], got["c"]["lng"]) == pytest.approx(shown, abs=1e-4)
    if "district" in query:  # the frame is centred within 普宁市 (23.10-23.53 N, 115.72-116.35 E)
        assert 23.10 < got["c"]["lat"] < 23.53 and 115.72 < got["c"]["lng"] < 116.35
        assert page.evaluate("StationMap.state.boundaries.getLayers().length") == 1


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
        served: list[int] = []
        ctx.on("response", lambda r: served.append(r.status) if "/embed?" in r.url else None)
        page = ctx.new_page()
        for origin, allowed in (("https://union.example", True), ("https://evil.example", False)):
            served.clear()
            page.goto(origin + "/")  # returns after the load event, which waits for the frame (or its refusal)
            assert served == [200], origin  # the service answered; only the browser's CSP check differs
            frames = [f for f in page.frames if f.url.startswith(live_server.url)]
            if allowed:
                frames[0].wait_for_selector("body.sm-ready", timeout=15_000)
            ready = bool(frames) and frames[0].evaluate("document.body.classList.contains('sm-ready')")
            assert ready is allowed, origin
    finally:
        browser.close()


def test_map_is_not_frameable_elsewhere(live_server):
    resp = requests.get(live_server.url + "/map", timeout=30)
    assert "frame-ancestors 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_planner(page_factory, live_server):
    n = 3 if importlib.util.find_spec("stationmap.query.siting") else 0
    page = page_factory()
    page.goto(live_server.url + f"/planner?minutes=15&mode=ebike&min_stations=1&n={n}")
    answered_page(page, n)
    assert page.locator("#sm-districts tbody tr").count() == 5
    assert page.locator("#sm-townships tbody tr").count() == 87
    assert "模型估算" in page.inner_text("#sm-modelled")
    page.wait_for_function("() => document.querySelectorAll('#sm-gaps tbody tr').length > 0",
                           timeout=120_000)  # the gaps come in their own answer
    if n:
        assert page.locator("#sm-sites tbody tr").count() == n
    page.screenshot(path=str(SHOTS / "planner.png"), full_page=True)
    for link in page.eval_on_selector_all(".sm-downloads a", "els => els.map(e => e.href)"):
        resp = answered(lambda: requests.get(link, timeout=120))
        assert resp.status_code == 200 and resp.headers["Content-Disposition"].startswith("attachment"), link
    page.select_option("select[name=min_stations]", "2")
    page.fill("input[name=n]", "0")
    page.click("#sm-plan-form button[type=submit]")
    page.wait_for_function("() => location.search.includes('min_stations=2')")
    answered_page(page, 0)
    assert "min_stations=2" in page.url
    assert not page.errors
    assert external_hosts(page) <= tile_hosts(live_server)


def answered_page(page, sites: int) -> None:
    """Wait until the planner page has drawn its answers (the tables fill when the API has answered)."""
    page.wait_for_function("n => document.querySelectorAll('#sm-districts tbody tr').length === 5 && "
                           "document.querySelectorAll('#sm-sites tbody tr').length >= n", arg=sites, timeout=120_000)


@pytest.mark.parametrize("viewport", [PHONE, {"width": 1280, "height": 800}], ids=["phone", "desktop"])
def test_planner_map_size_and_reach_in_metres(page_factory, live_server, viewport):
    """The planner's map keeps most of the window (the tables scroll below it), and the form's
    'or reach (m)' field works: typing metres clears the minutes, and the mode menu is not held against it."""
    page = page_factory(viewport=viewport)
    page.goto(live_server.url + "/planner?n=0")
    answered_page(page, 0)
    assert page.locator(".sm-main").bounding_box()["height"] >= 0.5 * viewport["height"]
    assert page.evaluate("document.scrollingElement.scrollHeight") > viewport["height"]  # the page scrolls
    page.fill("input[name=reach_m]", "2000")
    assert page.input_value("input[name=minutes]") == ""
    page.click("#sm-plan-form button[type=submit]")
    page.wait_for_function("() => location.search.includes('reach_m=2000')")
    answered_page(page, 0)
    assert "reach_m=2000" in page.url and "直线 2,000 米" in page.inner_text("h2")
    assert page.locator(".sm-main").bounding_box()["height"] >= 0.5 * viewport["height"]
    assert not page.errors
