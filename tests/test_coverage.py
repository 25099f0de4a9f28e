"""Coverage, the demand layer, gaps and what-if: checked against geographiclib and point sampling."""
import csv
import io
import json
import math
import random

import numpy as np
import pytest
import shapely
from cli_runner import stationmap
from geographiclib.geodesic import Geodesic
from openpyxl import Workbook
from oracles import township_by_polygons

from stationmap.errors import InvalidInput
from stationmap.files.exports import write_gaps
from stationmap.geo import geography
from stationmap.geo.metric import to_metric, to_wgs84
from stationmap.model import make_station
from stationmap.present import gaps_csv, gaps_geojson
from stationmap.query.coverage import coverage, gaps, what_if
from stationmap.query.demand import default_demand, load_demand
from stationmap.store import load_sample

G = Geodesic.WGS84
EBIKE_15 = 15 * 60 * 15 / 3.6 / 1.3  # 2,885 m


@pytest.fixture(scope="module")
def stations():
    return load_sample()


@pytest.fixture(scope="module")
def demand():
    return default_demand()


def geodesic_counts(lats, lons, stations, reach):
    """Stations within `reach` of each point by geographiclib (a cheap box prefilter first); and the
    smallest |distance - reach| seen, to tell boundary cases."""
    s_lat = np.array([s.lat for s in stations])
    s_lon = np.array([s.lon for s in stations])
    counts, margin = [], []
    for lat, lon in zip(lats, lons):
        dy = np.abs(s_lat - lat) * 110_500
        dx = np.abs(s_lon - lon) * 111_320 * math.cos(math.radians(lat))
        near = np.flatnonzero(np.hypot(dx, dy) < reach * 1.05 + 100)
        ds = [G.Inverse(lat, lon, s_lat[j], s_lon[j])["s12"] for j in near]
        counts.append(sum(d <= reach for d in ds))
        margin.append(min([abs(d - reach) for d in ds], default=math.inf))
    return np.array(counts), np.array(margin)


def ellipsoidal_area_km2(geom):
    """Area on the WGS-84 ellipsoid by geographiclib, ring by ring (holes subtracted)."""
    total = 0.0
    for poly in getattr(geom, "geoms", [geom]):
        for k, ring in enumerate([poly.exterior, *poly.interiors]):
            p = G.Polygon()
            for lon, lat in list(ring.coords)[:-1]:
                p.AddPoint(lat, lon)
            total += abs(p.Compute(False, True)[2]) * (1 if k == 0 else -1)
    return total / 1e6


# -- the demand layer ------------------------------------------------------------------------------

def test_default_demand_holds_census_totals_exactly(demand):
    census = geography.districts()["population_2020"].to_dict()
    totals = demand.totals("district")
    assert set(totals) == set(census)
    for code, total in census.items():
        assert totals[code] == total  # whole people, exact
    assert demand.total == 5_577_814
    assert np.all(demand.weight == np.round(demand.weight)) and demand.weight.min() >= 0
    assert demand.modelled and "modelled" in demand.label
    assert (demand.township != "").all()
    assert set(demand.township) == set(geography.township_areas().index)  # every township has people
    # every point lies in the city and in its own district
    d = geography.districts()
    rng = np.random.default_rng(1)
    for i in rng.choice(len(demand), 200, replace=False):
        assert d.geometry[demand.district[i]].covers(shapely.Point(demand.lon[i], demand.lat[i]))


def test_default_demand_is_a_250m_grid(demand):
    x, y = demand.x, demand.y
    assert np.allclose((x - 125) % 250, 0) and np.allclose((y - 125) % 250, 0)
    area_km2 = geography.districts()["area_km2"].sum()
    assert abs(len(demand) * 0.0625 - area_km2) / area_km2 < 0.01


