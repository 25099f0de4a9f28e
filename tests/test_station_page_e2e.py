"""A station's own page, /s/<id>, through the running app in headless Chromium: the share card a chat app
reads, the page with JavaScript off (hours, amenities, navigation links that land on the station), a report
filed from a phone reaching its district's editor and no other, the "closed" badge on the map, the share
button, and QR codes that decode (with zxing-cpp, an independent decoder) to the page's address."""
from __future__ import annotations

import base64
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import coordTransform
import pytest
import requests

from stationmap import vocab
from stationmap.hours import to_zh
from stationmap.maps.mapview import tile_hosts
from stationmap.maps.words import UI
from stationmap.ops.accounts import open_accounts
from stationmap.store import open_store

sys.path.insert(0, str(Path(__file__).parent))
from test_admin_api import PASSWORD, PUNING, RONGCHENG, Site  # noqa: E402
from webserver import loopback_page, start  # noqa: E402

ZH = UI["zh"]
PUBLIC = "https://map.jyszgh.example"
GENEROUS = {"rate_limit_public": "100000/minute", "report_client_limit": 100}


@pytest.fixture(scope="module")
def site(tmp_path_factory, _registry_template):
    """The app on a copy of the sample registry, with editors of 普宁市 (`editor`) and 榕城区 (`rong`)."""
    d = tmp_path_factory.mktemp("station-page") / "data"
    shutil.copytree(_registry_template, d)
    open_accounts(d).add_user("rong", "editor", RONGCHENG, password=PASSWORD)
    s = Site(d, GENEROUS)
    s.rong = open_accounts(d).issue_token("rong")[0]
    s.stations = {x.id: x for x in open_store(d).all()}
    yield s
    s.server.stop()


@pytest.fixture(scope="module")
def public_site(tmp_path_factory, _registry_template):
    """The same registry served with a public URL: links and codes are built on it, whatever the Host."""
    d = tmp_path_factory.mktemp("station-page-public") / "data"
    shutil.copytree(_registry_template, d)
    server = start({"data_dir": str(d), "public_url": PUBLIC, **GENEROUS})
    yield server
    server.stop()


def only_tiles(site: Site, page) -> bool:
    """Nothing but map tiles was asked of another host (the test's page may reach only loopback)."""
    hosts = tile_hosts(site.server.app.config["STATIONMAP"])
    return not page.errors and all(urlsplit(u).netloc in hosts for u in page.external)


def pick(site: Site, district: str, kind: str):
    return next(s for s in site.stations.values() if s.district == district and s.kind == kind and s.status == "open")


class Head(HTMLParser):
    """The head's meta tags (property, name or itemprop -> content) and its canonical link."""

    def __init__(self):
        super().__init__()
        self.meta: dict[str, str] = {}
        self.canonical = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and "content" in a:
            key = a.get("property") or a.get("name") or (a.get("itemprop") and "itemprop:" + a["itemprop"])
            if key:
                self.meta[key] = a["content"]
        if tag == "link" and a.get("rel") == "canonical":
            self.canonical = a["href"]


def head_of(html: str) -> Head:
    h = Head()
    h.feed(html)
    return h


# -- the share card --------------------------------------------------------------------------------------
def test_share_card_tags_are_present_and_absolute(site, public_site):
    st = pick(site, PUNING, "outdoor")
    for base, url in ((site.url, site.url), (public_site.url, PUBLIC)):
        r = requests.get(f"{base}/s/{st.id}?from=singlemessage&isappinstalled=0", timeout=30)  # as WeChat passes it on
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
        h = head_of(r.text)
        page = f"{url}/s/{st.id}"
        assert h.meta["og:url"] == h.canonical == page
        assert h.meta["og:title"] == h.meta["itemprop:name"] == st.name
        assert h.meta["og:image"] == h.meta["itemprop:image"]
        assert h.meta["og:image"].startswith(url + "/static/") and h.meta["og:image"].endswith(".png")
        assert ZH["sample_short"] in h.meta["og:description"] and st.address in h.meta["og:description"]
        assert h.meta["itemprop:description"] == h.meta["og:description"] == h.meta["description"]
        assert h.meta["og:type"] and h.meta["og:site_name"]
        image = requests.get(base + urlsplit(h.meta["og:image"]).path, timeout=30)
        assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
        assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
    forged = requests.get(f"{site.url}/s/{st.id}", headers={"Host": "evil.example"}, timeout=30)
    assert forged.status_code == 400 and "evil.example/s/" not in forged.text  # a forged Host never reaches a card


