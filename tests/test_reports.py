"""Workers' reports: what is accepted, the limits, privacy of the client address, editors' scoping,
the audit trail and the public flag.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from geographiclib.geodesic import Geodesic
from records_backends import _records_template, records, stored_bytes  # noqa: F401  (fixtures)

from stationmap.errors import Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge, TooManyRequests
from stationmap.ops.accounts import User
from stationmap.ops.audit import open_audit
from stationmap.ops.editing import close_station, etag
from stationmap.ops.reports import MAX_TEXT, open_reports, receipt
from stationmap.store import open_store

PUNING, RONGCHENG = "445281", "445202"
ADMIN = User("root", "admin")
PUNING_EDITOR = User("ed", "editor", PUNING)
RONGCHENG_EDITOR = User("rong", "editor", RONGCHENG)
NOON = datetime(2025, 6, 2, 4, 0, tzinfo=timezone.utc)  # 12:00 in Jieyang


@pytest.fixture
def store(registry_dir, request):
    if "records" in request.fixturenames:  # the database (if that is the place) before the registry
        request.getfixturevalue("records")
    return open_store(registry_dir)


@pytest.fixture
def reports(registry_dir, store):  # after the store: in the same place
    return open_reports(registry_dir)


def station_in(store, district, with_amenity=True):
    return next(s for s in store.all() if s.district == district and s.status == "open"
                and (s.amenities or not with_amenity))


def stored(reports) -> list[sqlite3.Row]:  # or rows read alike from the database
    with reports.db() as con:
        return con.execute("SELECT * FROM reports ORDER BY id").fetchall()


def notes(registry_dir) -> list:
    return [e for e in open_audit(registry_dir).entries() if e.op == "note"]


@pytest.mark.usefixtures("records")
def test_each_kind_is_stored_with_time_station_and_district(store, reports, registry_dir):
    s = station_in(store, PUNING)
    walk = Geodesic.WGS84.Direct(s.lat, s.lon, 45, 300)  # 300 m north-east: where the station really is
    filed = [
        reports.file(store, s.id, b'{"kind": "closed"}', "10.0.0.1", NOON),
        reports.file(store, s.id, {"kind": "broken", "amenity": s.amenities[0]}, "10.0.0.2", NOON),
        reports.file(store, s.id, {"kind": "location", "lat": walk["lat2"], "lon": walk["lon2"], "accuracy_m": 12},
                     "10.0.0.3", NOON),
        reports.file(store, s.id, {"kind": "other", "text": "  门口积水，进不去  "}, "10.0.0.4", NOON),
    ]
    assert [r.kind for r in filed] == ["closed", "broken", "location", "other"]
    assert all((r.station_id, r.district, r.state, r.at_utc) == (s.id, PUNING, "open", "2025-06-02T04:00:00.000000Z")
               for r in filed)
    assert filed[1].amenity == s.amenities[0] and filed[2].accuracy_m == 12
    assert (filed[2].lat, filed[2].lon) == (round(walk["lat2"], 7), round(walk["lon2"], 7))
    assert filed[3].text == "门口积水，进不去"
    assert filed[0].to_json()["at_local"] == "2025-06-02 12:00:00" and filed[0].to_json()["district_name"] == "普宁市"
    by_word = reports.file(store, s.id, {"kind": "broken", "amenity": "微波炉"}, "10.0.0.5", NOON) \
        if "microwave" in s.amenities else None
    assert by_word is None or by_word.amenity == "microwave"
    assert [(e.actor, e.action, e.detail["kind"]) for e in notes(registry_dir)][-4:] == \
        [("public", "report", k) for k in ("other", "location", "broken", "closed")]


def test_the_reporter_gets_a_receipt_and_nothing_else(store, reports):
    s = station_in(store, PUNING)
    reports.file(store, s.id, {"kind": "other", "text": "另一个人的秘密"}, "10.0.0.1", NOON)
    mine = reports.file(store, s.id, {"kind": "closed"}, "10.0.0.2", NOON)
    r = receipt(mine)
    assert r == {"received": True, "id": mine.id, "station": s.id, "kind": "closed", "at_utc": mine.at_utc}
    assert "秘密" not in repr(r) and "client" not in mine.to_json()


@pytest.mark.usefixtures("records")
def test_the_client_address_is_kept_only_as_a_hash_under_a_key_that_is_dropped(store, reports):
    s = station_in(store, PUNING)
    reports.file(store, s.id, {"kind": "closed"}, "203.0.113.77", NOON)
    reports.file(store, s.id, {"kind": "closed"}, "203.0.113.77", NOON + timedelta(days=1))
    first, second = stored(reports)
    assert first["client"] != second["client"]  # another day, another key: days cannot be linked
    assert b"203.0.113.77" not in stored_bytes(reports.path) and "203.0.113.77" not in first["client"]
    reports.file(store, s.id, {"kind": "closed"}, "203.0.113.77", NOON + timedelta(days=3))
    with reports.db() as con:
        days = [r["day"] for r in con.execute("SELECT day FROM salts ORDER BY day")]
    assert days == ["2025-06-05"]  # the keys that could link the first two reports to an address are gone


@pytest.mark.parametrize("body, error, message", [
    (b"not json", InvalidInput, "not JSON"),
    (b"[1]", InvalidInput, "JSON object"),
    (b'{"kind": "closed", "extra": 1}', InvalidInput, "unknown field"),
    (b'{"kind": "exploded"}', InvalidInput, "kind must be"),
    (b'{}', InvalidInput, "kind must be"),
    (b'{"kind": "other"}', InvalidInput, "needs a text"),
    (b'{"kind": "other", "text": 5}', InvalidInput, "must be text"),
    ('{"kind": "other", "text": "%s"}' % ("长" * (MAX_TEXT + 1)), InvalidInput, "at most 280"),
    (b'{"kind": "other", "text": "a\\u0000b"}', InvalidInput, "U\\+0000"),
    (b'{"kind": "other", "text": "line\\nbreak"}', InvalidInput, "U\\+000A"),
    (b'{"kind": "other", "text": "abc\\u202edcba"}', InvalidInput, "U\\+202E"),
    (b'{"kind": "broken"}', InvalidInput, "names the facility"),
    (b'{"kind": "broken", "amenity": "jacuzzi"}', InvalidInput, "unknown amenity"),
    (b'{"kind": "closed", "amenity": "toilet"}', InvalidInput, "only with kind broken"),
    (b'{"kind": "closed", "lat": 23.4, "lon": 116.2}', InvalidInput, "only with kind location"),
    (b'{"kind": "location", "lat": 23.4}', InvalidInput, "both lat and lon"),
    (b'{"kind": "location", "lat": 123.4, "lon": 116.2}', InvalidInput, "out of range"),
    (b'{"kind": "location", "lat": "NaN", "lon": 116.2}', InvalidInput, "finite"),
    (b'{"kind": "location", "lat": 39.9, "lon": 116.4}', InvalidInput, "km from the station"),
    (b'{"kind": "location", "accuracy_m": 5}', InvalidInput, "only with a position"),
    (b'{"kind": "location", "lat": 23.4, "lon": 116.2, "accuracy_m": -1}', InvalidInput, "out of range"),
    (b'{"kind": "other", "text": "' + b"x" * 3000 + b'"}', PayloadTooLarge, "at most 2048"),
    (b'{"kind": [[[[1]]]]}', InvalidInput, "levels deep"),
])
def test_a_refused_report_stores_nothing(store, reports, registry_dir, body, error, message):
    s = station_in(store, PUNING)
    audit_before = len(open_audit(registry_dir).entries())
    with pytest.raises(error, match=message):
        reports.file(store, s.id, body, "10.0.0.1", NOON)
    assert stored(reports) == [] and len(open_audit(registry_dir).entries()) == audit_before


def test_what_a_report_says_must_fit_the_station(store, reports):
    s = station_in(store, PUNING)
    missing = next(a for a in ("aed", "fridge", "sewing_kit", "washbasin") if a not in s.amenities)
    with pytest.raises(InvalidInput, match="does not list"):
        reports.file(store, s.id, {"kind": "broken", "amenity": missing}, "10.0.0.1", NOON)
    with pytest.raises(NotFound):
        reports.file(store, "st-nothere", {"kind": "closed"}, "10.0.0.1", NOON)
    closed = close_station(store, ADMIN, station_in(store, RONGCHENG).id, "*")
    with pytest.raises(Conflict, match="already shown"):
        reports.file(store, closed.id, {"kind": "closed"}, "10.0.0.1", NOON)
    assert stored(reports) == []


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "${alert(1)}`", "{{7*7}}{% raw %}",
    "'); DROP TABLE reports; --", "=HYPERLINK(\"http://evil\",\"x\")", "\"'&<>", "😀 工会驿站 ‮",
])
def test_hostile_text_is_stored_and_read_back_as_the_same_text(store, reports, text):
    s = station_in(store, PUNING)
    if "\u202e" in text:
        with pytest.raises(InvalidInput):
            reports.file(store, s.id, {"kind": "other", "text": text}, "10.0.0.1", NOON)
        return
    r = reports.file(store, s.id, {"kind": "other", "text": text}, "10.0.0.1", NOON)
    assert reports.get(r.id).text == text and r.to_json()["text"] == text
    assert [x.text for x in reports.listing(ADMIN)] == [text]


def test_five_an_hour_per_client(store, reports):
    s = station_in(store, PUNING)
    for i in range(5):
        reports.file(store, s.id, {"kind": "closed"}, "198.51.100.7", NOON + timedelta(minutes=i))
    with pytest.raises(TooManyRequests) as refused:
        reports.file(store, s.id, {"kind": "closed"}, "198.51.100.7", NOON + timedelta(minutes=10))
    assert refused.value.retry_after == 50 * 60  # when the first of the five is an hour old
    assert len(stored(reports)) == 5
    reports.file(store, s.id, {"kind": "closed"}, "198.51.100.8", NOON + timedelta(minutes=10))  # another client
    reports.file(store, s.id, {"kind": "closed"}, "198.51.100.7", NOON + timedelta(minutes=60))  # the hour has passed
    assert len(stored(reports)) == 7


@pytest.mark.usefixtures("records")
def test_an_ipv6_client_is_its_64_and_midnight_does_not_reset_the_count(store, reports):
    s = station_in(store, PUNING)
    before_midnight = datetime(2025, 6, 2, 23, 40, tzinfo=timezone.utc)
    for i in range(5):  # five addresses of one /64: one phone rotating its privacy address
        reports.file(store, s.id, {"kind": "closed"}, f"2001:db8:1:2::{i + 1}", before_midnight + timedelta(minutes=i))
    with pytest.raises(TooManyRequests):
        reports.file(store, s.id, {"kind": "closed"}, "2001:db8:1:2:ffff::9", before_midnight + timedelta(minutes=30))
    reports.file(store, s.id, {"kind": "closed"}, "2001:db8:1:3::1", before_midnight + timedelta(minutes=30))
    with pytest.raises(TooManyRequests):  # ::ffff:192.0.2.1 is 192.0.2.1
        for i in range(6):
            reports.file(store, s.id, {"kind": "closed"}, "::ffff:192.0.2.1" if i % 2 else "192.0.2.1",
                         before_midnight + timedelta(minutes=31))
    assert len(stored(reports)) == 11


def test_twenty_a_day_per_station(store, reports):
    s = station_in(store, PUNING)
    for i in range(20):
        reports.file(store, s.id, {"kind": "closed"}, f"10.1.0.{i}", NOON + timedelta(minutes=i))
    with pytest.raises(TooManyRequests, match=f"about station {s.id}") as refused:
        reports.file(store, s.id, {"kind": "closed"}, "10.2.0.1", NOON + timedelta(hours=2))
    assert refused.value.retry_after == 22 * 3600
    other = station_in(store, RONGCHENG)
    reports.file(store, other.id, {"kind": "closed"}, "10.2.0.1", NOON + timedelta(hours=2))
    reports.file(store, s.id, {"kind": "closed"}, "10.2.0.1", NOON + timedelta(days=1))
    assert len(stored(reports)) == 22


def test_editors_see_and_settle_their_district_only(store, reports, registry_dir):
    p, r = station_in(store, PUNING), station_in(store, RONGCHENG)
    in_p = reports.file(store, p.id, {"kind": "other", "text": "普宁的"}, "10.0.0.1", NOON)
    in_r = reports.file(store, r.id, {"kind": "other", "text": "榕城的"}, "10.0.0.2", NOON)
    assert [x.id for x in reports.listing(PUNING_EDITOR)] == [in_p.id]
    assert [x.id for x in reports.listing(RONGCHENG_EDITOR)] == [in_r.id]
    assert {x.id for x in reports.listing(ADMIN)} == {in_p.id, in_r.id}
    assert [x.id for x in reports.listing(ADMIN, district="榕城区")] == [in_r.id]
    with pytest.raises(Forbidden):
        reports.listing(PUNING_EDITOR, district=RONGCHENG)
    audit_before = len(open_audit(registry_dir).entries())
    with pytest.raises(Forbidden):
        reports.resolve(PUNING_EDITOR, in_r.id)
    with pytest.raises(Forbidden):
        reports.act_close(store, PUNING_EDITOR, in_r.id, etag(r))
    assert reports.get(in_r.id).state == "open" and store.get(r.id).status == "open"
    assert len(open_audit(registry_dir).entries()) == audit_before
    with pytest.raises(NotFound):
        reports.resolve(ADMIN, 99999)
    with pytest.raises(InvalidInput):
        reports.resolve(ADMIN, in_r.id, outcome="ignored")


def test_resolve_and_the_audit_tells_the_story(store, reports, registry_dir):
    s = station_in(store, PUNING)
    r = reports.file(store, s.id, {"kind": "closed"}, "10.0.0.1", NOON)
    done = reports.resolve(PUNING_EDITOR, r.id, note="已电话核实，正常开放")
    assert (done.state, done.handled_by, done.handled_role, done.note) == ("resolved", "ed", "editor", "已电话核实，正常开放")
    assert reports.listing(PUNING_EDITOR) == [] and [x.id for x in reports.listing(PUNING_EDITOR, "resolved")] == [r.id]
    with pytest.raises(Conflict, match="already resolved by ed"):
        reports.resolve(ADMIN, r.id)
    story = [(e.actor, e.action, e.detail) for e in reversed(open_audit(registry_dir).entries(station_id=s.id))
             if e.op == "note"]
    assert story == [("public", "report", {"report": r.id, "kind": "closed"}),
                     ("ed", "report-resolve", {"report": r.id, "kind": "closed", "outcome": "resolved",
                                               "note": "已电话核实，正常开放"})]
    assert all(PUNING in e.districts() for e in notes(registry_dir))


@pytest.mark.usefixtures("records")
def test_act_close_closes_the_station_and_settles_every_closed_report_of_it(store, reports, registry_dir):
    s = station_in(store, PUNING)
    first, second = (reports.file(store, s.id, {"kind": "closed"}, f"10.0.0.{i}", NOON) for i in (1, 2))
    broken = reports.file(store, s.id, {"kind": "broken", "amenity": s.amenities[0]}, "10.0.0.3", NOON)
    assert reports.closed_flags() == {s.id: 2}
    with pytest.raises(Conflict):  # the station changed since this version: nothing closed, nothing settled
        reports.act_close(store, PUNING_EDITOR, first.id, "stale-etag")
    assert reports.get(first.id).state == "open" and store.get(s.id).status == "open"
    acted, station = reports.act_close(store, PUNING_EDITOR, first.id, etag(s))
    assert station.status == "closed" == store.get(s.id).status
    assert (acted.state, reports.get(second.id).state, reports.get(broken.id).state) == ("acted", "acted", "open")
    assert reports.closed_flags() == {}
    entries = open_audit(registry_dir).entries(station_id=s.id, actor="ed")
    assert [(e.action, e.op) for e in reversed(entries)] == [("close", "update"), ("report-act", "note"),
                                                             ("report-act", "note")]
    assert {e.detail["report"] for e in entries if e.op == "note"} == {first.id, second.id}
    assert all(e.detail["step"] == "close" for e in entries if e.op == "note")


def test_the_flag_counts_open_closed_reports_from_an_index(store, reports):
    a, b = station_in(store, PUNING), station_in(store, RONGCHENG)
    for i in range(3):
        reports.file(store, a.id, {"kind": "closed"}, f"10.0.0.{i}", NOON)
    reports.file(store, a.id, {"kind": "other", "text": "x"}, "10.0.1.1", NOON)
    one = reports.file(store, b.id, {"kind": "closed"}, "10.0.1.2", NOON)
    assert reports.closed_flags() == {a.id: 3, b.id: 1}
    reports.resolve(ADMIN, one.id)
    assert reports.closed_flags() == {a.id: 3}
    with reports.db() as con:
        plan = " ".join(r["detail"] for r in con.execute(
            "EXPLAIN QUERY PLAN SELECT station_id, COUNT(*) FROM reports INDEXED BY reports_open_closed "
            "WHERE state = 'open' AND kind = 'closed' GROUP BY station_id"))
    assert "USING INDEX reports_open_closed" in plan or "USING COVERING INDEX reports_open_closed" in plan