def _csv(path, rows, header):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_load_demand_points_csv_xlsx_and_gcj02(tmp_path):
    rows = [(23.55, 116.37, 120), (23.30, 116.17, 80.5), (23.04, 116.29, "1,000")]
    d = load_demand(_csv(tmp_path / "d.csv", rows, ["纬度", "经度", "人数"]))
    assert d.total == pytest.approx(1200.5) and not d.modelled and len(d) == 3
    assert list(d.district) == ["445202", "445281", "445224"]
    wb = Workbook()
    ws = wb.active
    ws.append(["name", "lat", "lon", "weight"])
    from stationmap.geo.datums import from_wgs84
    for i, (lat, lon, _) in enumerate(rows):
        glat, glon = from_wgs84(lat, lon, "gcj02")
        ws.append([f"depot {i}", glat, glon, 10])
    wb.save(tmp_path / "d.xlsx")
    g = load_demand(tmp_path / "d.xlsx", crs="gcj02")
    for lat, lon, la2, lo2 in zip([r[0] for r in rows], [r[1] for r in rows], g.lat, g.lon):
        assert G.Inverse(lat, lon, la2, lo2)["s12"] < 0.01


def test_load_demand_polygons_lines_and_census_table(tmp_path):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"population": 5000},
         "geometry": {"type": "Polygon", "coordinates": [[[116.35, 23.53], [116.39, 23.53], [116.39, 23.56], [116.35, 23.56], [116.35, 23.53]]]}},
        {"type": "Feature", "properties": {"population": 300},
         "geometry": {"type": "LineString", "coordinates": [[116.16, 23.29], [116.19, 23.31]]}},
        {"type": "Feature", "properties": {"population": 40}, "geometry": {"type": "Point", "coordinates": [116.29, 23.04]}},
    ]}
    path = tmp_path / "d.geojson"
    path.write_text(json.dumps(fc))
    d = load_demand(path)
    assert d.total == pytest.approx(5340)
    assert len(d) > 30  # the polygon is spread over its 250 m cells, the line every 250 m
    table = _csv(tmp_path / "t.csv", [("榕华街道", 50_000), ("445281001", 70_000), ("惠来县", 1_000_000)], ["乡镇", "人口"])
    t = load_demand(table)
    assert t.modelled
    assert t.totals("township")["445202001"] == pytest.approx(50_000)
    assert t.totals("township")["445281001"] == pytest.approx(70_000)
    assert t.totals("district")["445224"] == pytest.approx(1_000_000)


@pytest.mark.parametrize("content, name, words", [
    ("lat,lon,weight\n23.55,116.37,-5\n", "neg.csv", ["weight", "-5", "row 2"]),
    ("lat,lon,weight\n23.55,116.37,many\n", "nan.csv", ["'many'"]),
    ("lat,lon,weight\n31.23,121.47,5\n", "far.csv", ["outside Jieyang", "row 2"]),
    ("foo,bar\n1,2\n", "cols.csv", ["latitude", "foo"]),
    ("lat,lon,weight\n23.55,116.37,0\n", "zero.csv", ["0"]),
    ("乡镇,人口\n火星镇,5\n", "unit.csv", ["火星镇"]),
    ("hello", "d.txt2", ["unknown type"]),
    ("{not json", "bad.geojson", ["cannot read"]),
])
def test_load_demand_rejects_bad_files(tmp_path, content, name, words):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput) as exc:
        load_demand(path)
    for w in words:
        assert w in str(exc.value)
    with pytest.raises(InvalidInput, match="does not exist"):
        load_demand(tmp_path / "missing.csv")


# -- coverage --------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2])
def test_point_counts_match_geographiclib(stations, demand, k):
    result = coverage(stations, EBIKE_15, min_stations=k)
    rng = np.random.default_rng(10 + k)
    idx = rng.choice(len(demand), 1500, replace=False)
    counts, margin = geodesic_counts(demand.lat[idx], demand.lon[idx], stations, EBIKE_15)
    differ = counts != result.counts[idx]
    assert np.all(margin[differ] < 0.5), "only points within 0.5 m of a circle may differ"
    assert (counts >= k).sum() > 100  # the sample really exercises covered points


