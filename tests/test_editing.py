"""Station editing: validation, district permissions, optimistic concurrency, and the audit log.

Includes the crash tests: a writer killed with SIGKILL before its row transaction commits (or before
an import's new file is renamed into place) leaves the registry as before, one killed after it as
after, and the audit log agreeing with it either way.
"""
from __future__ import annotations

import dataclasses
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from stationmap.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionRequired
from stationmap.geo import datums
from stationmap.ops.accounts import User
from stationmap.ops.audit import AuditLog, _dump, csv_text, open_audit, reconcile
from stationmap.ops.editing import close_station, create_station, delete_station, edit_station, etag, reopen_station
from stationmap.store import open_store

PUNING, RONGCHENG = "445281", "445202"
ADMIN = User("root", "admin")
PUNING_EDITOR = User("ed", "editor", PUNING)
# A point in 普宁市 (流沙) and one in 榕城区, away from the sample stations' names.
IN_PUNING = {"lat": 23.2975, "lon": 116.1660}
IN_RONGCHENG = {"lat": 23.5470, "lon": 116.3700}


@pytest.fixture
def store(registry_dir):
    return open_store(registry_dir)


def _station_in(store, district):
    return next(s for s in store.all() if s.district == district)


def _snapshot(store, data_dir):
    """What must not change when a write is refused: registry content and audit entries."""
    return store.all(), len(open_audit(data_dir).entries(states=("pending", "committed", "aborted")))


def test_create_validated_and_audited(store, registry_dir):
    s = create_station(store, ADMIN, {"name": "测试新驿站", **IN_PUNING, "hours": "08:00-18:00",
                                      "amenities": "饮水、充电", "phone": "0663-1234567"})
    assert s.district == PUNING and store.get(s.id) == s and s.amenities == ("drinking_water", "phone_charging")
    [entry] = open_audit(registry_dir).entries(station_id=s.id, actor="root")
    assert (entry.actor, entry.role, entry.action, entry.op) == ("root", "admin", "create", "create")
    assert entry.before is None and entry.after["name"] == "测试新驿站" and entry.at_utc.endswith("Z")
    assert entry.at_local[:4].isdigit() and "T" not in entry.at_local  # Asia/Shanghai display
    with pytest.raises(Conflict, match="exists"):
        create_station(store, ADMIN, {"id": s.id, "name": "另一个", **IN_RONGCHENG})


@pytest.mark.parametrize("record, message", [
    ({"name": "", **IN_PUNING}, "no name"),
    ({"name": "x", "lat": 40.0, "lon": 116.4}, "outside Jieyang"),
    ({"name": "x", **IN_PUNING, "phone": "call me"}, "not a phone number"),
    ({"name": "x", **IN_PUNING, "hours": "sometimes"}, "opening hours"),
    ({"name": "x", **IN_PUNING, "district": RONGCHENG}, "derived from the location"),
    ({"name": "x", **IN_PUNING, "colour": "red"}, "unknown field"),
    ({"name": "x", **IN_PUNING, "features": "扫码"}, "not a smart station"),
])
def test_create_refuses_what_import_refuses(store, registry_dir, record, message):
    before = _snapshot(store, registry_dir)
    with pytest.raises(InvalidInput, match=message):
        create_station(store, ADMIN, record)
    assert _snapshot(store, registry_dir) == before


def test_duplicate_name_nearby_refused(store):
    s = store.all()[0]
    with pytest.raises(InvalidInput, match="duplicate"):
        create_station(store, ADMIN, {"id": "st-new-1", "name": s.name, "lat": s.lat, "lon": s.lon + 0.0001})
    with pytest.raises(Conflict, match="exists"):  # without an id, the same name in a district is the same id
        create_station(store, ADMIN, {"name": s.name, "lat": s.lat, "lon": s.lon + 0.0001})


def test_gcj02_point_is_stored_as_wgs84(store):
    lat, lon = datums.from_wgs84(IN_PUNING["lat"], IN_PUNING["lon"], "gcj02")
    s = create_station(store, ADMIN, {"name": "高德选点驿站", "lat": lat, "lon": lon}, crs="gcj02")
    assert abs(s.lat - IN_PUNING["lat"]) < 1e-5 and abs(s.lon - IN_PUNING["lon"]) < 1e-5