def test_unknown_station_and_other_letter_case(site):
    st = pick(site, PUNING, "outdoor")
    r = requests.get(f"{site.url}/s/st-nothing-here", timeout=30)
    assert r.status_code == 404 and ZH["not_found_title"] in r.text and "st-nothing-here" in r.text
    assert 'href="/map"' in r.text
    r = requests.get(f"{site.url}/s/{st.id.upper()}?lang=en", allow_redirects=False, timeout=30)
    assert r.status_code == 301 and r.headers["Location"].endswith(f"/s/{st.id}?lang=en")


# -- JavaScript off --------------------------------------------------------------------------------------
def test_the_page_works_without_javascript(site, chromium):
    st = pick(site, PUNING, "smart")  # 24/7 in the sample: its open state does not depend on the hour
    ctx, page = loopback_page(chromium, java_script_enabled=False)
    try:
        page.goto(f"{site.url}/s/{st.id}")
        assert page.inner_text("h1") == st.name
        assert ZH["sample"] in page.inner_text("#sm-sample")
        assert page.inner_text("#sm-st-hours") == to_zh(st.hours)
        assert page.get_attribute("#sm-st-state .sm-badge", "data-state") == "open_by_hours"
        assert page.inner_text("#sm-st-state .sm-when") == ZH["open_24h"]
        assert page.inner_text("#sm-st-address") == st.address
        assert page.get_attribute(".sm-st-tel", "href") == f"tel:{st.phone}"
        assert page.inner_text("#sm-st-verified") == ZH["never_verified"]
        shown = page.eval_on_selector_all("#sm-st-amenities li", "els => els.map(e => [e.dataset.key, e.textContent])")
        assert [k for k, _ in shown] == list(st.amenities)
        assert all(vocab.AMENITY_BY_KEY[k].zh in text for k, text in shown)
        assert page.locator("#sm-st-features li").count() == len(st.features)
        check_navigation(page, st)
        assert page.is_hidden("#sm-share") and page.is_hidden("#sm-st-map")  # script-only parts stay out of the way

        page.check('input[name="kind"][value="broken"]')
        page.select_option("#sm-rk-amenity", st.amenities[0])
        page.fill("#sm-rk-text", "无脚本报告：微波炉不热")
        page.click("#sm-rk-send")
        page.wait_for_selector("#sm-rk-result")
        assert page.inner_text("#sm-rk-result") == ZH["rk_thanks"]
        assert not page.errors and not page.external
    finally:
        ctx.close()
    mine = site.req("GET", "/api/admin/reports", site.editor, params={"station": st.id}).json()["reports"]
    assert [(x["kind"], x["amenity"], x["text"]) for x in mine] == [("broken", st.amenities[0], "无脚本报告：微波炉不热")]


def check_navigation(page, st) -> None:
    """Amap and Baidu links in every travel mode, each to the station's own point in the app's datum,
    computed here with coordTransform (independent of stationmap.geo.datums)."""
    glon, glat = coordTransform.wgs84_to_gcj02(st.lon, st.lat)
    blon, blat = coordTransform.gcj02_to_bd09(glon, glat)
    amap_modes = {"walk": "walk", "ebike": "ride", "car": "car"}
    baidu_modes = {"walk": "walking", "ebike": "riding", "car": "driving"}
    for mode in ("walk", "ebike", "car"):
        amap = page.get_attribute(f'.sm-nav-amap[data-mode="{mode}"]', "href")
        q = parse_qs(urlsplit(amap).query)
        lon, lat, name = q["to"][0].split(",", 2)
        assert urlsplit(amap).netloc == "uri.amap.com" and q["mode"] == [amap_modes[mode]] and q["coordinate"] == ["gaode"]
        assert abs(float(lon) - glon) < 2e-6 and abs(float(lat) - glat) < 2e-6 and unquote(name) == st.name
        assert "from" not in q  # no position known: the app starts where the phone is
        baidu = page.get_attribute(f'.sm-nav-baidu[data-mode="{mode}"]', "href")
        q = parse_qs(urlsplit(baidu).query)
        point = q["destination"][0].split("|")[0].removeprefix("latlng:").split(",")
        assert q["mode"] == [baidu_modes[mode]] and q["coord_type"] == ["bd09ll"]
        assert abs(float(point[0]) - blat) < 2e-5 and abs(float(point[1]) - blon) < 2e-5  # coordTransform's BD-09: ~1 m