@pytest.mark.parametrize("k", [1, 2])
def test_shares_match_sampling(stations, demand, k):
    result = coverage(stations, EBIKE_15, min_stations=k)
    d = result.to_dict()
    # Area share per district by uniform random points (geodesic distances by geographiclib)
    rng = np.random.default_rng(20 + k)
    districts = geography.districts()
    for code in ("445202", "445281"):
        poly = districts.geometry[code]
        minx, miny, maxx, maxy = poly.bounds
        lon = rng.uniform(minx, maxx, 6000)
        lat = rng.uniform(miny, maxy, 6000)
        x0, y0 = to_metric(lon, lat)  # uniform in area: sample in metric coordinates instead
        mx, my = rng.uniform(x0.min(), x0.max(), 6000), rng.uniform(y0.min(), y0.max(), 6000)
        lon, lat = to_wgs84(mx, my)
        inside = shapely.contains_xy(poly, lon, lat)
        lon, lat = lon[inside][:1200], lat[inside][:1200]
        counts, _ = geodesic_counts(lat, lon, stations, EBIKE_15)
        share = (counts >= k).mean()
        assert abs(share - d["districts"][code]["area_share"]) < 0.045  # > 3 standard errors at n=1200
    # Population: covered people per district = weights of demand points that geographiclib says are covered
    sel = np.flatnonzero(demand.district == "445202")
    sample = rng.choice(sel, 1500, replace=False)
    counts, _ = geodesic_counts(demand.lat[sample], demand.lon[sample], stations, EBIKE_15)
    w = demand.weight[sample]
    est = (w * (counts >= k)).sum() / w.sum()
    assert abs(est - d["districts"]["445202"]["population_share"]) < 0.05


def test_result_shape_and_consistency(stations):
    result = coverage(stations, 1500, min_stations=1)
    d = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert d["population_modelled"] is True and "modelled" in d["population_label"]
    assert set(d["districts"]) == set(geography.districts().index)
    assert set(d["townships"]) == set(geography.township_areas().index)
    for entry in [d["city"], *d["districts"].values(), *d["townships"].values()]:
        for key in ("area_km2", "covered_area_km2", "area_share", "population", "covered_population", "population_share"):
            assert key in entry
        assert 0 <= entry["area_share"] <= 1 and 0 <= entry["population_share"] <= 1
        assert entry["population_modelled"] is True
    assert sum(e["population"] for e in d["districts"].values()) == pytest.approx(d["city"]["population"])
    assert sum(e["covered_population"] for e in d["townships"].values()) == pytest.approx(d["city"]["covered_population"])
    assert sum(e["covered_area_km2"] for e in d["districts"].values()) == pytest.approx(d["city"]["covered_area_km2"], rel=1e-3)
    # polygons are WGS-84 and split the city
    city = geography.city().geometry.iloc[0]
    assert result.covered.within(city.buffer(1e-6))
    assert abs(result.covered.area + result.uncovered.area - city.area) / city.area < 1e-3
    gj = result.to_geojson()
    assert [f["properties"]["coverage"] for f in gj["features"]] == ["covered", "uncovered"]


def _station(name, lat, lon):
    return make_station({"name": name, "lat": lat, "lon": lon})


def test_areas_match_geodesic_circle_and_lens():
    lat0, lon0, r = 23.30, 116.10, 1000.0
    city = geography.city().geometry.iloc[0]
    ring = [G.Direct(lat0, lon0, az, 2600) for az in range(0, 360, 10)]
    assert all(city.covers(shapely.Point(p["lon2"], p["lat2"])) for p in ring)  # the circles are on land
    east = G.Direct(lat0, lon0, 90, 1500)
    one = coverage([_station("a", lat0, lon0)], r)
    assert one.city["covered_area_km2"] == pytest.approx(math.pi * r * r / 1e6, rel=1e-3)
    two = coverage([_station("a", lat0, lon0), _station("b", east["lat2"], east["lon2"])], r, min_stations=2)
    d = 1500.0
    lens = 2 * r * r * math.acos(d / (2 * r)) - d / 2 * math.sqrt(4 * r * r - d * d)
    assert two.city["covered_area_km2"] == pytest.approx(lens / 1e6, rel=2e-3)


