"""stationmap.query.search: places, stations and pasted points; coordinates checked with coordTransform
(an independent datum implementation) and geographiclib."""
from __future__ import annotations

import json

import coordTransform
import pytest
from geographiclib.geodesic import Geodesic
from click.testing import CliRunner

from stationmap.cli import cli
from stationmap.errors import InvalidInput
from stationmap.geo import geography
from stationmap.query import search
from stationmap.store import load_sample

# A known WGS-84 point in 榕城区 (near 榕华街道's seat).
LAT, LON = 23.5501, 116.3728


@pytest.fixture(scope="module")
def stations():
    return load_sample()


def metres(a_lat, a_lon, b_lat, b_lon):
    return Geodesic.WGS84.Inverse(a_lat, a_lon, b_lat, b_lon)["s12"]


def test_a_short_form_finds_its_township_first(stations):
    hits = search.search("棉湖", stations)
    assert (hits[0]["type"], hits[0]["name"], hits[0]["district_name"], hits[0]["score"]) == ("township", "棉湖镇", "揭西县", 1.0)
    seat = geography.townships().set_index("name").loc["棉湖镇"].geometry
    assert metres(hits[0]["lat"], hits[0]["lon"], seat.y, seat.x) < 0.2
    assert any(h["type"] == "station" and h["name"].startswith("棉湖镇") for h in hits[1:])


def test_every_official_township_name_and_short_form_finds_itself(stations):
    towns = geography.townships()
    assert len(towns) == 87
    for name in towns["name"]:
        for query in (name, *search.short_forms(name)):
            first = search.search(query, stations, 3)[0]
            assert (first["type"], first["name"], first["score"]) == ("township", name, 1.0), query


def test_short_forms_strip_the_level():
    assert search.short_forms("棉湖镇") == ("棉湖",)
    assert search.short_forms("流沙北街道") == ("流沙北",)
    assert search.short_forms("鲘溪乡") == ("鲘溪",)
    assert search.short_forms("某某街道办事处") == ("某某",)
    assert search.short_forms("乡") == ()


def test_districts_by_name_short_name_and_english(stations):
    for query in ("普宁市", "普宁", "Puning", "puning"):
        first = search.search(query, stations)[0]
        assert (first["type"], first["name"], first["id"]) == ("district", "普宁市", "445281"), query


def test_stations_by_name_and_address(stations):
    s = stations[0]
    first = search.search(s.name, stations)[0]
    assert (first["type"], first["id"], first["score"], first["lat"], first["lon"]) == ("station", s.id, 1.0, s.lat, s.lon)
    by_address = search.search(s.address, stations, 50)
    assert any(h["type"] == "station" and h["id"] == s.id and h["score"] == 0.4 for h in by_address)


def test_ranking_exact_before_prefix_before_substring(stations):
    hits = search.search("流沙", stations, 50)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert {h["name"] for h in hits[:4]} == {"流沙北街道", "流沙西街道", "流沙东街道", "流沙南街道"}  # prefix, shortest first


def test_an_address_typed_in_full_suggests_its_township(stations):
    hits = search.search("揭阳市揭西县棉湖镇新华路1号", stations)
    assert hits[0]["name"] == "棉湖镇" and hits[0]["score"] == 0.5


@pytest.mark.parametrize("url_of", [
    lambda g, b: f"https://uri.amap.com/marker?position={g[0]:.6f},{g[1]:.6f}&name=%E9%A9%BF%E7%AB%99&src=share",
    lambda g, b: f"【高德地图】驿站 揭阳市榕城区 https://uri.amap.com/navigation?to={g[0]:.6f},{g[1]:.6f},驿站&mode=walk",
    lambda g, b: f"https://ditu.amap.com/regeo?lng={g[0]:.6f}&lat={g[1]:.6f}",
    lambda g, b: f"https://www.amap.com/?p=B0FFH1234,{g[1]:.6f},{g[0]:.6f},驿站,地址",
    lambda g, b: f"https://api.map.baidu.com/marker?location={b[1]:.6f},{b[0]:.6f}&title=驿站&content=x&output=html",
    lambda g, b: f"看这里 https://api.map.baidu.com/direction?destination=latlng:{b[1]:.6f},{b[0]:.6f}|name:驿站&mode=walking",
    lambda g, b: f"https://map.baidu.com/?latlng={b[1]:.6f},{b[0]:.6f}&title=驿站",
])
def test_pasted_links_land_within_half_a_metre(stations, url_of):
    g = coordTransform.wgs84_to_gcj02(LON, LAT)  # [lon, lat]
    b = coordTransform.wgs84_to_bd09(LON, LAT)
    hit = search.search(url_of(g, b), stations)[0]
    assert hit["type"] == "coordinates" and hit["district_name"] == "榕城区"
    assert metres(hit["lat"], hit["lon"], LAT, LON) < 0.5
    assert hit["crs"] == ("gcj02" if "amap" in url_of(g, b) else "bd09")


def test_a_link_that_states_its_datum_is_read_in_it(stations):
    b = coordTransform.wgs84_to_gcj02(LON, LAT)
    hit = search.search(f"https://api.map.baidu.com/marker?location={b[1]:.6f},{b[0]:.6f}&coord_type=gcj02", stations)[0]
    assert hit["crs"] == "gcj02" and metres(hit["lat"], hit["lon"], LAT, LON) < 0.5
    hit = search.search(f"https://uri.amap.com/marker?position={LON},{LAT}&coordinate=wgs84", stations)[0]
    assert hit["crs"] == "wgs84" and metres(hit["lat"], hit["lon"], LAT, LON) < 0.01
    with pytest.raises(InvalidInput, match="bd09mc"):
        search.search("https://api.map.baidu.com/marker?location=2685000,12954000&coord_type=bd09mc", stations)