# -- a report from a phone -------------------------------------------------------------------------------
def test_a_report_from_a_phone_reaches_its_districts_editor_only(site, chromium):
    st = pick(site, PUNING, "outdoor")
    here = {"latitude": st.lat + 0.001, "longitude": st.lon - 0.001}
    ctx, page = loopback_page(chromium, geolocation=here, permissions=["geolocation"])
    try:
        page.goto(f"{site.url}/s/{st.id}")
        page.wait_for_selector("body.sm-ready")
        assert page.is_hidden("#sm-rk-posrow")
        page.click("#sm-rk-send")
        assert page.inner_text("#sm-rk-msg") == ZH["rk_pick"]  # checked in the worker's words before sending
        page.check('input[name="kind"][value="location"]')
        page.check("#sm-rk-pos")
        page.fill("#sm-rk-text", "驿站在路口北边")
        page.click("#sm-rk-send")
        page.wait_for_function(f"() => document.getElementById('sm-rk-msg').textContent === {ZH['rk_thanks']!r}")
        assert only_tiles(site, page)
    finally:
        ctx.close()
    mine = [x for x in site.req("GET", "/api/admin/reports", site.editor).json()["reports"] if x["station_id"] == st.id]
    assert [(x["kind"], x["text"]) for x in mine] == [("location", "驿站在路口北边")]
    assert abs(mine[0]["lat"] - here["latitude"]) < 1e-6 and abs(mine[0]["lon"] - here["longitude"]) < 1e-6
    theirs = site.req("GET", "/api/admin/reports", site.rong).json()["reports"]
    assert st.id not in {x["station_id"] for x in theirs}
    assert site.req("GET", "/api/admin/reports", site.rong, params={"district": PUNING}).status_code == 403


def test_a_closed_report_shows_on_the_map_and_the_page(site, chromium):
    st = pick(site, RONGCHENG, "outdoor")
    ctx, page = loopback_page(chromium)
    try:
        page.goto(f"{site.url}/s/{st.id}")
        page.wait_for_selector("body.sm-ready")
        assert page.locator("#sm-st-reported").count() == 0
        page.check('input[name="kind"][value="closed"]')
        page.click("#sm-rk-send")
        page.wait_for_function(f"() => document.getElementById('sm-rk-msg').textContent === {ZH['rk_thanks']!r}")

        page.goto(f"{site.url}/map")
        page.wait_for_selector("body.sm-ready")
        page.wait_for_function("id => (StationMap.state.reported || {})[id] >= 1", arg=st.id)
        page.evaluate("([lat, lon]) => StationMap.setUser(lat, lon)", [st.lat, st.lon])
        row = page.wait_for_selector(f'.sm-item[data-id="{st.id}"]')
        assert row.query_selector(".sm-reported").inner_text() == ZH["reported_closed_short"]
        page.evaluate("id => { const m = StationMap.state.markers[id]; StationMap.state.cluster.zoomToShowLayer(m, () => m.openPopup()); }", st.id)
        popup = page.wait_for_selector(f'.sm-popup[data-id="{st.id}"]')
        assert popup.query_selector(".sm-reported") is not None
        assert popup.query_selector(".sm-report-link").get_attribute("href") == f"/s/{st.id}#report"
        row.query_selector(".sm-page-link").click()
        page.wait_for_url(f"{site.url}/s/{st.id}")
        assert page.inner_text("#sm-st-reported") == ZH["reported_closed"]
        assert only_tiles(site, page)
    finally:
        ctx.close()
    assert st.id in {x["station_id"] for x in site.req("GET", "/api/admin/reports", site.rong).json()["reports"]}


