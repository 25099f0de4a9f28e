"""A planner's own demand layer through the API (Flask test client on a real registry directory): files checked
like an import (every problem by row or feature, Chinese and English, nothing kept on refusal), sizes bounded,
datums converted (checked with coordTransform), the smart stations' counted visits as a layer (or a plain
"none"), and coverage over a layer checked against a geodesic brute force."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import coordTransform
import numpy as np
import pytest
from geographiclib.geodesic import Geodesic
from shapely.geometry import Point

from stationmap.errors import NotFound
from stationmap.geo import geography

from stationmap.ops.accounts import open_accounts
from stationmap.ops.telemetry import build_report, open_telemetry
from stationmap.query import demand_files, demand_keep, jobs
from stationmap.store import open_store

PROBLEM = "application/problem+json"


@pytest.fixture
def client(registry_dir):
    from web import create_app

    app = create_app({"data_dir": str(registry_dir), "rate_limit_public": "100000/minute"})
    return app.test_client()


def _kept(registry_dir: Path) -> list[Path]:
    return sorted((registry_dir / demand_keep.DIRNAME).glob("*")) if (registry_dir / demand_keep.DIRNAME).exists() else []


def _post(client, body: bytes | str, name: str, **params):
    data = body.encode("utf-8") if isinstance(body, str) else body
    return client.post("/api/demand", query_string={"name": name, **params}, data=data,
                       content_type="application/geo+json" if name.endswith("json") else "text/csv")


def test_a_csv_layer_is_checked_kept_and_named(client, registry_dir):
    text = "纬度,经度,人数\n23.5501,116.3728,120\n23.3000,116.1700,\"1,050\"\n"
    resp = _post(client, text.encode("gb18030"), "配送热点.csv")  # Excel in China saves GBK
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert demand_keep.KEY.match(doc["demand"]) and doc["points"] == 2 and doc["total"] == 1170
    assert doc["modelled"] is False and doc["label_zh"] == "上传的需求图层：配送热点.csv"
    assert [p.name for p in _kept(registry_dir)] == [f"{doc['demand']}.npz"]
    layer = demand_keep.load(registry_dir, doc["demand"])
    assert np.allclose(layer.lat, [23.5501, 23.3]) and np.allclose(layer.weight, [120, 1050])
    districts = geography.districts()  # each point in the district polygon that holds it
    for la, lo, code in zip(layer.lat, layer.lon, layer.district):
        assert districts.geometry[code].contains(Point(lo, la))


def test_every_problem_is_named_by_row_and_nothing_is_kept(client, registry_dir):
    text = ("lat,lon,weight,坐标系\n"
            "23.55,116.37,abc,\n"       # row 2: weight
            "91,116.30,5,\n"            # row 3: latitude
            "23.55,116.37,5,高德\n"      # row 4: fine (GCJ-02)
            "23.55,116.37,5,mars\n"     # row 5: datum
            "39.90,116.40,3,wgs84\n")   # row 6: Beijing
    resp = _post(client, text, "bad.csv")
    assert resp.status_code == 400 and resp.headers["Content-Type"].startswith(PROBLEM)
    detail = resp.get_json()["detail"]
    for zh, en in (("第 2 行", "row 2: weight"), ("第 3 行", "row 3: latitude"), ("第 5 行", "row 5: datum"),
                   ("第 6 行", "row 6: (39.90000, 116.40000) lies outside Jieyang")):
        assert zh in detail and en in detail
    assert "第 4 行" not in detail and "4 problem(s)" in detail
    assert _kept(registry_dir) == []
    missing = _post(client, "name,people\nA,3\n", "no_coords.csv")
    assert missing.status_code == 400 and "纬度" in missing.get_json()["detail"]
    assert _post(client, b"", "empty.csv").status_code == 400
    assert _kept(registry_dir) == []


def test_sizes_are_bounded(client, registry_dir):
    rows = "lat,lon,weight\n" + "23.5501,116.3728,1\n" * (demand_files.MAX_ROWS + 1)
    resp = _post(client, rows, "many.csv")
    assert resp.status_code == 400 and f"{demand_files.MAX_ROWS + 1:,} rows" in resp.get_json()["detail"]
    big = b"lat,lon,weight\n" + b"23.5501,116.3728,1" + b" " * (demand_files.MAX_BYTES + 10) + b"\n"
    resp = _post(client, big, "big.csv")
    assert resp.status_code == 413 and resp.headers["Content-Type"].startswith(PROBLEM)
    city = {"type": "Polygon", "coordinates": [[[115.5, 22.8], [116.7, 22.8], [116.7, 23.9], [115.5, 23.9], [115.5, 22.8]]]}
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"weight": 1}, "geometry": city}] * 3}
    resp = _post(client, json.dumps(doc), "cities.geojson")  # three city-sized polygons spread into too many points
    assert resp.status_code == 400 and "at most 200,000" in resp.get_json()["detail"]
    assert _kept(registry_dir) == []


def test_datum_column_converts_each_row(client, registry_dir):
    lat, lon = 23.5501, 116.3728
    g_lon, g_lat = coordTransform.wgs84_to_gcj02(lon, lat)
    b_lon, b_lat = coordTransform.wgs84_to_bd09(lon, lat)
    text = f"lat,lon,weight,datum\n{lat},{lon},1,wgs84\n{g_lat},{g_lon},2,gcj02\n{b_lat},{b_lon},3,百度\n"
    resp = _post(client, text, "datums.csv")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    layer = demand_keep.load(registry_dir, resp.get_json()["demand"])
    for la, lo in zip(layer.lat, layer.lon):  # all three rows are the same place
        assert Geodesic.WGS84.Inverse(la, lo, lat, lon)["s12"] < 3.0
    whole = _post(client, f"lat,lon,weight\n{g_lat},{g_lon},2\n", "amap.csv", crs="gcj02")
    layer = demand_keep.load(registry_dir, whole.get_json()["demand"])
    assert Geodesic.WGS84.Inverse(layer.lat[0], layer.lon[0], lat, lon)["s12"] < 3.0


def test_geojson_points_and_polygons(client, registry_dir):
    square = [[[116.35, 23.53], [116.40, 23.53], [116.40, 23.57], [116.35, 23.57], [116.35, 23.53]]]
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"人数": 1000}, "geometry": {"type": "Polygon", "coordinates": square}},
        {"type": "Feature", "properties": {"人数": 300}, "geometry": {"type": "Point", "coordinates": [116.3728, 23.5501]}}]}
    resp = _post(client, json.dumps(doc), "areas.geojson")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    out = resp.get_json()
    assert out["total"] == pytest.approx(1300) and out["points"] > 100  # the square spread over 250 m cells
    layer = demand_keep.load(registry_dir, out["demand"])
    inside = (layer.lon >= 116.35) & (layer.lon <= 116.40) & (layer.lat >= 23.53) & (layer.lat <= 23.57)
    assert inside.all() and layer.weight.sum() == pytest.approx(1300)
    bad = {"type": "FeatureCollection", "features": [
        doc["features"][1],
        {"type": "Feature", "properties": {"人数": -1}, "geometry": {"type": "Point", "coordinates": [116.37, 23.55]}},
        {"type": "Feature", "properties": {"人数": 5}, "geometry": {"type": "GeometryCollection", "geometries": []}},
        {"type": "Feature", "properties": {"人数": 5}, "geometry": {"type": "Polygon", "coordinates": [
            [[121.0, 31.0], [121.1, 31.0], [121.1, 31.1], [121.0, 31.0]]]}}]}
    resp = _post(client, json.dumps(bad), "bad.geojson")
    detail = resp.get_json()["detail"]
    assert resp.status_code == 400
    for zh, en in (("第 2 个要素", "feature 2: weight"), ("第 3 个要素", "feature 3: geometry"),
                   ("第 4 个要素", "feature 4: lies outside Jieyang")):
        assert zh in detail and en in detail
    assert _post(client, "{not json", "broken.geojson").status_code == 400
    assert _kept(registry_dir) == [registry_dir / demand_keep.DIRNAME / f"{out['demand']}.npz"]


def test_unknown_and_malformed_layer_keys(client):
    resp = client.get("/api/coverage?minutes=15&mode=ebike&demand=demand-0123456789abcdef")
    assert resp.status_code == 404 and "重新上传" in resp.get_json()["detail"]
    resp = client.get("/api/gaps?minutes=15&mode=ebike&demand=../../etc/passwd")
    assert resp.status_code == 400 and resp.headers["Content-Type"].startswith(PROBLEM)


def test_counted_visits_as_demand(client, registry_dir):
    resp = client.get("/api/demand/visits")
    assert resp.status_code == 200 and resp.get_json()["available"] is False
    assert "没有可用的到访计数" in resp.get_json()["message_zh"]
    store, accounts, tel = open_store(registry_dir), open_accounts(registry_dir), open_telemetry(registry_dir)
    smart = [s for s in store.all() if s.kind == "smart"][:2]
    for s, visits in zip(smart, (40, 25)):
        body, sig = build_report(accounts.issue_device_key(s), s.id, visits=visits)
        tel.receive(store, accounts, s.id, body, sig, 300)
    doc = client.get("/api/demand/visits").get_json()
    assert doc["available"] is True and doc["total"] == 65 and doc["points"] == 2
    assert "2 个驿站" in doc["label_zh"] and doc["note_zh"]
    layer = demand_keep.load(registry_dir, doc["demand"])
    stations = store.all()
    # visits stand at the stations that counted them: an open station reaches them, whatever the reach
    answer = jobs.compute(jobs.Question("coverage", 500.0, 1, 0, doc["demand"]), stations, registry_dir)
    open_smart = sum(v for s, v in zip(smart, (40, 25)) if s.status == "open")
    assert answer["table"]["city"]["covered_population"] == pytest.approx(open_smart)
    assert answer["table"]["demand"]["label_zh"] == layer.label_zh


def test_coverage_over_a_layer_matches_geodesic_brute_force(client, registry_dir):
    stations = [s for s in open_store(registry_dir).all() if s.status == "open"]
    rng = np.random.default_rng(7)
    pts = np.column_stack((rng.uniform(23.40, 23.62, 40), rng.uniform(116.20, 116.45, 40)))
    reach = 3000.0
    counts = [sum(Geodesic.WGS84.Inverse(la, lo, s.lat, s.lon)["s12"] <= reach for s in stations) for la, lo in pts]
    margin = [min(abs(Geodesic.WGS84.Inverse(la, lo, s.lat, s.lon)["s12"] - reach) for s in stations) for la, lo in pts]
    inside = geography.in_jieyang_many(pts[:, 0], pts[:, 1])
    keep = [i for i, m in enumerate(margin) if m > 5 and inside[i]]  # in the city, clear of the circles' edges
    assert len(keep) > 20 and 0 < sum(counts[i] >= 2 for i in keep) < len(keep)
    text = "lat,lon,weight\n" + "".join(f"{pts[i, 0]:.6f},{pts[i, 1]:.6f},{i + 1}\n" for i in keep)
    key = _post(client, text, "random.csv").get_json()["demand"]
    for k in (1, 2):
        answer = jobs.compute(jobs.Question("coverage", reach, k, 0, key), stations, registry_dir)
        expected = sum(i + 1 for i in keep if counts[i] >= k)
        assert answer["table"]["city"]["covered_population"] == pytest.approx(expected)
        assert answer["table"]["city"]["population"] == pytest.approx(sum(i + 1 for i in keep))


def test_layers_expire(registry_dir):
    layer = demand_files.read_upload(b"lat,lon,weight\n23.5501,116.3728,1\n", "a.csv")
    demand_keep.save(registry_dir, layer)
    assert demand_keep.sweep(registry_dir, now=time.time() + demand_keep.KEEP_S - 60) == 0
    assert demand_keep.sweep(registry_dir, now=time.time() + demand_keep.KEEP_S + 60) == 1
    with pytest.raises(NotFound, match="gone"):
        demand_keep.load(registry_dir, layer.key)


def test_what_if_over_a_layer(client, registry_dir):
    stations = [s for s in open_store(registry_dir).all() if s.status == "open"]
    far = (23.05, 116.05)  # 惠来/普宁 hills: no station within 3 km (checked below)
    near = (stations[0].lat, stations[0].lon)
    reach = 3000.0
    assert geography.in_jieyang(*far)
    assert all(Geodesic.WGS84.Inverse(*far, s.lat, s.lon)["s12"] > reach + 100 for s in stations)
    key = _post(client, f"lat,lon,weight\n{far[0]},{far[1]},7\n{near[0]},{near[1]},5\n", "two.csv").get_json()["demand"]
    resp = client.post(f"/api/whatif?reach_m={reach:.0f}&demand={key}", json={"add": [[far[0] + 0.005, far[1]]]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = resp.get_json()
    one = doc["coverage"]["1"]
    assert one["before"] == pytest.approx(5) and one["after"] == pytest.approx(12) and one["gained"] == pytest.approx(7)
    assert "two.csv" in doc["question"]["demand"] and "two.csv" in doc["population_note"]


def test_every_figure_in_the_coverage_file_says_where_it_comes_from(registry_dir):
    from stationmap import present
    from stationmap.api import planning

    table = jobs.compute(jobs.Question("coverage", 3000.0), open_store(registry_dir).all(), registry_dir)["table"]
    out = planning._sources(table, None)
    frame = geography.townships()
    cited = frame["population_source"].to_dict() if "population_source" in frame else {}
    for code, t in out["townships"].items():
        source = cited.get(code) if isinstance(cited.get(code), str) else "modelled"
        assert t["population_source"] == source
        assert (t["population_source_zh"] == "模型估算") == (source == "modelled")
    rows = planning._source_columns(present.coverage_rows(out), out, None)
    assert len(rows) == 1 + 5 + 87 and all(r["population_source"] and r["population_source_zh"] for r in rows)
    # a townships layer without sources (older geodata) leaves every township modelled, not missing
    bare = planning._sources({**table, "townships": {"445202999": {"name": "x"}}}, None)
    assert bare["townships"]["445202999"]["population_source_zh"] == "模型估算"
    assert planning.source_zh("census 2020") == "2020年人口普查"
    assert planning.source_zh("published 2019 (registered)") == "公开数字（2019年，户籍人口）"
    assert planning.source_zh("published undated (total)") == "公开数字（年份不详，总人口）"


def test_at_most_so_many_layers_are_kept(registry_dir, monkeypatch):
    monkeypatch.setattr(demand_keep, "MAX_KEPT", 3)
    keys = []
    for i in range(5):
        layer = demand_files.read_upload(f"lat,lon,weight\n23.5501,116.3728,{i + 1}\n".encode(), f"{i}.csv")
        keys.append(demand_keep.save(registry_dir, layer))
        os.utime(registry_dir / demand_keep.DIRNAME / f"{keys[-1]}.npz", (time.time() + i, time.time() + i))
    assert sorted(p.stem for p in _kept(registry_dir)) == sorted(keys[-3:])  # the least recently sent went first
