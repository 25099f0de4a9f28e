"""The planner in headless Chromium: the 双15 picture by e-bike (polled until answered), two taps on the map
and the what-if numbers, the plan downloaded (GCJ-02 columns and Amap links checked with coordTransform,
an independent datum implementation), the import accepting it, and a queued question cancelled."""
from __future__ import annotations

import csv
import fcntl
import io
import math
import time
from urllib.parse import parse_qs, urlsplit

import coordTransform
import pytest
from cli_runner import stationmap
from webserver import loopback_page

from geographiclib.geodesic import Geodesic

WAIT_MS = 180_000


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2)["s12"]


@pytest.fixture(scope="module")
def planner(chromium, live_server):
    ctx, page = loopback_page(chromium, viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page.goto(live_server.url + "/planner?minutes=15&mode=ebike&min_stations=2&n=3&basemap=amap")
    page.wait_for_function("() => document.getElementById('sm-districts') !== null "
                           "&& document.getElementById('sm-sites') !== null", timeout=WAIT_MS)
    yield page
    ctx.close()


def map_point(page, lat_disp: float, lon_disp: float) -> tuple[float, float]:
    """Page coordinates of a point given in the basemap's datum, after centring the map on it at street zoom."""
    page.evaluate("window.scrollTo(0, 0)")
    return tuple(page.evaluate("""([la, lo]) => { const m = SMPlanner.state.map; m.setView([la, lo], 13, {animate: false});
        const p = m.latLngToContainerPoint(L.latLng(la, lo)); const r = m.getContainer().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y]; }""", [lat_disp, lon_disp]))


def test_double15_picture(planner):
    page = planner
    assert not page.locator("#sm-double15").is_hidden()
    assert "双15" in page.inner_text("#sm-question") and "电动车15分钟" in page.inner_text("#sm-question")
    assert page.locator("#sm-districts tbody tr").count() == 5
    assert page.locator("#sm-townships tbody tr").count() == 87
    assert page.locator("#sm-gaps tbody tr").count() == 20
    assert page.evaluate("SMPlanner.state.cells") > 100  # the uncovered people, drawn as cells
    labels = page.eval_on_selector_all(".sm-site-icon .sm-site-label", "els => els.map(e => e.textContent)")
    assert labels == ["1", "2", "3"]
    assert "最优方案" in page.inner_text("#sm-method") or "近似方案" in page.inner_text("#sm-method")
    assert page.evaluate("SMPlanner.count") == 135
    assert not page.errors


def test_asked_again_answers_from_memory(planner):
    page = planner
    page.fill("input[name=n]", "3")
    page.click("#sm-plan-form button[type=submit]")
    page.wait_for_function("() => SMPlanner.state.answered", timeout=5_000)
    assert page.evaluate("SMPlanner.state.run.cached") is True
    assert "min_stations=2" in page.url


def test_two_taps_what_if_and_plan(planner, registry_dir, tmp_path):
    page = planner
    cell = "rows => rows.map(r => r.cells[5].textContent)"
    gaps = [tuple(map(float, g.split(","))) for g in page.eval_on_selector_all("#sm-gaps tbody tr", cell)]
    sites = [tuple(map(float, g.split(","))) for g in page.eval_on_selector_all("#sm-sites tbody tr", cell)]
    # GCJ-02 (the Amap basemap's datum) gap centres clear of the suggested sites' markers
    taps = [g for g in gaps if all(distance_m(*g, *s) > 1500 for s in sites)][:2]
    x, y = map_point(page, *taps[0])
    page.mouse.click(x, y)
    page.wait_for_function("() => SMPlanner.state.whatifCount >= 1", timeout=10_000)
    first = page.inner_text("#sm-wi-newly")
    x, y = map_point(page, *taps[1])
    page.mouse.click(x, y)
    page.wait_for_function("() => SMPlanner.state.whatif && SMPlanner.state.whatif.added.length === 2", timeout=10_000)
    assert page.inner_text("#sm-wi-newly") != first
    doc = page.evaluate("SMPlanner.state.whatif")
    assert doc["coverage"]["1"]["gained"] > 0 and doc["coverage"]["2"]["after"] >= doc["coverage"]["2"]["before"]
    for tap, site in zip(taps, doc["added"]):  # the tapped GCJ-02 point, back in WGS-84 (metres of map clicks)
        lon, lat = coordTransform.gcj02_to_wgs84(tap[1], tap[0])
        assert distance_m(lat, lon, site["lat"], site["lon"]) < 60

    with page.expect_download() as dl:
        page.click("#sm-export")
    download = dl.value
    name = download.suggested_filename
    assert name.startswith("plan_ebike15min_2stations_model_") and name.endswith(".csv")
    path = tmp_path / name
    download.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 2 and all("双15" in r["question"] for r in rows)
    for r in rows:
        lat, lon = float(r["纬度"]), float(r["经度"])
        glon, glat = coordTransform.wgs84_to_gcj02(lon, lat)
        assert distance_m(glat, glon, float(r["纬度(GCJ-02 高德)"]), float(r["经度(GCJ-02 高德)"])) < 1.0
        to = parse_qs(urlsplit(r["高德链接"]).query)["to"][0].split(",")
        assert math.isclose(float(to[0]), float(r["经度(GCJ-02 高德)"]), abs_tol=1e-6)
        back = coordTransform.gcj02_to_wgs84(float(to[0]), float(to[1]))
        assert distance_m(back[1], back[0], lat, lon) < 3.0  # the link lands on the spot (one-step inverse: 1-2 m)
    result = stationmap("import", str(path), "--merge", "--dry-run", "--data-dir", str(registry_dir))
    assert result.exit_code == 0, result.output
    assert "would add 2" in result.output
    assert not page.errors


def test_a_queued_question_is_cancelled(planner, live_server):
    page = planner
    data_dir = live_server.app.extensions["stationmap"].data_dir
    with open(data_dir / "jobs.runner0.lock", "a+") as lock:
        deadline = time.monotonic() + 60  # the last runner exits once idle (STATIONMAP_JOB_IDLE_EXIT_S)
        while True:  # holding its slot, no runner can take the question: it stays queued
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "a runner kept its slot"
                time.sleep(0.2)
        try:
            page.fill("input[name=minutes]", "")
            page.fill("input[name=reach_m]", "3350")
            page.fill("input[name=n]", "0")
            page.click("#sm-plan-form button[type=submit]")
            page.wait_for_function("() => document.getElementById('sm-progress').dataset.state === 'queued'",
                                   timeout=10_000)
            assert "排队计算中" in page.inner_text("#sm-progress-text")
            page.click("#sm-cancel")
            page.wait_for_function("() => document.getElementById('sm-progress').dataset.state === 'cancelled'",
                                   timeout=10_000)
            assert "已取消" in page.inner_text("#sm-progress-text")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    assert not page.errors
