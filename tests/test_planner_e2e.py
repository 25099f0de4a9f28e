"""The planner in headless Chromium: the 双15 picture by e-bike (polled until answered, siting's best plan so far
shown while it computed), every township's population source, two taps on the map and the what-if numbers, the
plan downloaded (GCJ-02 columns and Amap links checked with coordTransform, an independent datum
implementation), the import accepting it, a queued question cancelled, and the planner's own demand layer
(refused row by row, then used: coverage checked against a geodesic brute force; hostile names stay text)."""
from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import math
import os
import signal
import subprocess
import time
from urllib.parse import parse_qs, urlsplit

import coordTransform
import pytest
from cli_runner import stationmap
from webserver import loopback_page

import numpy as np
from geographiclib.geodesic import Geodesic
from pyproj import Geod

from stationmap.geo import geography
from stationmap.ops.telemetry import open_telemetry
from stationmap.ops.usage import demand_rows
from stationmap.store import open_store

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
    assert "模型估算人口" in page.inner_text("#sm-demand-line") and not page.locator("#sm-modelled").is_hidden()
    assert not page.errors


def test_siting_showed_its_best_plan_so_far(planner):
    page = planner
    assert page.evaluate("SMPlanner.state.incumbents") >= 1  # polled while the runner was proving optimality
    seen = page.evaluate("SMPlanner.state.incumbent")
    final = page.evaluate("(() => { const c = SMPlanner.state.cache; "
                          "return c[Object.keys(c).find(u => u.includes('/api/suggest'))]; })()")
    assert len(seen["sites"]) == 3 and seen["stage_zh"]
    assert seen["value"] <= final["model_total"] + 1e-6  # the answer is at least as good as any plan shown
    if seen["upper_bound"] is not None:  # and a bound shown holds for it
        assert seen["upper_bound"] >= final["model_total"] - 1e-6
    assert page.locator(".sm-site-draft").count() == 0 and page.locator("#sm-incumbent").is_hidden()


def test_every_township_says_where_its_population_comes_from(planner):
    page = planner
    rows = page.eval_on_selector_all("#sm-townships tbody tr",
                                     "rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent, "
                                     "r.cells[3].textContent])")
    frame = geography.townships()
    sources = {(t.name, t.district_name): getattr(t, "population_source", None) for t in frame.itertuples()}
    assert len(rows) == 87
    for name, district, shown in rows:
        source = sources[(name, district)]
        if not isinstance(source, str) or source == "modelled":
            assert shown == "模型估算", (name, shown)
        else:  # a cited figure: census or published, with its year where known
            assert shown != "模型估算" and ("普查" in shown or "公开数字" in shown), (name, shown)
            assert not source.split()[1:2] or source.split()[1] in shown or "年份不详" in shown
    districts = page.eval_on_selector_all("#sm-districts tbody tr", "rows => rows.map(r => r.cells[2].textContent)")
    assert districts == ["2020年人口普查（区县总数）"] * 5


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


def _runners(data_dir) -> list[int]:
    """Process ids of the question runners serving this data directory."""
    found = subprocess.run(["pgrep", "-f", f"stationmap.query.jobs run --data-dir {data_dir} "], capture_output=True,
                           text=True)
    return [int(pid) for pid in found.stdout.split()]


def test_a_queued_question_is_cancelled(planner, live_server):
    page = planner
    data_dir = live_server.app.extensions["stationmap"].data_dir
    with open(data_dir / "jobs.runner0.lock", "a+") as lock:
        # the last runner is idle (every earlier question is answered): end it now rather than wait for its idle exit
        for pid in _runners(data_dir):
            with contextlib.suppress(ProcessLookupError):  # it may have just exited by itself
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while True:  # holding its slot, no runner can take the question: it stays queued
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "a runner kept its slot"
                time.sleep(0.02)
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


HOSTILE = "<img src=x onerror=window.__pwned=1>热点"


