"""stationmap.present: the command line and the API give the same nearest answer, field for field."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from stationmap.cli import cli
from stationmap.geo import datums, geography


@pytest.fixture
def client(registry_dir):
    from web import create_app

    return create_app({"data_dir": str(registry_dir)}).test_client()


def cli_json(*args: object, data_dir) -> dict:
    result = CliRunner().invoke(cli, ["nearest", *map(str, args), "--json", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("crs, amenity", [("wgs84", None), ("gcj02", "microwave")])
def test_cli_json_equals_api_nearest(registry_dir, client, crs, amenity):
    lat, lon = datums.from_wgs84(23.55, 116.37, crs)
    args = (lat, lon, "-k", 3, "--crs", crs) + (("--amenity", amenity) if amenity else ())
    from_cli = cli_json(*args, data_dir=registry_dir)
    query = {"lat": lat, "lon": lon, "k": 3, "crs": crs, **({"amenity": amenity} if amenity else {})}
    resp = client.get("/api/nearest", query_string=query)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    from_api = resp.get_json()
    assert from_cli.pop("time") and from_api.pop("time")
    assert from_cli == from_api
    assert from_api["count"] == 3 and from_api["origin"]["crs"] == "wgs84"
    assert {"coords", "nav"} <= set(from_api["results"][0])


# -- navigation links, the far rule and the open state, without the web app ------------------------
from datetime import datetime  # noqa: E402
from urllib.parse import parse_qs, unquote, urlsplit  # noqa: E402

import coordTransform  # noqa: E402
from geographiclib.geodesic import Geodesic  # noqa: E402

from stationmap import present  # noqa: E402
from stationmap.geo.datums import from_wgs84  # noqa: E402
from stationmap.errors import InvalidInput  # noqa: E402
from stationmap.hours import TZ  # noqa: E402
from stationmap.model import make_station  # noqa: E402
from stationmap.query.nearest import nearest  # noqa: E402
from stationmap.store import load_sample  # noqa: E402

DEST, ORIGIN = (23.5501, 116.3728), (23.5402, 116.3601)


def _query(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize("mode, amap_mode, baidu_mode", [("walk", "walk", "walking"), ("ebike", "ride", "riding"),
                                                         ("car", "car", "driving"), ("电动车", "ride", "riding")])
def test_links_land_on_the_station_in_each_apps_datum_and_mode(mode, amap_mode, baidu_mode):
    """Checked against coordTransform's forward transforms (an independent implementation), to ~0.1 m."""
    links = present.nav_links(*DEST, "测试驿站,一号", mode, ORIGIN)
    amap, baidu = _query(links["amap"]), _query(links["baidu"])
    assert urlsplit(links["amap"]).netloc == "uri.amap.com" and urlsplit(links["baidu"]).netloc == "api.map.baidu.com"
    assert (amap["mode"], amap["coordinate"], baidu["mode"], baidu["coord_type"]) == (amap_mode, "gaode", baidu_mode, "bd09ll")
    for (lat, lon), field_amap, field_baidu in ((DEST, "to", "destination"), (ORIGIN, "from", "origin")):
        glon, glat = coordTransform.wgs84_to_gcj02(lon, lat)
        alon, alat, aname = amap[field_amap].split(",")
        assert abs(float(alon) - glon) < 2e-6 and abs(float(alat) - glat) < 2e-6
        blon, blat = coordTransform.wgs84_to_bd09(lon, lat)
        parts = dict(p.split(":", 1) for p in baidu[field_baidu].split("|"))
        la, lo = map(float, parts["latlng"].split(","))
        assert abs(la - blat) < 2e-6 and abs(lo - blon) < 2e-6
    assert amap["to"].endswith("测试驿站，一号") and "name:测试驿站，一号" in baidu["destination"]


def test_links_without_an_origin_start_where_the_phone_is_and_default_to_walking():
    links = present.nav_links(*DEST, "驿站")
    assert "from" not in _query(links["amap"]) and "origin" not in _query(links["baidu"])
    assert _query(links["amap"])["mode"] == "walk" and _query(links["baidu"])["mode"] == "walking"
    with pytest.raises(InvalidInput, match="travel mode"):
        present.nav_links(*DEST, "驿站", "plane")