def test_editor_only_in_own_district(store, registry_dir):
    own, other = _station_in(store, PUNING), _station_in(store, RONGCHENG)
    before = _snapshot(store, registry_dir)
    with pytest.raises(Forbidden, match="榕城区"):
        edit_station(store, PUNING_EDITOR, other.id, {"phone": "12351"}, etag(other))
    with pytest.raises(Forbidden):
        close_station(store, PUNING_EDITOR, other.id, "*")
    with pytest.raises(Forbidden):
        delete_station(store, PUNING_EDITOR, other.id, "*")
    with pytest.raises(Forbidden):
        create_station(store, PUNING_EDITOR, {"name": "越界新站", **IN_RONGCHENG})
    with pytest.raises(Forbidden, match="new location"):  # moving a station out of the district
        edit_station(store, PUNING_EDITOR, own.id, IN_RONGCHENG, etag(own))
    assert _snapshot(store, registry_dir) == before
    edited = edit_station(store, PUNING_EDITOR, own.id, {"hours": "周一至周五 08:00-17:30"}, etag(own))
    assert edited.hours_osm == "Mo-Fr 08:00-17:30; Sa,Su off" and store.get(own.id) == edited


def test_versions_conflict_and_precondition(store, registry_dir):
    s = _station_in(store, PUNING)
    with pytest.raises(PreconditionRequired, match="If-Match"):
        edit_station(store, ADMIN, s.id, {"phone": "12351"}, None)
    v1 = edit_station(store, ADMIN, s.id, {"host": "新依托单位"}, f'"{etag(s)}"')  # quoted, as HTTP sends it
    with pytest.raises(Conflict, match="changed by someone else"):
        edit_station(store, ADMIN, s.id, {"host": "过时的编辑"}, etag(s))
    assert store.get(s.id).host == "新依托单位"
    with pytest.raises(Conflict):
        delete_station(store, ADMIN, s.id, etag(s))
    assert edit_station(store, ADMIN, s.id, {"host": "覆盖"}, "*").host == "覆盖"
    with pytest.raises(NotFound):
        edit_station(store, ADMIN, "st-nothere", {"host": "x"}, "*")
    assert etag(v1) != etag(s)


def test_close_reopen_delete_recorded(store, registry_dir):
    s = _station_in(store, RONGCHENG)
    closed = close_station(store, ADMIN, s.id, etag(s))
    assert closed.status == "closed"
    opened = reopen_station(store, ADMIN, s.id, etag(closed))
    assert opened.status == "open"
    gone = delete_station(store, ADMIN, s.id, etag(opened))
    with pytest.raises(NotFound):
        store.get(s.id)
    entries = open_audit(registry_dir).entries(station_id=s.id, actor="root")
    assert [(e.action, e.op) for e in entries] == [("delete", "delete"), ("reopen", "update"), ("close", "update")]
    assert entries[2].changed == ("status",) and entries[2].before["status"] == s.status
    assert entries[0].before == gone.to_record() and entries[0].after is None
    text = csv_text(entries)
    assert text.splitlines()[0].startswith("seq,at_utc,at_local,actor") and len(text.splitlines()) == 4


def test_concurrent_edits_one_wins(store, registry_dir):
    """Eight threads edit one station from the same version: one write, seven Conflicts, nothing lost."""
    s = _station_in(store, PUNING)
    tag = etag(s)
    results: list[object] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results.append(edit_station(open_store(registry_dir), ADMIN, s.id, {"address": f"地址 {i}"}, tag))
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1 and sum(isinstance(r, Conflict) for r in results) == 7
    assert store.get(s.id).address == wins[0].address
    [entry] = open_audit(registry_dir).entries(station_id=s.id, actor="root")
    assert entry.after["address"] == wins[0].address


def _last_committed_rows(data_dir: Path) -> list:
    """(station id, after) of the last committed change's rows."""
    with open_audit(data_dir)._db() as con:
        seq = con.execute("SELECT seq FROM changes WHERE state = 'committed' AND seq IN (SELECT seq FROM items) "
                          "ORDER BY seq DESC LIMIT 1").fetchone()[0]
        return con.execute("SELECT station_id, after FROM items WHERE seq = ?", (seq,)).fetchall()


def test_rows_survive_the_round_trip(store, registry_dir):
    """The audit's recovery compares the rows as written with the rows as read back: they must agree."""
    s = _station_in(store, PUNING)
    edit_station(store, ADMIN, s.id, {"hours": "周一至周五8:00-12:00、14:30-18:00；周六 9点-12点"}, "*")
    [(sid, after)] = _last_committed_rows(registry_dir)
    assert sid == s.id and _dump(open_store(registry_dir).get(s.id)) == after


