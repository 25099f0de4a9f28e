"""Smart-station telemetry: signed reports accepted once, everything else refused and nothing stored;
live status with 'unknown' after the configured silence; usage per station, district, day and week."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from records_backends import _records_template, records  # noqa: F401  (fixtures)

from stationmap.errors import InvalidInput, NotFound, PayloadTooLarge, Replayed, Unauthorized
from stationmap.ops.accounts import open_accounts
from stationmap.ops.telemetry import build_report, open_telemetry, sign, station_live
from stationmap.ops.usage import demand_rows, visits
from stationmap.store import open_store

WINDOW = 300
NOW = datetime(2025, 6, 2, 4, 0, tzinfo=timezone.utc)  # 12:00 in Jieyang


@pytest.fixture
def env(registry_dir, request):
    if "records" in request.fixturenames:  # the database (if that is the place) before the registry
        request.getfixturevalue("records")
    store = open_store(registry_dir)
    accounts = open_accounts(registry_dir)
    smart = [s for s in store.all() if s.kind == "smart"]
    keys = {s.id: accounts.issue_device_key(s) for s in smart[:3]}
    return store, accounts, open_telemetry(registry_dir), smart[:3], keys


def _count(tel) -> int:
    with tel.db() as con:
        return con.execute("SELECT COUNT(*) FROM reports").fetchone()[0]


def _send(env, station, body, signature, now=NOW):
    store, accounts, tel, _, _ = env
    return tel.receive(store, accounts, station.id, body, signature, WINDOW, now=now)


@pytest.mark.usefixtures("records")
def test_signed_report_is_stored_and_shown_live(env):
    store, accounts, tel, (a, *_), keys = env
    body, sig = build_report(keys[a.id], a.id, open=True, occupancy=4, visits=9, temperature_c=31.5,
                             ts=NOW.timestamp() - 5)
    report = _send(env, a, body, sig)
    assert (report.open, report.occupancy, report.visits, report.temperature_c) == (True, 4, 9, 31.5)
    live = tel.live_status(stale_after_s=1800, now=NOW)
    assert live[a.id]["state"] == "open" and live[a.id]["occupancy"] == 4 and live[a.id]["age_s"] == 5
    assert live[a.id]["reported_at_local"] == "2025-06-02 11:59:55"
    stale = tel.live_status(stale_after_s=1800, now=NOW + timedelta(minutes=31))
    assert stale[a.id]["state"] == "unknown" and "occupancy" not in stale[a.id]
    assert station_live(live, "st-silent", "smart") == {"state": "unknown"}
    assert station_live(live, "st-plain", "outdoor") is None
    closed, sig = build_report(keys[a.id], a.id, open=False, ts=NOW.timestamp())
    _send(env, a, closed, sig)
    assert tel.live_status(1800, now=NOW)[a.id]["state"] == "closed"
    iso = json.dumps({"station": a.id, "ts": "2025-06-02T12:00:30+08:00", "nonce": "iso-time-01", "open": True,
                      "occupancy": 0, "visits": 0}).encode()
    assert _send(env, a, iso, sign(keys[a.id], iso)).ts == NOW + timedelta(seconds=30)


def _bad_bodies(station_id: str):
    base = {"station": station_id, "ts": int(NOW.timestamp()), "nonce": "abcdef123456", "open": True,
            "occupancy": 1, "visits": 1}
    yield b"not json", "not JSON"
    yield b"[1, 2]", "JSON object"
    yield json.dumps({**base, "extra": 1}).encode(), "unknown field"
    for field in ("ts", "nonce", "open", "occupancy", "visits"):
        yield json.dumps({k: v for k, v in base.items() if k != field}).encode(), f"missing field {field}"
    yield json.dumps({**base, "occupancy": -1}).encode(), "out of range"
    yield json.dumps({**base, "occupancy": 100000}).encode(), "out of range"
    yield json.dumps({**base, "temperature_c": 95.0}).encode(), "out of range"
    yield json.dumps({**base, "visits": 2.5}).encode(), "whole number"
    yield json.dumps({**base, "open": 1}).encode(), "true or false"
    yield json.dumps({**base, "occupancy": True}).encode(), "whole number"
    yield json.dumps({**base, "nonce": "x"}).encode(), "nonce"
    yield json.dumps({**base, "ts": "yesterday"}).encode(), "ISO 8601"
    yield json.dumps({**base, "ts": "2025-06-02T12:00:00"}).encode(), "time zone"
    yield json.dumps({**base, "station": "st-other"}).encode(), "posted to"
    yield json.dumps({**base, "temperature_c": float("nan")}).encode(), "must be a number"
    yield json.dumps({**base, "ts": 1e300}).encode(), "not a time"


def test_malformed_and_out_of_range_refused(env):
    _, _, tel, (a, *_), keys = env
    for body, message in _bad_bodies(a.id):
        with pytest.raises(InvalidInput, match=message):
            _send(env, a, body, sign(keys[a.id], body))
    assert _count(tel) == 0


def test_signatures(env):
    store, accounts, tel, (a, b, c), keys = env
    body, sig = build_report(keys[a.id], a.id, ts=NOW.timestamp())
    with pytest.raises(Unauthorized, match="unsigned"):
        _send(env, a, body, None)
    with pytest.raises(Unauthorized, match="does not match"):
        _send(env, a, body, "sha256=" + "0" * 64)
    with pytest.raises(Unauthorized, match="does not match"):  # signed with another station's key
        _send(env, a, body, sign(keys[b.id], body))
    with pytest.raises(Unauthorized, match="does not match"):  # body changed after signing
        _send(env, a, body.replace(b'"visits":0', b'"visits":9'), sig)
    plain = next(s for s in store.all() if s.kind == "outdoor")
    with pytest.raises(Unauthorized, match="no active device key"):
        _send(env, plain, body, sig)
    accounts.revoke_device(c.id)
    cb, cs = build_report(keys[c.id], c.id, ts=NOW.timestamp())
    with pytest.raises(Unauthorized, match="no active device key"):
        _send(env, c, cb, cs)
    with pytest.raises(PayloadTooLarge):
        _send(env, a, b" " * 5000, sig)
    assert _count(tel) == 0
    _send(env, a, body, sig)
    assert _count(tel) == 1


@pytest.mark.usefixtures("records")
def test_replays_refused(env):
    _, _, tel, (a, b, _), keys = env
    body, sig = build_report(keys[a.id], a.id, ts=NOW.timestamp(), nonce="nonce-0001", visits=3)
    _send(env, a, body, sig)
    with pytest.raises(Replayed, match="already used"):
        _send(env, a, body, sig)
    with pytest.raises(Replayed, match="already used"):  # same nonce, later and re-signed
        again, s2 = build_report(keys[a.id], a.id, ts=NOW.timestamp() + 10, nonce="nonce-0001")
        _send(env, a, again, s2)
    old, s3 = build_report(keys[a.id], a.id, ts=NOW.timestamp() - WINDOW - 1)
    with pytest.raises(Replayed, match="behind"):
        _send(env, a, old, s3)
    future, s4 = build_report(keys[a.id], a.id, ts=NOW.timestamp() + WINDOW + 60)
    with pytest.raises(Replayed, match="ahead"):
        _send(env, a, future, s4)
    with pytest.raises(Replayed):  # the original, replayed after the window closed
        _send(env, a, body, sig, now=NOW + timedelta(seconds=WINDOW + 1))
    other, s5 = build_report(keys[b.id], b.id, ts=NOW.timestamp(), nonce="nonce-0001")
    _send(env, b, other, s5)  # nonces are per station
    assert _count(tel) == 2
    assert sum(r["visits"] for r in visits(tel, by="station")) == 3


def test_deleted_station_refused(env):
    store, accounts, tel, (a, *_), keys = env
    store.update(lambda stations: [s for s in stations if s.id != a.id])
    body, sig = build_report(keys[a.id], a.id, ts=NOW.timestamp())
    with pytest.raises(NotFound):
        _send(env, a, body, sig)


@pytest.mark.usefixtures("records")
def test_usage_by_station_district_day_week(env):
    store, _, tel, (a, b, c), keys = env
    # Sunday 2025-06-01 23:30 in Jieyang = 15:30 UTC; Monday 00:30 local = 16:30 UTC (a new day and ISO week).
    sent = [(a, datetime(2025, 6, 1, 15, 30, tzinfo=timezone.utc), 5),
            (a, datetime(2025, 6, 1, 16, 30, tzinfo=timezone.utc), 7),
            (b, datetime(2025, 6, 1, 16, 40, tzinfo=timezone.utc), 11),
            (c, datetime(2025, 6, 1, 16, 45, tzinfo=timezone.utc), 0)]
    for station, when, n in sent:
        body, sig = build_report(keys[station.id], station.id, visits=n, ts=when.timestamp())
        _send(env, station, body, sig, now=when)
    by_day = {r["day"]: r["visits"] for r in visits(tel, by="day")}
    assert by_day == {"2025-06-01": 5, "2025-06-02": 18}
    weeks = visits(tel, by="week")
    assert [(w["week"], w["monday"], w["visits"]) for w in weeks] == [("2025-W22", "2025-05-26", 5),
                                                                      ("2025-W23", "2025-06-02", 18)]
    by_station = {r["station"]: r for r in visits(tel, store, by="station")}
    assert by_station[a.id]["visits"] == 12 and by_station[a.id]["name"] == a.name and by_station[a.id]["reports"] == 2
    by_district = visits(tel, by="district")
    assert sum(r["visits"] for r in by_district) == 23 and all(r["district_name"] for r in by_district)
    assert visits(tel, by="day", since="2025-06-02") == [{"day": "2025-06-02", "visits": 18, "reports": 3}]
    assert visits(tel, by="day", until="2025-06-02")[0]["visits"] == 5
    assert visits(tel, by="district", district=a.district)[0]["district"] == a.district
    with pytest.raises(InvalidInput):
        visits(tel, by="month")
    points = [(r["lat"], r["lon"], float(r["weight"])) for r in demand_rows(tel, store)]
    assert sorted(w for _, _, w in points) == [11.0, 12.0]  # the station with no visits carries no weight
    assert (a.lat, a.lon, 12.0) in points


@pytest.mark.usefixtures("records")
def test_usage_and_audit_cli_and_demand_layer(env, registry_dir, tmp_path):
    """`stationmap usage` and `audit`; the demand CSV loads as a planner's demand layer with the visits as weights."""
    from click.testing import CliRunner

    from stationmap.cli import cli
    from stationmap.query.demand import load_demand

    store, _, tel, (a, b, _), keys = env
    for station, n in ((a, 4), (b, 6), (a, 5)):
        body, sig = build_report(keys[station.id], station.id, visits=n)
        tel.receive(store, open_accounts(registry_dir), station.id, body, sig, WINDOW)
    run = CliRunner().invoke
    r = run(cli, ["usage", "--by", "station", "--json", "--demand", str(tmp_path / "d.csv"), "--data-dir", str(registry_dir)])
    assert r.exit_code == 0, r.output
    assert {row["station"]: row["visits"] for row in json.loads(r.stdout)} == {a.id: 9, b.id: 6}
    layer = load_demand(tmp_path / "d.csv")
    assert layer.total == 15 and not layer.modelled and len(layer) == 2
    r = run(cli, ["usage", "--by", "week", "--data-dir", str(registry_dir)])
    assert r.exit_code == 0 and "-W" in r.stdout and "15 visits" in r.stderr
    r = run(cli, ["audit", "--csv", "-o", str(tmp_path / "audit.csv"), "--data-dir", str(registry_dir)])
    assert r.exit_code == 0 and (tmp_path / "audit.csv").read_text(encoding="utf-8").startswith("seq,at_utc,at_local")
    r = run(cli, ["audit", "--json", "--limit", "2", "--data-dir", str(registry_dir)])
    assert len(json.loads(r.stdout)) == 2 and json.loads(r.stdout)[0]["actor"] == "system"


@pytest.mark.usefixtures("records")
def test_a_late_report_does_not_override_a_newer_one(env):
    _, _, tel, (a, *_), keys = env
    newer, s1 = build_report(keys[a.id], a.id, open=True, occupancy=2, ts=NOW.timestamp())
    older, s2 = build_report(keys[a.id], a.id, open=False, visits=3, ts=NOW.timestamp() - 60)  # delayed in transit
    _send(env, a, newer, s1)
    _send(env, a, older, s2)
    live = tel.live_status(1800, now=NOW)[a.id]
    assert live["state"] == "open" and live["occupancy"] == 2
    assert sum(r["visits"] for r in visits(tel)) == 3  # its visits still count
