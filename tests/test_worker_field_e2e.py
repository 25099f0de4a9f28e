"""The worker's map as a rider uses it in the street: a 390 × 844 Chromium, every request that leaves
127.0.0.1 aborted (no tiles, no CDN, no geocoder), Asia/Shanghai clock.

Location denied: the page offers search first; "棉湖" finds 棉湖镇, picking it lists the nearest open
stations with their amenities, and a station's Amap link is in riding mode (e-bike, the default) and
lands on the station's GCJ-02 point (checked with coordTransform, an independent implementation).
Location granted: the same list in one tap. Every tap target is at least 44 × 44 px, and the page says
in one line that the basemap failed.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import coordTransform
import pytest
from cli_runner import stationmap
from geographiclib.geodesic import Geodesic
from webserver import loopback_page

from stationmap.geo import geography
from stationmap.store import load_sample

TAP = 44
HERE = (23.548, 116.372)  # a rider in 榕城区


@pytest.fixture(scope="module")
def sample():
    return {s.id: s for s in load_sample()}


def _page(chromium, **ctx_args):
    return loopback_page(chromium, **ctx_args)


def small_targets(page) -> list[str]:
    """Every visible tap target smaller than 44 × 44 px (inline text links in prose and the attribution excepted)."""
    return page.evaluate("""min => {
        const sel = 'button, a[href], input, select, summary, .leaflet-marker-icon.sm-icon, .marker-cluster';
        const out = [];
        for (const el of document.querySelectorAll(sel)) {
            if (el.closest('.leaflet-control-attribution, .sm-popup dd')) continue;
            const r = el.getBoundingClientRect(), style = getComputedStyle(el);
            if (!r.width || !r.height || style.visibility === 'hidden') continue;
            if (r.bottom < 0 || r.top > innerHeight || r.right < 0 || r.left > innerWidth) continue;
            if (r.width < min - 0.5 || r.height < min - 0.5)
                out.push(`${el.tagName}.${el.className} ${(el.textContent || '').trim().slice(0, 12)} ${r.width.toFixed(0)}x${r.height.toFixed(0)}`);
        }
        return out;
    }""", TAP)


def amap_target(href: str) -> tuple[str, float, float, bool]:
    """(mode, lat, lon, has origin) of an Amap navigation link."""
    q = parse_qs(urlsplit(href).query)
    lon, lat = (float(x) for x in q["to"][0].split(",")[:2])
    return q["mode"][0], lat, lon, "from" in q


def test_location_denied_search_pick_and_ride(chromium, live_server, sample):
    ctx, page = _page(chromium)  # no geolocation permission: the browser refuses
    try:
        page.goto(live_server.url + "/map")
        page.wait_for_selector("body.sm-ready")
        assert page.evaluate("document.querySelector('meta[name=viewport]').content") == "width=device-width, initial-scale=1"
        # tiles are blocked: one line says so, and the orientation layer (townships, names) is drawn from our data
        page.wait_for_selector("#sm-tiles:not([hidden])", timeout=10_000)
        assert "底图加载失败" in page.inner_text("#sm-tiles")
        assert page.locator(".sm-label-district").count() == 5
        assert page.evaluate("StationMap.state.cells.getLayers().length") == 87
        assert page.locator(".sm-basemaps button").count() >= 3
        assert page.locator("#sm-legend[open]").count() == 0  # the legend is out of the way
        assert not small_targets(page), small_targets(page)

        page.click("#sm-locate")  # refused: search is offered first
        page.wait_for_function("() => document.activeElement && document.activeElement.id === 'sm-q'")
        assert "搜索" in page.inner_text("#sm-list")

        page.click(".sm-chip#sm-open")  # open stations only
        page.type("#sm-q", "棉湖")
        page.wait_for_selector(".sm-hit")
        first_hit = page.locator(".sm-hit").first
        assert "棉湖镇" in first_hit.inner_text() and "镇街" in first_hit.inner_text()
        assert not small_targets(page), small_targets(page)
        first_hit.click()
        page.wait_for_selector(".sm-item")
        seat = geography.townships().set_index("name").loc["棉湖镇"].geometry
        origin = page.evaluate("StationMap.state.user")
        assert origin == pytest.approx([seat.y, seat.x], abs=1e-4)
        page.screenshot(path="tests/screenshots/field-search-list.png")

        rows = page.locator(".sm-item")
        open_now = page.evaluate("StationMap.state.shown")  # stations open at this hour (24-hour ones at least)
        assert open_now > 0 and rows.count() == min(5, open_now)
        ids = page.eval_on_selector_all(".sm-item", "els => els.map(e => e.dataset.id)")
        states = page.eval_on_selector_all(".sm-item .sm-badge", "els => els.map(e => e.dataset.state)")
        assert all(s in ("open", "open_by_hours", "open_live") for s in states), states
        distances = [Geodesic.WGS84.Inverse(seat.y, seat.x, sample[i].lat, sample[i].lon)["s12"] for i in ids]
        assert distances == sorted(distances)
        for n, (row_id, text) in enumerate(zip(ids, rows.all_inner_texts()), 1):
            st = sample[row_id]
            assert text.startswith(str(n)) and st.name in text
            assert all(_amenity_zh(a) in text for a in st.amenities)  # amenities as words, not icons only
            assert "电动车" in text and "分钟" in text
        shown = rows.first.locator(".sm-dist").inner_text()
        metres = float(re.match(r"([\d.]+)", shown).group(1)) * (1000 if "公里" in shown else 1)
        assert metres == pytest.approx(distances[0], abs=1 if "米" in shown and "公里" not in shown else 50)
        # numbered pins on the map match the rows
        pins = page.eval_on_selector_all(".sm-num-icon .sm-num", "els => els.map(e => [e.textContent, e.dataset.id])")
        assert pins == [[str(n), i] for n, i in enumerate(ids, 1)]
        # "more" loads more
        if open_now > 5:
            page.click("#sm-more")
            page.wait_for_function("n => document.querySelectorAll('.sm-item').length === n", arg=min(10, open_now))

        # e-bike is the default mode; the Amap link rides from the picked place to the station's GCJ-02 point
        rows.first.locator(".sm-item-main").click()
        popup = page.wait_for_selector(f'.sm-popup[data-id="{ids[0]}"]')
        href = popup.query_selector(".sm-nav-amap").get_attribute("href")
        mode, lat, lon, has_origin = amap_target(href)
        st = sample[ids[0]]
        ref_lon, ref_lat = coordTransform.wgs84_to_gcj02(st.lon, st.lat)
        assert mode == "ride" and has_origin
        assert (lat, lon) == pytest.approx((ref_lat, ref_lon), abs=1e-5)  # about a metre
        # the popup shows everything without an inner scroll, and nothing covers its buttons
        assert popup.evaluate("e => e.closest('.leaflet-popup-content').scrollHeight <= "
                              "e.closest('.leaflet-popup-content').clientHeight + 1")
        assert popup.evaluate("e => getComputedStyle(e.closest('.leaflet-popup-content')).overflowY") != "scroll"
        page.wait_for_timeout(300)
        assert not small_targets(page), small_targets(page)
        page.screenshot(path="tests/screenshots/field-popup.png")
        assert page.evaluate("getComputedStyle(document.body).fontSize") in ("15px", "16px")

        # walking instead: remembered on the device, used for the minutes and the links
        page.click(".leaflet-popup-close-button")
        page.click("#sm-modes button[data-mode=walk]")
        assert "步行" in rows.first.inner_text()
        assert amap_target(rows.first.locator(".sm-nav-amap").get_attribute("href"))[0] == "walk"
        assert "mode=walking" in rows.first.locator(".sm-nav-baidu").get_attribute("href")
        page.reload()
        page.wait_for_selector("body.sm-ready")
        assert page.get_attribute("#sm-modes button[data-mode=walk]", "aria-pressed") == "true"

        assert not page.errors, page.errors
        assert all(urlsplit(u).hostname.endswith("autonavi.com") for u in page.external)  # only tiles were asked for
    finally:
        ctx.close()


def _amenity_zh(key: str) -> str:
    from stationmap import vocab

    return vocab.AMENITY_BY_KEY[key].zh


def test_location_granted_one_tap(chromium, live_server, sample):
    ctx, page = _page(chromium, geolocation={"latitude": HERE[0], "longitude": HERE[1]}, permissions=["geolocation"])
    try:
        page.goto(live_server.url + "/map")
        page.wait_for_selector("body.sm-ready")
        page.click("#sm-locate")
        page.wait_for_selector(".sm-item")
        first = page.locator(".sm-item").first
        mode, lat, lon, has_origin = amap_target(first.locator(".sm-nav-amap").get_attribute("href"))
        st = sample[first.get_attribute("data-id")]
        assert mode == "ride" and has_origin
        assert (lat, lon) == pytest.approx(coordTransform.wgs84_to_gcj02(st.lon, st.lat)[::-1], abs=1e-5)

        # one tap to OpenStreetMap: everything drawn moves to WGS-84, and back to GCJ-02 on Amap
        marker = f"(m => [m.getLatLng().lat, m.getLatLng().lng])(StationMap.state.markers['{st.id}'])"
        page.click(".sm-basemaps button[data-basemap=osm]")
        assert page.evaluate(marker) == pytest.approx([st.lat, st.lon], abs=1e-6)
        assert page.evaluate("(l => [l.lat, l.lng])(StationMap.state.userMarker.getLatLng())") == pytest.approx(HERE, abs=1e-6)
        page.click(".sm-basemaps button[data-basemap=amap]")
        assert page.evaluate(marker) == pytest.approx(coordTransform.wgs84_to_gcj02(st.lon, st.lat)[::-1], abs=1e-5)
        assert page.get_attribute(".sm-basemaps button[data-basemap=amap]", "aria-pressed") == "true"
        page.wait_for_function("() => StationMap.state.tiles.length > 0")
        # at street zoom the stations carry their names
        page.evaluate(f"StationMap.state.map.setView(StationMap.state.byId['{st.id}'].p, 16, {{animate: false}})")
        assert st.name in page.locator(".sm-label-station").all_inner_texts()
        assert not page.errors
        assert {urlsplit(u).hostname for u in page.external} & {"tile.openstreetmap.org"}  # OSM tiles were asked for
    finally:
        ctx.close()


def test_far_outside_jieyang_says_how_far(chromium, live_server):
    ctx, page = _page(chromium)
    try:
        page.goto(live_server.url + "/map")
        page.wait_for_selector("body.sm-ready")
        page.evaluate("StationMap.setUser(23.1291, 113.2644)")  # Guangzhou
        page.wait_for_selector(".sm-item")
        text = page.inner_text("#sm-sheet")
        assert "揭阳市外" in text and "公里" in text
        assert "分钟" not in page.inner_text("#sm-list")  # no hours of walking
    finally:
        ctx.close()


def test_search_reads_pasted_coordinates(chromium, live_server):
    """An Amap link is GCJ-02 and a Baidu link BD-09: each lands on the same WGS-84 point (coordTransform)."""
    ctx, page = _page(chromium)
    try:
        page.goto(live_server.url + "/map")
        page.wait_for_selector("body.sm-ready")
        lat, lon = 23.4410, 116.1387
        glon, glat = coordTransform.wgs84_to_gcj02(lon, lat)
        blon, blat = coordTransform.wgs84_to_bd09(lon, lat)
        for text in (f"https://uri.amap.com/marker?position={glon:.6f},{glat:.6f}&name=x",
                     f"http://api.map.baidu.com/marker?location={blat:.6f},{blon:.6f}&title=x&output=html",
                     f"{glat:.6f},{glon:.6f}"):  # bare numbers: read as Amap's first
            hits = page.evaluate("t => StationMap.search(t)", text)
            assert hits[0]["kind"] == "coords", text
            assert hits[0]["at"] == pytest.approx([lat, lon], abs=2e-5), text
        assert page.evaluate("StationMap.search('<img src=x>')") == []
    finally:
        ctx.close()


def test_static_embed_honours_parameters_and_says_its_age(chromium, tmp_path, sample):
    run = stationmap("render", "-o", tmp_path / "site", "--data-dir", tmp_path / "data")
    assert run.exit_code == 0, run.output
    ctx, page = _page(chromium)
    try:
        page.goto((tmp_path / "site" / "embed.html").as_uri() + "?district=普宁市&kind=smart&basemap=amap")
        page.wait_for_selector("body.sm-ready")
        want = {s.id for s in sample.values() if s.district == "445281" and s.kind == "smart"}
        assert set(page.evaluate("StationMap.state.cfg.stations.map(s => s.id)")) == want
        assert page.evaluate("StationMap.state.cluster.getLayers().length") == len(want) > 0
        assert "数据导出于" in page.inner_text("#sm-age")
        for sid in want:  # on Amap tiles, at the GCJ-02 point
            got = page.evaluate(f"(m => [m.getLatLng().lat, m.getLatLng().lng])(StationMap.state.markers['{sid}'])")
            assert got == pytest.approx(coordTransform.wgs84_to_gcj02(sample[sid].lon, sample[sid].lat)[::-1], abs=1e-5)
        assert_icons_apart(page)
        page.goto((tmp_path / "site" / "embed.html").as_uri() + "?lang=en&basemap=osm&center=23.55,116.37&zoom=13")
        page.wait_for_selector("body.sm-ready")
        got = page.evaluate("(m => [m.getZoom(), m.getCenter().lat, m.getCenter().lng])(StationMap.state.map)")
        assert got == pytest.approx([13, 23.55, 116.37], abs=1e-4)
        assert page.evaluate("document.documentElement.lang") == "en"
        assert not page.errors, page.errors
    finally:
        ctx.close()


def assert_icons_apart(page) -> None:
    """Smart-station icons and clusters on screen, once the cluster layer's animation has settled: none overlaps
    another."""
    def measure():
        return page.eval_on_selector_all(
            ".leaflet-marker-pane .sm-pin, .leaflet-marker-pane .marker-cluster div",
            "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })")

    boxes, before = measure(), None
    for _ in range(20):  # animations move icons for a few hundred milliseconds
        if boxes == before:
            break
        page.wait_for_timeout(250)
        before, boxes = boxes, measure()
    assert boxes
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def test_embed_is_framable_by_any_site_by_default(registry_dir):
    """/embed is public and read-only: any origin may frame it unless `frame_origins` says otherwise;
    /map never."""
    from web import create_app

    client = create_app({"data_dir": str(registry_dir)}).test_client()
    embed = client.get("/embed")
    assert embed.status_code == 200
    assert re.search(r"frame-ancestors[^;]*\*", embed.headers["Content-Security-Policy"])
    assert "X-Frame-Options" not in embed.headers
    page = client.get("/map")
    assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]
    assert "*" not in page.headers["Content-Security-Policy"].split("frame-ancestors")[1]
    assert page.headers["X-Frame-Options"] == "SAMEORIGIN"
    restricted = create_app({"data_dir": str(registry_dir), "frame_origins": ("https://union.example",)}).test_client()
    csp = restricted.get("/embed").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://union.example" in csp and "*" not in csp.split("frame-ancestors")[1]