# -- killed writers --------------------------------------------------------------------------------
_WRITER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import stationmap.store as store_mod
    from stationmap.ops.accounts import User
    from stationmap.ops.audit import AuditLog
    from stationmap.ops.editing import edit_station
    data_dir, station_id, mode, flag = Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])

    def stall(real):
        def wrapper(*args, **kwargs):
            flag.write_text("stalled")
            time.sleep(60)  # the parent kills us here
            return real(*args, **kwargs)
        return wrapper

    if mode == "before-commit-sql":  # the row is written inside the SQLite transaction, not yet committed
        import stationmap.store.gpkg as gpkg
        gpkg._commit = stall(gpkg._commit)
    elif mode == "before-rename":    # an import's new file fully written, not yet renamed into place
        os.replace = stall(os.replace)
    elif mode == "before-commit":    # the row committed, audit entry still pending
        AuditLog.commit = stall(AuditLog.commit)
    store = store_mod.open_store(data_dir)
    i = 0
    while True:
        i += 1
        if mode == "before-rename":
            import dataclasses
            store.update(lambda old: [dataclasses.replace(s, address=f"写入 {i}") if s.id == station_id else s
                                      for s in old], {"actor": "crash", "action": "import"})
        else:
            edit_station(store, User("crash", "admin"), station_id, {"address": f"写入 {i}"}, "*")
        if mode != "loop":
            break
""")


def _start_writer(data_dir: Path, station_id: str, mode: str, flag: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(data_dir), station_id, mode, str(flag)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(flag: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not flag.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < end, "writer never reached the stall point"
        time.sleep(0.02)


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def _assert_consistent(data_dir: Path) -> None:
    """Registry readable; no pending entry after reconcile; the last committed change is what is on disk."""
    store = open_store(data_dir)
    stations = store.all()
    reconcile(store)
    log = open_audit(data_dir)
    assert log.pending() == 0
    by_id = {s.id: s for s in stations}
    assert all(_dump(by_id.get(sid)) == after for sid, after in _last_committed_rows(data_dir))


@pytest.mark.parametrize("mode", ["before-commit-sql", "before-rename"])
def test_killed_before_the_write_takes_effect_leaves_registry_as_before(registry_dir, tmp_path, mode):
    """Killed inside the row transaction (a hot SQLite journal is left) or before an import's rename."""
    store = open_store(registry_dir)
    s = _station_in(store, PUNING)
    before = store.all()
    proc = _start_writer(registry_dir, s.id, mode, tmp_path / "flag")
    _wait_for(tmp_path / "flag", proc)
    assert open_audit(registry_dir).pending() == 1  # the pending entry is there, the write is not
    _kill(proc)
    assert open_store(registry_dir).all() == before
    _assert_consistent(registry_dir)
    with open_audit(registry_dir)._db() as con:
        assert con.execute("SELECT state FROM changes ORDER BY seq DESC LIMIT 1").fetchone()[0] == "aborted"
    assert not open_audit(registry_dir).entries(station_id=s.id, actor="crash")  # an aborted write is not in the log
    edit_station(open_store(registry_dir), ADMIN, s.id, {"address": "之后"}, "*")  # the lock was released
    assert open_store(registry_dir).get(s.id).address == "之后"


def test_killed_after_rename_is_recorded_as_committed(registry_dir, tmp_path):
    s = _station_in(open_store(registry_dir), PUNING)
    proc = _start_writer(registry_dir, s.id, "before-commit", tmp_path / "flag")
    _wait_for(tmp_path / "flag", proc)
    _kill(proc)
    assert open_store(registry_dir).get(s.id).address == "写入 1"
    _assert_consistent(registry_dir)
    [entry] = open_audit(registry_dir).entries(station_id=s.id, actor="crash")
    assert entry.actor == "crash" and entry.after["address"] == "写入 1"


def _count(log: AuditLog, state: str) -> int:
    with log._db() as con:
        return con.execute("SELECT COUNT(*) FROM changes WHERE state = ?", (state,)).fetchone()[0]


def test_killed_mid_write_unpatched(registry_dir, tmp_path):
    """An unpatched writer looping real edits, killed while a write is under way (its audit entry
    pending) plus a random few milliseconds: each time, registry and log agree afterwards."""
    s = _station_in(open_store(registry_dir), PUNING)
    rng = random.Random(6)
    log = open_audit(registry_dir)
    for _ in range(4):
        proc = _start_writer(registry_dir, s.id, "loop", tmp_path / "unused")
        want = _count(log, "committed") + rng.randint(0, 3)  # let a few writes finish first
        end = time.monotonic() + 60
        while _count(log, "committed") < want or log.pending() == 0:
            assert proc.poll() is None and time.monotonic() < end
            time.sleep(0.001)
        time.sleep(rng.random() * 0.01)  # a row write takes a few milliseconds
        _kill(proc)
        _assert_consistent(registry_dir)
    assert _count(log, "committed") > 1 and open_store(registry_dir).get(s.id).address.startswith("写入")


