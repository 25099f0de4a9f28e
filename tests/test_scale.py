"""Station loading that scales: /api/stations in pages, bbox by an index, clusters per zoom, and the map page
over a registry too large to carry (a synthetic 20,000-station registry spread like China's cities; the
184,200-station check is benchmarks/bench_map_scale.py)."""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from pyproj import Transformer

from stationmap import config
from stationmap.api import Request, Service
from stationmap.model import Station
from stationmap.store import MemoryStore, load_sample, open_store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from common import national_stations  # noqa: E402

N = 20_000
MB = 1_000_000


def synthetic(n: int = N) -> list[Station]:
    """n stations spread like China's cities (benchmarks/common.py), a ninth of them smart, with sample hours."""
    lats, lons = national_stations(n)
    sample = load_sample()
    return [Station(f"n{i:06d}", f"站{i}", "outdoor" if i % 9 else "smart", "open", float(a), float(b), "445202",
                    "445202001", amenities=("microwave",) if i % 3 == 0 else (), hours=sample[i % len(sample)].hours)
            for i, (a, b) in enumerate(zip(lats, lons))]


@pytest.fixture(scope="module")
def big() -> list[Station]:
    return synthetic()


@pytest.fixture(scope="module")
def svc(big) -> Service:
    return Service(config.load_settings({"data_dir": tempfile.mkdtemp(prefix="scale-")}), store=MemoryStore(big))


def ask(svc: Service, target: str) -> tuple[int, bytes]:
    parts = urlsplit(target)
    answer = svc.handle(Request.make("GET", parts.path + ("?" + parts.query if parts.query else "")))
    return answer.status, answer.body


def walk(svc: Service, target: str) -> tuple[list[dict], list[int]]:
    """Every feature of a paged answer, following next links; and each page's size in bytes."""
    feats, sizes, seen = [], [], set()
    while target:
        assert target not in seen
        seen.add(target)
        status, body = ask(svc, target)
        assert status == 200
        sizes.append(len(body))
        doc = json.loads(body)
        assert doc["numberReturned"] == len(doc["features"])
        feats += doc["features"]
        nxt = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        assert all(h.startswith("http://") for h in nxt)  # absolute
        target = nxt[0] if nxt else ""
    return feats, sizes


def brute(stations: list[Station], box) -> list[str]:
    w, s, e, n = box
    return [st.id for st in stations if w <= st.lon <= e and s <= st.lat <= n]


def test_unpaged_request_is_one_bounded_page_and_paging_walks_everything_once(svc, big):
    status, body = ask(svc, "/api/stations")
    first = json.loads(body)
    assert status == 200 and len(body) <= MB
    assert first["numberMatched"] == N and first["numberReturned"] == 500
    assert [link["rel"] for link in first["links"]] == ["next"]
    feats, sizes = walk(svc, "/api/stations")
    ids = [f["id"] for f in feats]
    assert len(ids) == len(set(ids)) == N and set(ids) == {s.id for s in big}
    assert max(sizes) <= MB
    odd, _ = walk(svc, "/api/stations?limit=333&kind=smart")
    assert [f["id"] for f in odd] == [s.id for s in sorted(big, key=lambda s: s.id) if s.kind == "smart"]


def test_a_small_registry_still_comes_whole():
    small = Service(config.load_settings({"data_dir": tempfile.mkdtemp(prefix="scale-")}),
                    store=MemoryStore(load_sample()))
    doc = json.loads(ask(small, "/api/stations")[1])
    assert doc["numberMatched"] == doc["numberReturned"] == 135 and doc["links"] == []


def test_bbox_equals_brute_force(svc, big):
    ordered = sorted(big, key=lambda s: s.id)
    rng = np.random.default_rng(7)
    edge = ordered[123]
    boxes = [(116.0, 39.6, 116.8, 40.2), (113.0, 22.3, 114.5, 23.4), (70.0, 0.0, 140.0, 60.0),
             (edge.lon, edge.lat, edge.lon, edge.lat),  # a point box on a station: edges count as inside
             (edge.lon, edge.lat - 1, edge.lon + 1, edge.lat)]
    for _ in range(6):
        w, s = rng.uniform(100, 122), rng.uniform(20, 42)
        boxes.append((w, s, w + rng.uniform(0.05, 3), s + rng.uniform(0.05, 3)))
    for box in boxes:
        q = "bbox=" + ",".join(repr(v) for v in box)
        expected = brute(ordered, box)
        feats, sizes = walk(svc, f"/api/stations?{q}&limit=500")
        assert [f["id"] for f in feats] == expected and max(sizes) <= MB
        ogc = json.loads(ask(svc, f"/ogcapi/collections/stations/items?{q}&limit=1000")[1])
        assert ogc["numberMatched"] == len(expected)
        assert [f["id"] for f in ogc["features"]] == expected[:1000]
    assert edge.id in brute(ordered, boxes[3])


def _cells(stations: list[Station], zoom: int) -> dict[tuple[int, int], list[str]]:
    """Stations by 64-pixel Web-Mercator cell, computed with PROJ's EPSG:3857 (independent of the service's formula)."""
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    half = 20037508.342789244
    x, y = to_merc.transform([s.lon for s in stations], [s.lat for s in stations])
    px = 256 * 2 ** zoom / 64
    ix = np.floor((np.asarray(x) + half) / (2 * half) * px).astype(int)
    iy = np.floor((half - np.asarray(y)) / (2 * half) * px).astype(int)
    out: dict[tuple[int, int], list[str]] = {}
    for s, a, b in zip(stations, ix.tolist(), iy.tolist()):
        out.setdefault((a, b), []).append(s.id)
    return out


