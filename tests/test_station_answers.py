"""The station list answered from pieces encoded once per registry version: the same bytes as encoding
it whole, an ETag, 304 to a matching If-None-Match, and a new answer after an edit or a live report."""
import json
from datetime import datetime

from stationmap import present
from stationmap.api import Request, Service
from stationmap.api import encoded
from stationmap.api.core import json_bytes
from stationmap.hours import TZ
from stationmap.query.nearest import StationSet
from stationmap.store import load_sample


def test_pieces_give_the_bytes_of_the_whole_collection():
    stations = load_sample()
    smart = [s for s in stations if s.kind == "smart"]
    live = {smart[0].id: {"state": "open", "reported_at": "2025-06-04T04:00:00.000000Z", "age_s": 3, "occupancy": 2,
                          "temperature_c": 26.5, "alarm": False},
            smart[1].id: {"state": "closed", "reported_at": "2025-06-04T04:00:00.000000Z", "age_s": 9},
            stations[0].id: {"state": "unknown", "age_s": 99999}}
    found = StationSet(stations)
    for when in (datetime(2025, 6, 8, 3, 0, tzinfo=TZ), datetime(2025, 6, 4, 12, 30, tzinfo=TZ)):
        for chosen, table in ((stations, live), (stations[:30], {}), ([], {})):
            assert encoded.collection(found, chosen, when, table) == \
                json_bytes(present.feature_collection(chosen, when, live=table))


def test_if_none_match_forms():
    tag = encoded.entity_tag(b"x")
    assert encoded.matches(tag, tag) and encoded.matches(f"W/{tag}", tag) and encoded.matches("*", tag)
    assert encoded.matches(f'"other", {tag[:-1]}:br"', tag)  # as Flask-Compress suffixes a coded answer's tag
    assert not encoded.matches('"other"', tag) and not encoded.matches(None, tag) and not encoded.matches("", tag)


def test_etag_304_and_a_new_tag_after_an_edit(registry_dir):
    svc = Service.open({"data_dir": str(registry_dir)})
    first = svc.handle(Request.make("GET", "/api/stations"))
    assert first.status == 200 and first.headers["ETag"].startswith('"')
    assert first.json()["numberReturned"] == len(svc.store.all())
    tag = first.headers["ETag"]
    again = svc.handle(Request.make("GET", "/api/stations", headers={"If-None-Match": tag}))
    assert again.status == 304 and again.body == b"" and again.headers["ETag"] == tag
    smart = svc.handle(Request.make("GET", "/api/stations?kind=smart", headers={"If-None-Match": tag}))
    assert smart.status == 200 and smart.headers["ETag"] != tag  # another question, another answer

    victim = svc.store.all()[0]
    svc.store.replace_all([s for s in svc.store.all() if s.id != victim.id])
    after = svc.handle(Request.make("GET", "/api/stations", headers={"If-None-Match": tag}))
    assert after.status == 200 and after.headers["ETag"] != tag
    assert victim.id not in {f["id"] for f in json.loads(after.body)["features"]}