@pytest.mark.parametrize("crs", ["gcj02", "bd09", "wgs84"])
def test_bare_numbers_in_either_order_are_read_in_the_given_datum(stations, crs):
    lon, lat = {"gcj02": coordTransform.wgs84_to_gcj02, "bd09": coordTransform.wgs84_to_bd09,
                "wgs84": lambda x, y: [x, y]}[crs](LON, LAT)
    for text in (f"{lat:.7f},{lon:.7f}", f"{lon:.7f}, {lat:.7f}", f"{lat:.7f} {lon:.7f}", f"{lon:.7f}，{lat:.7f}"):
        hit = search.search(text, stations, crs=crs)[0]
        assert hit["type"] == "coordinates" and hit["source"] == "numbers", text
        assert metres(hit["lat"], hit["lon"], LAT, LON) < 0.5, text


def test_numbers_default_to_gcj02(stations):
    glon, glat = coordTransform.wgs84_to_gcj02(LON, LAT)
    hit = search.search(f"{glat:.7f},{glon:.7f}", stations)[0]
    assert hit["crs"] == "gcj02" and metres(hit["lat"], hit["lon"], LAT, LON) < 0.5


@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "' OR 1=1 --", "{{7*7}}", "${jndi:ldap://x}",
                                  "javascript:alert(1)", "../../etc/passwd", "1,2", "88号 2栋", "\u202e驿站",
                                  "https://evil.example/?position=116.37,23.55"])
def test_hostile_text_is_only_text(stations, text):
    hits = search.search(text, stations)
    assert all(h["type"] != "coordinates" for h in hits)
    assert json.loads(json.dumps(search.answer(text, stations)))["query"] == text.strip()


@pytest.mark.parametrize("query, reason", [("", "give a station"), ("   ", "give a station"), (None, "give a station"),
                                           ("\x00\x01", "give a station"), ("驿" * 201, "201 characters")])
def test_empty_or_oversized_queries_are_refused(stations, query, reason):
    with pytest.raises(InvalidInput, match=reason):
        search.answer(query, stations)


def test_limit_bounds_the_answer(stations):
    assert len(search.search("街道", stations, 5)) == 5
    for bad in (0, 51, True, "3"):
        with pytest.raises(InvalidInput, match="limit"):
            search.search("街道", stations, bad)


def test_answer_shape(stations):
    doc = search.answer("棉湖", stations, 3)
    assert set(doc) == {"query", "crs", "count", "results"} and doc["count"] == len(doc["results"]) <= 3
    for r in doc["results"]:
        assert {"type", "name", "district_name", "lat", "lon", "score", "id"} <= set(r)


def test_client_index_is_small_and_complete():
    doc = search.client_index()
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    assert len(text.encode()) < 10_000
    towns = [p for p in doc["places"] if p["t"] == "township"]
    assert len(towns) == 87 and len([p for p in doc["places"] if p["t"] == "district"]) == 5
    mianhu = next(p for p in towns if p["n"] == "棉湖镇")
    assert mianhu["a"] == ["棉湖"] and mianhu["d"] == "揭西县"
    seat = geography.townships().set_index("name").loc["棉湖镇"].geometry
    assert metres(*mianhu["p"], seat.y, seat.x) < 15  # 4 decimals
    for p in doc["places"]:  # every point lies in its district
        assert geography.districts().set_index("name").loc[p["d"]].geometry.covers(
            __import__("shapely").Point(p["p"][1], p["p"][0])), p["n"]


def test_cli_search(registry_dir):
    result = CliRunner().invoke(cli, ["search", "棉湖", "--json", "--data-dir", str(registry_dir)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["results"][0]["name"] == "棉湖镇"
    table = CliRunner().invoke(cli, ["search", "棉湖", "--data-dir", str(registry_dir)])
    assert table.exit_code == 0 and "棉湖镇" in table.output


def test_station_matches_are_every_station_holding_the_text_and_only_those():
    """Against a plain test of every station (NFKC + casefold of each name and address), over a registry with
    line breaks, full-width letters and case in its names."""
    import dataclasses
    import random
    import unicodedata

    from stationmap.store import load_sample

    base = load_sample()
    odd = ["Ａｂｃ驿站\n二楼", "ABC 驿站", "站\r\n站", "  空格驿站  ", "ß街驿站"]
    stations = base + [dataclasses.replace(base[i], id=f"x{i}", name=n, address=f"{n}路{i}号")
                       for i, n in enumerate(odd)]
    text = search.StationText(stations)

    def fold(t: str) -> str:
        return unicodedata.normalize("NFKC", t).casefold().strip()

    rng = random.Random(5)
    needles = ["abc", "驿站", "站", "ss", "空格", "二楼", "路1", "榕城", "zz"]
    for s in rng.sample(stations, 20):
        name = fold(s.name)
        i = rng.randrange(len(name))
        needles.append(name[i:i + rng.randint(1, 3)].strip() or "站")
    for needle in needles:
        want = [i for i, s in enumerate(stations)
                if needle in fold(s.name).replace("\n", " ") or needle in fold(s.address).replace("\n", " ")]
        assert text.holding(needle) == want, needle