def _brute_points(stations, reach: float) -> list[tuple[float, float, int]]:
    """(lat, lon, stations within reach) for points 1 and 5 km north and south of each open station, by geodesic
    brute force (pyproj's Geod: Karney's algorithm, not our projected circles), keeping those clear of every
    circle's edge and inside Jieyang."""
    geod = Geod(ellps="WGS84")
    s_lat, s_lon = np.array([s.lat for s in stations]), np.array([s.lon for s in stations])
    out = []
    for shift in (0.009, -0.009, 0.045, -0.045):
        for s in stations:
            lat, lon = s.lat + shift, s.lon
            d = geod.inv(np.full(s_lon.size, lon), np.full(s_lat.size, lat), s_lon, s_lat)[2]
            if np.abs(d - reach).min() > 30 and geography.in_jieyang(lat, lon):
                out.append((lat, lon, int((d <= reach).sum())))
    return out


def test_own_demand_layer(planner, live_server):
    page = planner
    data_dir = live_server.app.extensions["stationmap"].data_dir
    store = open_store(data_dir)
    visits = demand_rows(open_telemetry(data_dir), store)
    page.select_option("#sm-demand-layer", "visits")
    if not visits:  # no smart station has counted anything on this server: said plainly, the model stays
        page.wait_for_function("() => document.getElementById('sm-demand-status').dataset.state === 'none'",
                               timeout=10_000)
        assert "没有可用的到访计数" in page.inner_text("#sm-demand-status")
        assert page.evaluate("SMPlanner.state.demand") is None and page.input_value("#sm-demand-layer") == ""

    bad = "纬度,经度,人数\n23.5501,116.3728,10\n23.5501,116.3728,很多\n"
    page.set_input_files("#sm-demand-file", files=[{"name": HOSTILE + ".csv", "mimeType": "text/csv",
                                                    "buffer": bad.encode()}])
    page.wait_for_function("() => document.getElementById('sm-demand-status').dataset.state === 'error'", timeout=10_000)
    said = page.inner_text("#sm-demand-status")
    assert "第 3 行" in said and HOSTILE in said and page.evaluate("SMPlanner.state.demand") is None

    stations = [s for s in store.all() if s.status == "open"]
    reach = page.evaluate("SMPlanner.state.reach_m")
    k = page.evaluate("SMPlanner.state.q.min_stations")
    found = _brute_points(stations, reach)
    picked = [next(p for p in found if p[2] >= 2), next(p for p in found if p[2] == 1), next(p for p in found if p[2] == 0)]
    weights = (100, 20, 3)
    good = "纬度,经度,人数\n" + "".join(f"{la:.6f},{lo:.6f},{w}\n" for (la, lo, _), w in zip(picked, weights))
    page.set_input_files("#sm-demand-file", files=[{"name": HOSTILE + ".csv", "mimeType": "text/csv",
                                                    "buffer": good.encode()}])
    page.wait_for_function("() => document.getElementById('sm-demand-line').textContent.includes('上传的需求图层') "
                           "&& SMPlanner.state.answered", timeout=60_000)
    expected = sum(w for (_, _, n), w in zip(picked, weights) if n >= k)
    assert page.inner_text("#sm-city-covered") == f"{expected:,}"
    assert HOSTILE in page.inner_text("#sm-demand-line") and page.locator("#sm-modelled").is_hidden()
    assert page.inner_text("#sm-card-covered") == "覆盖的需求（权重）"
    shown = page.eval_on_selector_all("#sm-townships tbody tr", "rows => rows.map(r => r.cells[3].textContent)")
    assert set(shown) == {"上传的需求图层：" + HOSTILE + ".csv"}
    assert "demand=demand-" in page.get_attribute("#sm-downloads a", "href")
    assert page.locator("#sm-report img, #sm-demand img").count() == 0 and page.evaluate("window.__pwned") is None

    page.select_option("#sm-demand-layer", "")  # back to the model: the questions no longer name the layer
    assert page.evaluate("SMPlanner.state.demand") is None
    assert "demand=" not in page.get_attribute("#sm-downloads a", "href")
    assert not page.errors
