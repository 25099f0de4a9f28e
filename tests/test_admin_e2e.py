"""The admin page in real headless Chromium against the running app: what shows before and after signing
in and out, codes shown in words, and the map picker placing a station (tapped on the GCJ-02 Amap
basemap, stored in WGS-84).

Requests leaving 127.0.0.1 (map tiles) are aborted: the page must work without them.
"""
from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

import coordTransform
import pytest
import requests
from geographiclib.geodesic import Geodesic

from stationmap.geo import datums
from stationmap.ops.accounts import open_accounts
from stationmap.store import open_store

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def admin_name(live_server) -> str:
    name = "e2e-" + secrets.token_hex(4)
    open_accounts(live_server.app.config["STATIONMAP"]["data_dir"]).add_user(name, "admin", password=PASSWORD)
    return name


@pytest.fixture
def page(chromium):
    ctx = chromium.new_context(viewport={"width": 1100, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = ctx.new_page()
    page.errors, page.csp = [], []

    def route(r):
        if urlsplit(r.request.url).hostname == "127.0.0.1" or r.request.url.startswith(("data:", "about:")):
            r.continue_()
        else:
            r.abort()

    ctx.route("**/*", route)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.csp.append(m.text) if "Content Security Policy" in m.text else None)
    yield page
    ctx.close()


def visible(page, selector: str) -> bool:
    return page.is_visible(selector)


def test_sign_in_and_out_show_the_right_things_and_the_picker_stores_wgs84(page, live_server, admin_name):
    page.goto(live_server.url + "/admin")
    assert visible(page, "#login") and not visible(page, "#logout") and not visible(page, "#app")
    assert not visible(page, "#who")

    page.fill("#login input[name=name]", admin_name)
    page.fill("#login input[name=password]", "wrong password, surely")
    page.click("#login button[type=submit]")
    page.wait_for_function("() => document.getElementById('message').textContent.length > 0")
    assert page.inner_text("#message").startswith("登录失败")  # Chinese first
    assert visible(page, "#login") and not visible(page, "#logout")

    page.fill("#login input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#stations tr")
    assert not visible(page, "#login") and visible(page, "#logout") and visible(page, "#app")
    assert admin_name in page.inner_text("#who")

    # hours in words, as the station list shows them (never the stored opening_hours code)
    store = open_store(live_server.app.config["STATIONMAP"]["data_dir"])
    s = next(x for x in store.all() if x.hours is not None and x.status == "open")
    table = page.inner_text("#stations")
    assert s.hours_osm not in table

    # the picker: open the station, tap 40 px east of it on the Amap (GCJ-02) basemap, save
    row = page.locator("#stations tr", has_text=s.id)
    row.get_by_role("button", name="编辑 Edit").click()
    page.wait_for_selector("#picker path.leaflet-interactive")
    assert page.input_value("select[name=crs]") == "gcj02"  # what staff copy from Amap
    gcj = datums.from_wgs84(s.lat, s.lon, "gcj02")
    assert float(page.input_value("input[name=lat]")) == pytest.approx(gcj[0], abs=1e-6)
    assert float(page.input_value("input[name=lon]")) == pytest.approx(gcj[1], abs=1e-6)
    assert "驿站当前位于" in page.inner_text("#picker-where")
    box = page.locator("#picker").bounding_box()
    marker = page.locator("#picker path.leaflet-interactive").bounding_box()
    centre = (marker["x"] + marker["width"] / 2, marker["y"] + marker["height"] / 2)
    assert box["x"] < centre[0] < box["x"] + box["width"]
    page.mouse.click(centre[0] + 40, centre[1])
    page.wait_for_function("() => document.getElementById('picker-where').textContent.indexOf('保存后') === 0")
    tapped = float(page.input_value("input[name=lat]")), float(page.input_value("input[name=lon]"))
    assert tapped[1] > gcj[1] and tapped[0] == pytest.approx(gcj[0], abs=1e-4)  # a pixel is ~4 m at zoom 15
    shown = page.inner_text("#picker-where")  # where it lands in WGS-84, before saving
    lat_shown, lon_shown = (float(x) for x in re.search(r"(\d+\.\d+), (\d+\.\d+)", shown).groups())
    back = coordTransform.wgs84_to_gcj02(lon_shown, lat_shown)  # independent, and exact this way: (lon, lat)
    assert back[1] == pytest.approx(tapped[0], abs=2e-6) and back[0] == pytest.approx(tapped[1], abs=2e-6)
    page.click("#edit-save")
    page.wait_for_function("() => document.getElementById('message').textContent.indexOf('已保存') === 0")
    moved = open_store(live_server.app.config["STATIONMAP"]["data_dir"]).get(s.id)
    expect = coordTransform.gcj02_to_wgs84(tapped[1], tapped[0])  # independent: (lon, lat)
    off = Geodesic.WGS84.Inverse(moved.lat, moved.lon, expect[1], expect[0])["s12"]
    assert off < 3.0  # coordTransform's one-step inverse errs by 1-2 m in Jieyang
    assert Geodesic.WGS84.Inverse(moved.lat, moved.lon, lat_shown, lon_shown)["s12"] < 0.2  # saved where shown
    back = datums.from_wgs84(moved.lat, moved.lon, "gcj02")
    assert Geodesic.WGS84.Inverse(back[0], back[1], *tapped)["s12"] < 0.05  # stored WGS-84 is the tapped point

    page.click("#logout")
    page.wait_for_function("() => !document.getElementById('login').hidden")
    assert visible(page, "#login") and not visible(page, "#logout") and not visible(page, "#app")
    assert page.inner_text("#message").startswith("已退出")
    assert page.errors == [] and page.csp == []
    token_gone = requests.get(live_server.url + "/api/auth/me", timeout=10)
    assert token_gone.status_code == 401
