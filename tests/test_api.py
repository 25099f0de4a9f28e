"""The JSON API through the running app: stations, filters, nearest, planning, boundaries, errors, CORS, OpenAPI."""
from __future__ import annotations

import importlib.util
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
from geographiclib.geodesic import Geodesic
from webserver import answered

from stationmap.geo import datums

PROBLEM = "application/problem+json"


def get(server, path, **params):
    """A GET; costly questions (coverage, gaps, suggest) are polled until answered."""
    return answered(lambda: requests.get(server.url + path, params=params, timeout=60))


def problem(resp, status):
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith(PROBLEM)
    body = resp.json()
    assert set(body) >= {"type", "title", "status", "detail"} and body["status"] == status and body["detail"]
    return body


@pytest.fixture(scope="module")
def stations(live_server):
    resp = get(live_server, "/api/stations")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/geo+json")
    return resp.json()


def test_stations_feature_collection(stations):
    assert stations["type"] == "FeatureCollection" and stations["sample_data"] is True
    assert len(stations["features"]) == 135
    kinds = [f["properties"]["kind"] for f in stations["features"]]
    assert kinds.count("smart") == 16
    for f in stations["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert 115.5 < lon < 116.7 and 22.8 < lat < 23.9  # RFC 7946: lon, lat in WGS-84
        p = f["properties"]
        assert p["demo"] is True and p["hours_zh"] and p["district_name"]


def test_station_carries_datums_and_navigation_links(stations):
    f = stations["features"][0]
    lon, lat = f["geometry"]["coordinates"]
    p = f["properties"]
    glat, glon = datums.from_wgs84(lat, lon, "gcj02")
    blat, blon = datums.from_wgs84(lat, lon, "bd09")
    assert p["coords"]["gcj02"] == pytest.approx([glon, glat], abs=1e-6)
    assert p["coords"]["bd09"] == pytest.approx([blon, blat], abs=1e-6)
    shift_m = Geodesic.WGS84.Inverse(lat, lon, glat, glon)["s12"]
    assert 400 < shift_m < 700  # GCJ-02 is ~550 m off in Jieyang: the links must use it, not WGS-84

    amap = urlsplit(p["nav"]["amap"])
    assert (amap.scheme, amap.netloc, amap.path) == ("https", "uri.amap.com", "/navigation")
    q = {k: v[0] for k, v in parse_qs(amap.query).items()}
    to_lon, to_lat, to_name = q["to"].split(",", 2)
    assert (float(to_lon), float(to_lat)) == pytest.approx((glon, glat), abs=2e-6)
    assert to_name == p["name"] and q["coordinate"] == "gaode" and q["callnative"] == "1" and q["mode"] == "walk"

    baidu = urlsplit(p["nav"]["baidu"])
    assert (baidu.netloc, baidu.path) == ("api.map.baidu.com", "/direction")
    q = {k: v[0] for k, v in parse_qs(baidu.query).items()}
    latlng, name = unquote(q["destination"]).split("|")
    assert tuple(map(float, latlng.removeprefix("latlng:").split(","))) == pytest.approx((blat, blon), abs=2e-6)
    assert name == "name:" + p["name"]
    assert q["coord_type"] == "bd09ll" and q["output"] == "html" and q["src"].startswith("webapp.")


def test_filters(live_server, stations):
    smart = get(live_server, "/api/stations", kind="smart").json()["features"]
    assert len(smart) == 16 and all(f["properties"]["kind"] == "smart" for f in smart)
    puning = get(live_server, "/api/stations", district="普宁市").json()["features"]
    assert puning and all(f["properties"]["district"] == "445281" for f in puning)
    assert get(live_server, "/api/stations", district="445281").json()["features"] == puning
    micro = get(live_server, "/api/stations", amenity="微波炉,toilet").json()["features"]
    assert micro and all({"microwave", "toilet"} <= set(f["properties"]["amenities"]) for f in micro)
    assert len(micro) < 135
    opened = get(live_server, "/api/stations", open_now="true").json()["features"]
    assert all(f["properties"]["open_now"] is True for f in opened)
    box = (116.3, 23.5, 116.45, 23.6)
    inside = get(live_server, "/api/stations", bbox=",".join(map(str, box))).json()["features"]
    assert inside and all(box[0] <= f["geometry"]["coordinates"][0] <= box[2] for f in inside)
    assert len(inside) < 135
    name = stations["features"][3]["properties"]["name"]
    found = get(live_server, "/api/stations", q=name[:6]).json()["features"]
    assert any(f["properties"]["name"] == name for f in found)


def test_one_station_and_unknown_id(live_server, stations):
    sid = stations["features"][5]["id"]
    one = get(live_server, f"/api/stations/{sid}")
    assert one.status_code == 200 and one.json()["id"] == sid and one.json()["properties"]["nav"]["amap"]
    body = problem(get(live_server, "/api/stations/st-doesnotexist"), 404)
    assert "st-doesnotexist" in body["detail"]


def test_nearest_is_geodesic_and_sorted(live_server):
    lat, lon = 23.548, 116.372
    body = get(live_server, "/api/nearest", lat=lat, lon=lon, k=5, amenity="microwave").json()
    res = body["results"]
    assert len(res) == 5 and body["origin"]["in_jieyang"] is True
    dists = [r["distance_m"] for r in res]
    assert dists == sorted(dists)
    for r in res:
        assert r["distance_m"] == pytest.approx(Geodesic.WGS84.Inverse(lat, lon, r["lat"], r["lon"])["s12"], abs=0.1)
        assert "microwave" in r["amenities"] and set(r["minutes"]) == {"walk", "ebike", "car"}
        assert r["nav"]["amap"].startswith("https://uri.amap.com/navigation?to=")
    # the same place given in GCJ-02 (as Amap or WeChat report it) finds the same stations
    glat, glon = datums.from_wgs84(lat, lon, "gcj02")
    twin = get(live_server, "/api/nearest", lat=glat, lon=glon, k=5, amenity="microwave", crs="gcj02").json()["results"]
    assert [r["id"] for r in twin] == [r["id"] for r in res]
    assert [r["distance_m"] for r in twin] == pytest.approx(dists, abs=0.5)


@pytest.mark.parametrize("params, words", [
    ({"lat": 23.5}, "lon"), ({"lat": "x", "lon": 116.3}, "number"), ({"lat": 23.5, "lon": 116.3, "k": 0}, "k"),
    ({"lat": 23.5, "lon": 116.3, "k": 51}, "k"), ({"lat": 23.5, "lon": 116.3, "crs": "utm"}, "crs"),
    ({"lat": 23.5, "lon": 116.3, "amenity": "swimming pool"}, "amenity"), ({"lat": 95, "lon": 116.3}, "lat"),
    ({"lat": 23.5, "lon": 116.3, "bogus": 1}, "bogus"),
])
def test_nearest_bad_input_is_a_clear_400(live_server, params, words):
    assert words in problem(get(live_server, "/api/nearest", **params), 400)["detail"]


def test_coverage_json_csv_geojson(live_server):
    body = get(live_server, "/api/coverage", minutes=15, mode="ebike").json()
    assert body["population_modelled"] is True and "modelled" in body["population_note"]
    assert set(body["districts"]) == {"445202", "445203", "445222", "445224", "445281"}
    for key in ("area_km2", "covered_area_km2", "area_share", "population", "covered_population", "population_share"):
        assert key in body["city"]
    assert 0 < body["city"]["population_share"] <= 1
    two = get(live_server, "/api/coverage", minutes=15, mode="ebike", min_stations=2).json()
    assert two["city"]["population_share"] < body["city"]["population_share"]
    csv = get(live_server, "/api/coverage", reach_m=2000, format="csv")
    assert csv.headers["Content-Type"].startswith("text/csv") and csv.text.startswith("\ufeffquestion,level,code,name")
    assert len(csv.text.splitlines()) == 1 + 1 + 5 + 87  # header, city, districts, townships
    gj = get(live_server, "/api/coverage", reach_m=2000, format="geojson").json()
    assert [f["properties"]["coverage"] for f in gj["features"]] == ["covered", "uncovered"]


def test_gaps(live_server):
    body = get(live_server, "/api/gaps", minutes=15, mode="walk", limit=5).json()
    pops = [g["population"] for g in body["gaps"]]
    assert len(pops) == 5 and pops == sorted(pops, reverse=True)
    assert all(g["township_name"] and g["district_name"] for g in body["gaps"])
    csv = get(live_server, "/api/gaps", minutes=15, mode="walk", limit=5, format="csv")
    assert len(csv.text.strip().splitlines()) == 6
    assert len(get(live_server, "/api/gaps", minutes=15, mode="walk", limit=5, format="geojson").json()["features"]) == 5


@pytest.mark.skipif(importlib.util.find_spec("stationmap.query.siting") is None, reason="stationmap.query.siting not written yet")
def test_suggest(live_server):
    body = get(live_server, "/api/suggest", n=3, minutes=15, mode="ebike").json()
    assert len(body["sites"]) == 3 and "method" in body
    csv = get(live_server, "/api/suggest", n=3, minutes=15, mode="ebike", format="csv")
    assert csv.status_code == 200 and len(csv.text.strip().splitlines()) == 4
    problem(get(live_server, "/api/suggest", n=1000, reach_m=1000), 400)


def test_reach_errors(live_server):
    assert "reach" in problem(get(live_server, "/api/coverage"), 400)["detail"]
    assert "not both" in problem(get(live_server, "/api/coverage", reach_m=100, minutes=5), 400)["detail"]
    problem(get(live_server, "/api/coverage", reach_m=0), 400)
    problem(get(live_server, "/api/coverage", reach_m=60000), 400)
    problem(get(live_server, "/api/coverage", minutes=15, mode="plane"), 400)
    problem(get(live_server, "/api/coverage", reach_m=500, min_stations=3), 400)


def test_boundaries_and_health(live_server):
    d = get(live_server, "/api/districts").json()
    assert {f["properties"]["name"] for f in d["features"]} == {"榕城区", "揭东区", "揭西县", "惠来县", "普宁市"}
    assert len(get(live_server, "/api/townships").json()["features"]) == 87
    seats = get(live_server, "/api/townships", layer="seats").json()["features"]
    assert len(seats) == 87 and seats[0]["geometry"]["type"] == "Point"
    h = get(live_server, "/healthz").json()
    assert h == {**h, "status": "ok", "stations": 135, "sample_data": True}


def test_cors_only_for_configured_origin(live_server):
    ok = requests.get(live_server.url + "/api/stations", headers={"Origin": "https://union.example"}, timeout=30)
    assert ok.headers.get("Access-Control-Allow-Origin") == "https://union.example"
    other = requests.get(live_server.url + "/api/stations", headers={"Origin": "https://evil.example"}, timeout=30)
    assert "Access-Control-Allow-Origin" not in other.headers


def test_methods_other_than_get_are_refused_as_json(live_server):
    problem(requests.post(live_server.url + "/api/nearest", json={}, timeout=30), 405)
    problem(requests.delete(live_server.url + "/ogcapi/collections", timeout=30), 405)


def test_openapi_documents_every_route_and_only_those(live_server):
    doc = get(live_server, "/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    import re

    routes = {(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), m.lower())
              for rule in live_server.app.url_map.iter_rules() if rule.endpoint not in ("static", "pages.index")
              for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert {(p, m) for p, item in doc["paths"].items() for m in item} == routes
    # every documented query parameter is one the view accepts (no 'unknown parameter' refusal)
    for path, item in doc["paths"].items():
        for param in item.get("get", {}).get("parameters", ()):
            if param["in"] != "query":
                continue
            url = path.replace("{station_id}", "x").replace("{collection_id}", "stations").replace("{feature_id}", "x")
            resp = requests.get(live_server.url + url, params={param["name"]: "1"}, timeout=60)
            if resp.status_code >= 400 and resp.headers["Content-Type"].startswith(PROBLEM):
                assert "unknown parameter" not in resp.json()["detail"], (path, param["name"])


def test_http_errors_say_what_to_do(live_server):
    assert "/api/openapi.json" in problem(get(live_server, "/api/no-such-route"), 404)["detail"]
    refused = requests.put(live_server.url + "/api/stations", timeout=30)
    assert "GET" in problem(refused, 405)["detail"] and "POST" in refused.headers["Allow"]
    big = requests.post(live_server.url + "/api/auth/login", data=b"{" + b" " * 1_100_000 + b"}",
                        headers={"Content-Type": "application/json"}, timeout=30)
    assert "bytes" in problem(big, 413)["detail"]
    for params in ({"k": "²"}, {"k": "+-5"}):  # str.isdigit() accepts these, int() does not
        assert "whole number" in problem(get(live_server, "/api/nearest", lat=23.5, lon=116.3, **params), 400)["detail"]
    assert "at least 0" in problem(get(live_server, "/api/coverage", minutes=-1), 400)["detail"]


@pytest.mark.parametrize("path, words", [
    ("/embed?zoom=abc&basemap=foo&district=xx", "district"),
    ("/embed?zoom=abc", "zoom"),
    ("/embed?basemap=foo", "basemap"),
    ("/planner?minutes=-1", "at least 0"),
    ("/map?center=91,200", "center"),
    ("/no-such-page", "/map"),
])
def test_pages_with_bad_parameters_answer_with_a_short_page(live_server, path, words):
    resp = requests.get(live_server.url + path, timeout=30)
    assert 400 <= resp.status_code < 500 and resp.headers["Content-Type"].startswith("text/html")
    assert words in resp.text and "Traceback" not in resp.text
    assert "参数有误" in resp.text or "找不到" in resp.text  # Chinese first