def test_what_if_adds_and_removes_without_touching_the_registry(registry_dir):
    from stationmap.store import open_store

    store = open_store(registry_dir)
    before_file = (registry_dir / "stations.gpkg").read_bytes()
    stations = store.all()
    base = coverage(stations, 1000)
    site = (23.10, 116.00)
    wi = what_if(stations, 1000, add=[site], remove=[stations[0].id])
    after = coverage(stations, 1000, add=[site], remove=[stations[0].id])
    assert wi.after.city == after.city and wi.before.city == base.city
    change = wi.to_dict()["change"]["city"]
    assert change["covered_population"] == pytest.approx(after.city["covered_population"] - base.city["covered_population"])
    only_add = coverage(stations, 1000, add=[site])
    assert only_add.city["covered_population"] >= base.city["covered_population"]
    assert coverage(stations, 1000, remove=[s.id for s in stations]).city["covered_population"] == 0
    assert (registry_dir / "stations.gpkg").read_bytes() == before_file
    assert store.all() == stations


@pytest.mark.parametrize("kw, words", [
    ({"reach_m": 0}, ["0", "50,000"]),
    ({"reach_m": 60_000}, ["60000"]),
    ({"reach_m": 1000, "min_stations": 3}, ["3", "1", "2"]),
    ({"reach_m": 1000, "remove": ["no-such-id"]}, ["'no-such-id'"]),
    ({"reach_m": 1000, "add": [(31.2, 121.5)]}, ["outside Jieyang"]),
    ({"reach_m": 1000, "add": [("x", 116.3)]}, ["'x'"]),
    ({"reach_m": 1000, "status": "gone"}, ["'gone'"]),
])
def test_coverage_rejects_bad_arguments(stations, kw, words):
    with pytest.raises(InvalidInput) as exc:
        coverage(stations, **kw)
    for w in words:
        assert w in str(exc.value)


def test_coverage_with_own_demand_counts_exactly(stations, tmp_path):
    rng = random.Random(7)
    rows = [(rng.uniform(23.25, 23.6), rng.uniform(116.1, 116.45), rng.randint(1, 50)) for _ in range(60)]
    rows = [r for r in rows if geography.in_jieyang(r[0], r[1])]
    d = load_demand(_csv(tmp_path / "own.csv", rows, ["lat", "lon", "weight"]))
    result = coverage(stations, 2000, demand=d)
    counts, margin = geodesic_counts([r[0] for r in rows], [r[1] for r in rows], stations, 2000)
    assert np.all(margin > 0.5)
    expected = sum(w for (_, _, w), c in zip(rows, counts) if c >= 1)
    assert result.city["covered_population"] == pytest.approx(expected)
    assert result.city["population"] == pytest.approx(sum(r[2] for r in rows))
    assert result.to_dict()["population_modelled"] is False


# -- gaps ------------------------------------------------------------------------------------------