def test_the_page_templates_fill_to_the_same_links():
    """What the page script does with nav_config (string replacement) gives the library's links."""
    cfg = present.nav_config()
    assert cfg["default"] == "walk" and cfg["modes"] == ["walk", "ebike", "car"]
    for key, app in cfg["apps"].items():
        olat, olon = from_wgs84(*ORIGIN, app["crs"])
        dlat, dlon = from_wgs84(*DEST, app["crs"])
        start = app["origin"].replace("{olat}", f"{olat:.6f}").replace("{olon}", f"{olon:.6f}")
        url = (app["url"].replace("{origin}", start).replace("{mode}", app["modes"]["ebike"])
               .replace("{lat}", f"{dlat:.6f}").replace("{lon}", f"{dlon:.6f}").replace("{name}", "%E9%A9%BF%E7%AB%99"))
        assert url == present.nav_links(*DEST, "驿站", "ebike", ORIGIN)[key]
        assert "{" not in unquote(url)


def test_far_outside_jieyang_no_minutes_but_the_distance_to_the_city():
    stations = load_sample()
    now = datetime(2025, 6, 2, 12, 0, tzinfo=TZ)
    guangzhou = (23.1291, 113.2644)
    doc = present.nearest_answer(nearest(stations, *guangzhou, k=3), *guangzhou, "wgs84", now, mode="ebike")
    assert doc["far"] is True and doc["mode"] == "ebike" and doc["origin"]["in_jieyang"] is False
    assert all("minutes" not in r for r in doc["results"])
    # Brute force: the geodesic distance to the nearest vertex of the city outline (geographiclib).
    outline = geography.city().geometry.iloc[0].boundary
    coords = [c for line in getattr(outline, "geoms", [outline]) for c in line.coords]
    brute = min(Geodesic.WGS84.Inverse(*guangzhou, lat, lon)["s12"] for lon, lat in coords)
    assert abs(doc["origin"]["to_jieyang_m"] - brute) < 1000
    home = present.nearest_answer(nearest(stations, *DEST, k=3), *DEST, "wgs84", now)
    assert home["far"] is False and home["origin"]["to_jieyang_m"] == 0 and all("minutes" in r for r in home["results"])
    # Just over the border (Shantou side) is not far: minutes still mean something there.
    near = (23.45, 116.70)
    assert present.nearest_answer(nearest(stations, *near, k=1), *near, "wgs84", now)["far"] is False


def test_open_state_one_rule():
    base = {"name": "测试驿站", "lat": 23.5501, "lon": 116.3728, "hours": "08:00-18:00"}
    noon, night = datetime(2025, 6, 2, 12, 0, tzinfo=TZ), datetime(2025, 6, 2, 23, 0, tzinfo=TZ)
    outdoor, smart = make_station(base), make_station({**base, "kind": "smart"})
    assert present.open_state(outdoor, noon)["zh"] == "正在开放"
    unknown = present.open_state(smart, noon, {"state": "unknown"})
    assert (unknown["open"], unknown["zh"], unknown["basis"]) == (True, "按时开放", "hours")
    assert present.open_state(smart, noon, None)["zh"] == "按时开放"  # never 正在开放 without a live report
    closed_live = present.open_state(smart, noon, {"state": "closed"})
    assert (closed_live["open"], closed_live["zh"], closed_live["basis"]) == (False, "实时：已关闭", "live")
    assert present.open_state(smart, night, {"state": "open"})["open"] is True  # a fresh report wins over hours
    assert present.open_state(outdoor, night)["zh"] == "现在关闭"
    assert present.open_state(make_station({**base, "hours": ""}), noon)["open"] is None
    suspended = make_station({**base, "status": "暂停"})
    assert present.open_state(suspended, noon, {"state": "open"})["label"] == "suspended"
    feature = present.station_feature(smart, noon, live={})
    assert feature["properties"]["live"] == {"state": "unknown"} and feature["properties"]["open_state"]["zh"] == "按时开放"


def test_cli_nearest_hands_over_in_the_workers_mode_from_the_question_point(registry_dir):
    doc = cli_json(*DEST, "-k", 2, "--mode", "ebike", data_dir=registry_dir)
    assert doc["mode"] == "ebike" and doc["far"] is False
    for r in doc["results"]:
        amap = _query(r["nav"]["amap"])
        assert amap["mode"] == "ride" and _query(r["nav"]["baidu"])["mode"] == "riding"
        glon, glat = coordTransform.wgs84_to_gcj02(DEST[1], DEST[0])
        olon, olat = map(float, amap["from"].split(",")[:2])
        assert abs(olon - glon) < 2e-6 and abs(olat - glat) < 2e-6
        assert r["open_state"]["zh"] in {t[0] for t in present.OPEN_LABELS.values()}