# -- last verified ---------------------------------------------------------------------------------
def test_verify_confirms_without_changing_fields_and_is_audited(store, registry_dir):
    from datetime import date

    from stationmap.ops.editing import verify_station

    s = _station_in(store, PUNING)
    v = verify_station(store, PUNING_EDITOR, s.id, date(2025, 6, 1))  # no If-Match: nothing typed is written
    assert v.last_verified == "2025-06-01" and store.get(s.id) == v
    assert dataclasses.replace(v, last_verified=s.last_verified) == s  # every other field as it was
    assert etag(v) != etag(s)  # a new version: an editor holding the old one reloads before saving
    [entry] = open_audit(registry_dir).entries(station_id=s.id, actor="ed")
    assert (entry.action, entry.op, entry.changed) == ("verify", "update", ("last_verified",))
    assert verify_station(store, PUNING_EDITOR, s.id, date(2025, 6, 1)) == v  # twice a day: written once
    assert verify_station(store, ADMIN, s.id, date(2025, 5, 1)).last_verified == "2025-06-01"  # never back in time
    assert [e.action for e in open_audit(registry_dir).entries(station_id=s.id)].count("verify") == 1
    edited = edit_station(store, ADMIN, s.id, {"phone": "0663-7654321"}, "*")
    assert edited.last_verified == "2025-06-01"  # an edit keeps the day
    with pytest.raises(InvalidInput, match="unknown field"):
        edit_station(store, ADMIN, s.id, {"last_verified": "2030-01-01"}, "*")  # set only by verifying
    before = _snapshot(store, registry_dir)
    with pytest.raises(Forbidden):
        verify_station(store, PUNING_EDITOR, _station_in(store, RONGCHENG).id)
    with pytest.raises(NotFound):
        verify_station(store, ADMIN, "st-nothere")
    assert _snapshot(store, registry_dir) == before


def test_verify_today_is_the_day_in_jieyang(store):
    from datetime import datetime

    from stationmap.hours import TZ
    from stationmap.ops.editing import verify_station

    s = verify_station(store, ADMIN, _station_in(store, PUNING).id)
    assert s.last_verified in {datetime.now(TZ).date().isoformat()}


def test_unverified_lists_never_and_oldest_first(store):
    from datetime import date, timedelta

    from stationmap.ops.editing import verify_station
    from stationmap.ops.verified import unverified

    today = date(2025, 6, 30)
    a, b, c = [s.id for s in store.all() if s.district == PUNING][:3]
    verify_station(store, ADMIN, a, today - timedelta(days=40))
    verify_station(store, ADMIN, b, today - timedelta(days=30))
    verify_station(store, ADMIN, c, today)
    found = [s.id for s in unverified(store.all(), 30, today, district="普宁市")]
    never = [s.id for s in store.all() if s.district == PUNING and s.id not in (a, b, c)]
    assert found == never + [a, b]  # never verified (by id), then 40 days, then exactly 30 days
    assert [s.id for s in unverified(store.all(), 31, today, district=PUNING)] == never + [a]
    assert c not in [s.id for s in unverified(store.all(), 1, today)]
    assert len(unverified(store.all(), 1, today)) == len(store.all()) - 1
    for bad in (0, -1, "x", 2.5):
        with pytest.raises(InvalidInput):
            unverified(store.all(), bad, today)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "geojson"])
def test_last_verified_survives_export_and_import(store, registry_dir, tmp_path, fmt):
    """Exported with its day (核实日期), imported back unchanged; a list without the column keeps the registry's days."""
    from datetime import date

    from stationmap.files.exports import export_layer
    from stationmap.files.imports import import_file
    from stationmap.ops.editing import verify_station

    s = verify_station(store, ADMIN, _station_in(store, PUNING).id, date(2025, 6, 1))
    out = tmp_path / f"stations.{fmt}"
    export_layer(store, "stations", fmt, out)
    registry = store.all()
    result = import_file(store, out, geocoder=None)
    assert not result.written and result.unchanged == len(registry)  # the round trip changes nothing
    if fmt == "csv":  # the union's own list has no 核实日期 column: a replace keeps the days editors set
        lines = out.read_text(encoding="utf-8-sig").splitlines()
        header = lines[0].split(",")
        col = header.index("核实日期")
        assert lines[0].endswith("核实日期") and any(line.endswith(",2025-06-01") for line in lines)
        bare = tmp_path / "bare.csv"
        bare.write_text("\n".join(",".join(line.split(",")[:col]) for line in lines) + "\n", encoding="utf-8")
        assert not import_file(store, bare).written
        assert store.get(s.id).last_verified == "2025-06-01"