def test_gaps_hold_all_uncovered_people_ranked(stations, demand, tmp_path):
    result = coverage(stations, EBIKE_15, min_stations=2)
    found = result.gaps()
    pops = [g.population for g in found]
    assert pops == sorted(pops, reverse=True) and [g.rank for g in found] == list(range(1, len(found) + 1))
    uncovered = result.city["population"] - result.city["covered_population"]
    assert sum(pops) == pytest.approx(uncovered)
    towns = geography.township_areas()
    agree = 0
    for g in found[:40]:
        assert geography.in_jieyang(g.lat, g.lon)
        assert g.geometry.buffer(1e-6).covers(shapely.Point(g.lon, g.lat))
        assert towns.loc[g.township, "district"] == g.district
        agree += township_by_polygons(g.lat, g.lon)[1] == g.township
    assert agree >= 38
    for g in found[:10]:  # areas on the ellipsoid, not on the projection's plane (off by up to 4e-4 here)
        assert g.area_km2 == pytest.approx(ellipsoidal_area_km2(g.geometry), rel=3e-5)
    top = gaps(stations, EBIKE_15, min_stations=2, limit=5)
    assert [g.to_dict() for g in top] == [g.to_dict() for g in found[:5]]
    rows = list(csv.DictReader(io.StringIO(gaps_csv(top))))
    assert [float(r["population"]) for r in rows] == [round(g.population, 1) for g in top]
    gj = gaps_geojson(top)
    assert len(gj["features"]) == 5 and gj["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert gaps_geojson(top, "point")["features"][0]["geometry"]["type"] == "Point"
    write_gaps(top, tmp_path / "g.csv", "csv")
    assert (tmp_path / "g.csv").read_text(encoding="utf-8-sig").startswith("rank,")
    write_gaps(top, tmp_path / "g.geojson", "geojson")
    assert len(json.loads((tmp_path / "g.geojson").read_text())["features"]) == 5


# -- CLI -------------------------------------------------------------------------------------------

def invoke(*args, data_dir):
    """`stationmap ARGS` through the real entry point, main(): (exit code, stdout), or (exit code, stderr) on failure."""
    result = stationmap(*args, "--data-dir", data_dir)
    return result.exit_code, (result.stdout if result.exit_code == 0 else result.stderr)


def test_cli_coverage_gaps(registry_dir, tmp_path):
    code, out = invoke("coverage", "--minutes", "15", "--mode", "ebike", "--min-stations", "2", "--json", data_dir=registry_dir)
    assert code == 0
    d = json.loads(out)
    assert d["min_stations"] == 2 and d["reach_m"] == pytest.approx(EBIKE_15, abs=0.1)
    assert d["population_modelled"] is True and set(d["districts"]) == set(geography.districts().index)
    code, out = invoke("coverage", "--reach-m", "2000", data_dir=registry_dir)
    assert code == 0 and "榕城区" in out and "modelled" in out
    code, out = invoke("coverage", "--reach-m", "2000", "--add", "23.10,116.00", "--json", data_dir=registry_dir)
    assert code == 0 and json.loads(out)["added"] == [{"lat": 23.10, "lon": 116.00}]
    out_file = tmp_path / "gaps.csv"
    code, _ = invoke("gaps", "--reach-m", "2000", "--format", "csv", "-o", out_file, "--limit", "7", data_dir=registry_dir)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out_file.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 7 and rows[0]["population_modelled"] == "True"
    code, out = invoke("gaps", "--reach-m", "2000", "--format", "geojson", "--limit", "3", data_dir=registry_dir)
    assert code == 0 and len(json.loads(out)["features"]) == 3
    code, out = invoke("gaps", "--minutes", "15", data_dir=registry_dir)
    assert code == 0 and "people" in out


@pytest.mark.parametrize("args", [
    ("coverage", "--reach-m", "0"),
    ("coverage", "--reach-m", "70000"),
    ("coverage", "--minutes", "15", "--mode", "bus"),
    ("coverage", "--reach-m", "1000", "--minutes", "15"),
    ("coverage", "--min-stations", "3"),
    ("gaps", "--demand", "no-such-file.csv"),
])
def test_cli_bad_reach_exits_2(registry_dir, args):
    code, message = invoke(*args, data_dir=registry_dir)
    assert code == 2 and message.startswith("error: ") and "\n" not in message.strip(), message


@pytest.mark.parametrize("k", [1, 2])
def test_uncovered_cells_hold_every_uncovered_person(stations, demand, k):
    """The map's cells: their people add up to the uncovered people, split by 0 and 1 station within reach,
    and each uncovered demand point lies in a cell (checked on WGS-84 corners from the metric grid)."""
    cov = coverage(stations, EBIKE_15, k)
    cells = cov.uncovered_cells()
    rows = np.array(cells["cells"], float)
    short = cov.counts < k
    assert rows[:, 4].sum() == pytest.approx(demand.weight[cov.counts == 0].sum(), abs=len(rows))
    assert rows[:, 5].sum() == pytest.approx(demand.weight[short & (cov.counts == 1)].sum(), abs=len(rows))
    if k == 1:
        assert rows[:, 5].sum() == 0
    rng = random.Random(4)
    for i in rng.sample(list(np.flatnonzero(short & (demand.weight > 0))), 50):
        lat, lon = demand.lat[i], demand.lon[i]
        inside = (rows[:, 0] - 2e-4 <= lat) & (lat <= rows[:, 2] + 2e-4) & (rows[:, 1] - 2e-4 <= lon) & (lon <= rows[:, 3] + 2e-4)
        assert inside.any()