@pytest.mark.parametrize("zoom, box", [(4, (73.0, 18.0, 135.0, 54.0)), (9, (112.53, 22.01, 115.07, 24.02)),
                                       (13, (116.2, 39.8, 116.5, 40.0)), (16, (116.38, 39.9, 116.42, 39.93))])
def test_clusters_match_an_independent_grid(svc, big, zoom, box):
    status, body = ask(svc, f"/api/stations/clusters?bbox={','.join(map(str, box))}&zoom={zoom}")
    assert status == 200 and len(body) <= MB
    doc = json.loads(body)
    cells = _cells(big, zoom)
    by_id = {s.id: s for s in big}
    corners = _cells([Station("w", "w", "outdoor", "open", box[3], box[0], "445202", "445202001"),
                      Station("e", "e", "outdoor", "open", box[1], box[2], "445202", "445202001")], zoom)
    (x0, y0), (x1, y1) = sorted(corners)  # the west-north and the east-south corners' cells
    touched = {c: ids for c, ids in cells.items() if x0 <= c[0] <= x1 and y0 <= c[1] <= y1}
    assert doc["numberMatched"] == sum(map(len, touched.values()))
    listed = [r["id"] for r in doc["stations"]]
    assert len(listed) == len(set(listed)) <= 500
    expected_clusters = {}
    for ids in touched.values():
        if not set(ids) <= set(listed):
            lat = np.mean([by_id[i].lat for i in ids])
            lon = np.mean([by_id[i].lon for i in ids])
            expected_clusters[(round(float(lat), 6), round(float(lon), 6))] = (len(ids), sum(by_id[i].kind == "smart" for i in ids))
    got = {(c["lat"], c["lon"]): (c["count"], c["smart"]) for c in doc["clusters"]}
    assert len(got) == len(expected_clusters)
    for (lat, lon), (count, smart) in got.items():
        match = min(expected_clusters, key=lambda k: abs(k[0] - lat) + abs(k[1] - lon))
        assert abs(match[0] - lat) < 1e-5 and abs(match[1] - lon) < 1e-5 and expected_clusters[match] == (count, smart)
    assert sum(c["count"] for c in doc["clusters"]) + len(listed) == doc["numberMatched"]


def test_clusters_refuse_a_view_larger_than_any_screen(svc):
    status, body = ask(svc, "/api/stations/clusters?bbox=73,18,135,54&zoom=14")
    assert status == 400 and "zoom" in json.loads(body)["detail"]
    assert ask(svc, "/api/stations/clusters?bbox=1,2,3&zoom=4")[0] == 400
    assert ask(svc, "/api/stations/clusters?bbox=73,18,135,54&zoom=19")[0] == 400
    assert ask(svc, "/api/stations?limit=501")[0] == 400 and ask(svc, "/api/stations?offset=-1")[0] == 400


# -- the map page over a registry it does not carry ---------------------------------------------------
@pytest.fixture(scope="module")
def big_server(big, tmp_path_factory):
    from webserver import start

    data = tmp_path_factory.mktemp("scale-data")
    server = start({"data_dir": str(data), "store": "memory", "rate_limit_public": "100000/minute"})
    assert open_store(data, "memory").replace_all(big)
    yield server
    server.stop()


def test_map_page_loads_the_view_from_the_service(big_server, chromium):
    from webserver import loopback_page

    ctx, page = loopback_page(chromium)
    sizes: dict[str, int] = {}
    page.on("response", lambda r: sizes.__setitem__(r.url, len(r.body())) if r.url.startswith(big_server.url)
            and r.status == 200 else None)
    try:
        page.goto(big_server.url + "/map?basemap=osm&center=39.91,116.40&zoom=9", wait_until="load")
        page.wait_for_function("() => document.querySelectorAll('.sm-view-cluster').length > 0", timeout=30_000)
        data = json.loads(page.locator("#sm-data").text_content())
        assert data["stations"] == [] and data["remote"]["total"] == N
        clusters = page.evaluate("() => Array.from(document.querySelectorAll('.sm-view-cluster span'))"
                                 ".map(e => +e.textContent)")
        assert sum(clusters) > 100
        page.evaluate("() => { StationMap.state.map.setView([39.905, 116.40], 16); }")  # street scale: the stations
        page.wait_for_function("() => document.querySelectorAll('.sm-pin').length > 0", timeout=30_000)
        shown = page.evaluate("() => StationMap.state.cfg.stations.map(s => s.id)")
        assert shown and all(i.startswith("n") for i in shown)
        page.evaluate("() => StationMap.setUser(39.905, 116.40)")  # the nearest list from /api/nearest
        page.wait_for_function("() => document.querySelectorAll('#sm-list .sm-item').length >= 5", timeout=30_000)
        assert page.errors == []  # tiles (outside) are refused by the test page; nothing else fails
        assert max(sizes.values()) <= MB, max(sizes.items(), key=lambda kv: kv[1])
        assert any("/api/stations/clusters?" in u for u in sizes)
    finally:
        ctx.close()
