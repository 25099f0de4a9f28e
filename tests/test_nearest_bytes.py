"""The API's nearest answer, joined from pieces kept per registry version, is byte for byte the encoding of
`present.nearest_answer`: over points in and far outside Jieyang, every datum, travel mode, filter and k,
minutes on both sides of a station's opening hours, and live reports of every state."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from stationmap import present
from stationmap.api.core import json_bytes
from stationmap.api.nearest_bytes import nearest_bytes
from stationmap.geo import datums
from stationmap.hours import TZ
from stationmap.query import nearest
from stationmap.store import load_sample


@pytest.fixture(scope="module")
def snapshot() -> nearest.StationSet:
    return nearest.StationSet(load_sample())


def _cases(snapshot: nearest.StationSet, count: int):
    rng = random.Random(20261129)
    smart = [s.id for s in snapshot.stations if s.kind == "smart"]
    start = datetime(2026, 11, 29, tzinfo=TZ)
    for i in range(count):
        far = i % 5 == 0
        lat, lon = ((rng.uniform(-80, 80), rng.uniform(-179, 179)) if far
                    else (rng.uniform(22.9, 23.9), rng.uniform(115.6, 116.6)))
        crs = "wgs84" if far else rng.choice(["wgs84", "gcj02", "bd09"])
        if crs != "wgs84":
            lat, lon = datums.from_wgs84(lat, lon, crs)
        live = {} if i % 3 else {sid: {"state": rng.choice(["open", "closed", "unknown"]), "age_s": rng.randrange(600)}
                                 for sid in rng.sample(smart, min(4, len(smart)))}
        yield dict(lat=lat, lon=lon, crs=crs, mode=rng.choice([None, "walk", "ebike", "car", "步行"]),
                   when=start + timedelta(minutes=rng.randrange(7 * 24 * 60), seconds=rng.randrange(60)),
                   live=live, k=rng.choice([1, 5, 12]),
                   filters=rng.choice([{}, {"open_now": True}, {"kind": "smart"}, {"amenities": ["microwave"]}]))


def test_kept_pieces_give_the_bytes_of_the_plain_answer(snapshot):
    checked = far = 0
    for c in _cases(snapshot, 400):
        found = nearest.nearest(snapshot, c["lat"], c["lon"], k=c["k"], crs=c["crs"], when=c["when"], **c["filters"])
        plain = json_bytes(present.nearest_answer(found, c["lat"], c["lon"], c["crs"], c["when"], mode=c["mode"],
                                                  live=c["live"]))
        joined = nearest_bytes(snapshot, found, c["lat"], c["lon"], c["crs"], c["when"], c["mode"], c["live"])
        assert joined == plain, c
        checked += bool(found)
        far += b'"far":true' in plain
    assert checked > 300 and far > 20  # the cases reached both near and far answers


def test_the_same_minute_after_a_report_arrives_shows_the_report(snapshot):
    """The open states kept for a minute are those of stations without a report: a report that arrives
    within the minute shows at once."""
    smart = next(s for s in snapshot.stations if s.kind == "smart")
    when = datetime(2026, 11, 30, 10, 0, 5, tzinfo=TZ)
    found = nearest.nearest(snapshot, smart.lat, smart.lon, k=1, when=when)
    assert found[0].station.id == smart.id
    before = nearest_bytes(snapshot, found, smart.lat, smart.lon, "wgs84", when, "walk", {})
    report = {smart.id: {"state": "closed", "age_s": 3}}
    later = when + timedelta(seconds=20)
    after = nearest_bytes(snapshot, found, smart.lat, smart.lon, "wgs84", later, "walk", report)
    assert b'"label":"closed_live"' in after and b'"label":"closed_live"' not in before
    assert after == json_bytes(present.nearest_answer(found, smart.lat, smart.lon, "wgs84", later, mode="walk",
                                                      live=report))


def test_the_same_bytes_when_few_pieces_are_kept(monkeypatch):
    """With room for two stations' pieces, every answer evicts and rebuilds some: still the same bytes."""
    from stationmap.api import nearest_bytes as module

    monkeypatch.setattr(module, "KEPT_TEMPLATES", 2)
    monkeypatch.setattr(module, "KEPT_STATES", 2)
    snapshot = nearest.StationSet(load_sample())
    for c in _cases(snapshot, 60):
        found = nearest.nearest(snapshot, c["lat"], c["lon"], k=c["k"], crs=c["crs"], when=c["when"], **c["filters"])
        plain = present.nearest_answer(found, c["lat"], c["lon"], c["crs"], c["when"], mode=c["mode"], live=c["live"])
        joined = nearest_bytes(snapshot, found, c["lat"], c["lon"], c["crs"], c["when"], c["mode"], c["live"])
        assert joined == json_bytes(plain)
    kept = snapshot.memo["nearest_kept"]
    _minute, states = kept.minute
    assert kept.templates.size == states.size == 2 and len(kept.templates) <= 2 and len(states) <= 2


def test_kept_pieces_are_bounded_and_the_oldest_goes_first():
    from stationmap.cache import KeptDict

    kept: KeptDict[int] = KeptDict(3)
    for i in range(5):
        assert kept.put(i, i * 10) == i * 10
    assert len(kept) == 3 and [kept.get(i) for i in range(5)] == [None, None, 20, 30, 40]
    kept.put(2, 21)  # a kept key put again keeps its place in line: it still goes first
    kept.put(5, 50)
    assert [kept.get(i) for i in range(6)] == [None, None, None, 30, 40, 50]


def test_tenths_are_written_as_json_writes_the_rounded_number():
    """Distances, bearings and minutes go into the bytes as %.1f: the same text as json of round(x, 1)."""
    from stationmap.api.nearest_bytes import _TENTHS

    rng = random.Random(11)
    values = [rng.choice([-1, 1]) * 10 ** rng.uniform(-3, 7.5) for _ in range(20_000)]
    values += [i / 20 for i in range(-4000, 4000)] + [i / 40 for i in range(-400, 400)]
    values += [0.0, -0.0, 2.675, 359.95, 359.999, 20_037_508.3427892]
    for x in values:
        assert _TENTHS % x == json_bytes(round(x, 1))[:-1], x
