"""Geocoding rows without coordinates: a Nominatim server on loopback, and the offline fallback."""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from stationmap.errors import InvalidInput
from stationmap.files.geocode import Geocoder, offline
from stationmap.geo import geography

ANSWER = (23.5432, 116.3611)  # what our Nominatim answers, WGS-84


class NominatimHandler(BaseHTTPRequestHandler):
    """Speaks the part of Nominatim's /search API that geopy uses."""
    queries: list = []

    def do_GET(self):
        q = parse_qs(urlsplit(self.path).query)
        NominatimHandler.queries.append(q.get("q", [""])[0])
        body = json.dumps([{"lat": str(ANSWER[0]), "lon": str(ANSWER[1]), "display_name": "揭阳市 测试",
                            "place_id": 1}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def nominatim():
    server = ThreadingHTTPServer(("127.0.0.1", 0), NominatimHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_configured_nominatim_answers(nominatim):
    hit = Geocoder("nominatim", url=nominatim).geocode("榕华街道临江北路88号")
    assert (hit.lat, hit.lon) == ANSWER and hit.source == "geocoded by nominatim"
    assert "广东省揭阳市榕华街道临江北路88号" in NominatimHandler.queries


def test_unreachable_geocoder_falls_back_to_the_gazetteer(nominatim):
    dead = nominatim.rsplit(":", 1)[0] + ":9"  # discard port on loopback: connection refused
    hit = Geocoder("nominatim", url=dead, timeout=2).geocode("普宁市梅塘镇某村")
    seat = geography.townships().loc["445281121"].geometry
    assert (hit.lat, hit.lon) == (seat.y, seat.x) and "approximate" in hit.source


def test_gazetteer_prefers_the_longest_name_and_respects_the_district():
    assert "流沙东街道" in offline("普宁市流沙东街道").source
    with pytest.raises(InvalidInput, match="names no township"):
        offline("榕城区某路")  # a district alone is too vague to place a station
    with pytest.raises(InvalidInput, match="names no township"):
        offline("棉湖镇", district="445281")  # 棉湖镇 is in 揭西县, not 普宁市


def test_unknown_geocoder_is_refused():
    with pytest.raises(InvalidInput, match="unknown geocoder"):
        Geocoder("google")


def test_search_api_finds_places_offline_and_adds_the_configured_geocoders_address(nominatim, tmp_path):
    """/api/search on a running app: "棉湖" is the township (no geocoder call needed); an address no name matches
    is asked of the configured geocoder and comes back in WGS-84; with the geocoder unreachable, still 200."""
    import requests
    from webserver import start

    server = start({"data_dir": str(tmp_path / "data"), "geocoder": "nominatim", "geocoder_url": nominatim})
    dead = start({"data_dir": str(tmp_path / "data2"), "geocoder": "nominatim",
                  "geocoder_url": nominatim.rsplit(":", 1)[0] + ":9"})
    try:
        NominatimHandler.queries.clear()
        first = requests.get(server.url + "/api/search", params={"q": "棉湖"}, timeout=30).json()["results"][0]
        assert (first["type"], first["name"]) == ("township", "棉湖镇") and NominatimHandler.queries == []
        found = requests.get(server.url + "/api/search", params={"q": "临江北路88号"}, timeout=30).json()["results"]
        address = [r for r in found if r["type"] == "address"]
        assert [(r["lat"], r["lon"]) for r in address] == [ANSWER] and NominatimHandler.queries
        r = requests.get(dead.url + "/api/search", params={"q": "临江北路88号"}, timeout=30)
        assert r.status_code == 200 and not [x for x in r.json()["results"] if x["type"] == "address"]
        assert requests.get(server.url + "/api/search", params={"q": ""}, timeout=30).status_code == 400
    finally:
        server.stop()
        dead.stop()


def test_a_larger_service_area_asks_within_it_and_accepts_answers_there(nominatim, monkeypatch):
    """Under service_area=guangdong the address is asked within the province, not the city, and an answer in the
    province but outside Jieyang (here: Shantou) is taken; under the default it is not."""
    NominatimHandler.queries.clear()
    monkeypatch.setattr(sys.modules[__name__], "ANSWER", (23.3540, 116.6820))  # what the server answers
    assert Geocoder("nominatim", url=nominatim).online("金平区某路1号") is None  # Shantou, outside Jieyang
    monkeypatch.setenv("STATIONMAP_SERVICE_AREA", "guangdong")
    hit = Geocoder("nominatim", url=nominatim).online("金平区某路1号")
    assert (hit.lat, hit.lon) == (23.3540, 116.6820)
    assert NominatimHandler.queries == ["广东省揭阳市金平区某路1号", "广东省金平区某路1号"]