# -- sharing and QR codes --------------------------------------------------------------------------------
def test_the_share_button_uses_the_share_sheet_else_the_clipboard(site, chromium):
    st = pick(site, PUNING, "outdoor")
    url = f"{site.url}/s/{st.id}"
    ctx, page = loopback_page(chromium, permissions=["clipboard-read", "clipboard-write"])
    try:
        page.add_init_script("navigator.share = d => { window.__shared = d; return Promise.resolve(); };")
        page.goto(url)
        page.wait_for_selector("body.sm-ready")
        page.click("#sm-share")
        assert page.evaluate("window.__shared") == {"title": st.name, "text": st.name, "url": url}
    finally:
        ctx.close()
    ctx, page = loopback_page(chromium, permissions=["clipboard-read", "clipboard-write"])
    try:
        page.goto(url)
        page.wait_for_selector("body.sm-ready")
        assert page.evaluate("typeof navigator.share") == "undefined"  # desktop Chromium on Linux has none
        page.click("#sm-share")
        page.wait_for_function(f"() => document.getElementById('sm-share-msg').textContent === {ZH['share_copied']!r}")
        assert page.evaluate("navigator.clipboard.readText()") == url
        assert not page.errors
    finally:
        ctx.close()


def decode_in_browser(page, image_url: str) -> list[str]:
    """The texts zxing-cpp finds in an image as Chromium draws it (the browser decodes the PNG or SVG)."""
    import numpy as np

    zxingcpp = pytest.importorskip("zxingcpp", reason="no QR decoder installed (pip install zxing-cpp)")
    w, h, grey = page.evaluate("""async url => {
        const img = new Image(); img.src = url; await img.decode();
        const c = document.createElement("canvas"); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext("2d"); g.fillStyle = "#fff"; g.fillRect(0, 0, c.width, c.height); g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data, grey = new Uint8Array(d.length / 4);
        for (let i = 0; i < grey.length; i++) grey[i] = d[4 * i];
        let bytes = "";  // base64: a list of a million numbers is slow to pass from the page
        for (let i = 0; i < grey.length; i += 0x8000) bytes += String.fromCharCode.apply(null, grey.subarray(i, i + 0x8000));
        return [c.width, c.height, btoa(bytes)]; }""", image_url)
    pixels = np.frombuffer(base64.b64decode(grey), dtype=np.uint8).reshape(h, w)
    return [b.text for b in zxingcpp.read_barcodes(pixels)]


def test_qr_codes_decode_to_the_station_page(site, public_site, chromium):
    st = pick(site, PUNING, "smart")
    ctx, page = loopback_page(chromium)
    try:
        for base, url in ((site.url, site.url), (public_site.url, PUBLIC)):
            page.goto(f"{base}/s/{st.id}")
            for fmt, media in (("svg", "image/svg+xml"), ("png", "image/png")):
                link = page.get_attribute(f'.sm-st-qr a[href$="qr.{fmt}"]', "href")
                r = requests.get(base + link, timeout=30)
                assert r.status_code == 200 and r.headers["Content-Type"].startswith(media)
                assert f'filename="{st.id}-qr.{fmt}"' in r.headers["Content-Disposition"]
                assert decode_in_browser(page, base + link) == [f"{url}/s/{st.id}"]
    finally:
        ctx.close()
    r = requests.get(f"{site.url}/api/stations/st-nothing-here/qr.png", timeout=30)
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("application/problem+json")


# -- "closes at" / "opens at" ----------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["周一至周五 08:00-17:30", "07:00-21:00", "20:00-02:00", "周五 22:00-06:00",
                                  "周一至周六 08:00-12:00, 14:00-18:00", "周日 09:00-10:00"])
def test_next_change_agrees_with_an_independent_evaluator(text):
    """The page's "closes at"/"opens at" is when opening-hours-py (an independent OSM evaluator) says the
    state changes next, across a week, every 23 minutes."""
    from datetime import datetime, timedelta

    import opening_hours

    from stationmap.hours import TZ, parse_hours, to_osm
    from stationmap.maps.pages import next_change

    schedule = parse_hours(text)
    reference = opening_hours.OpeningHours(to_osm(schedule))
    start = datetime(2026, 11, 23, 0, 0, tzinfo=TZ)  # a Monday
    for step in range(0, 7 * 24 * 60, 23):
        t = start + timedelta(minutes=step)
        what, ahead, minute = next_change(schedule, t)
        day = (t.replace(hour=0, minute=0) + timedelta(days=ahead)).replace(tzinfo=None)
        assert day + timedelta(minutes=minute) == reference.next_change(t.replace(tzinfo=None)), (text, t)
        assert (what == "closes") == reference.is_open(t.replace(tzinfo=None)), (text, t)
