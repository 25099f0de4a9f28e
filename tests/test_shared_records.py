"""With the registry in PostgreSQL, the operations records are in the same database: two services over
different data directories (two workers, or two machines) share accounts and tokens, failed sign-ins,
the audit log, telemetry nonces and the limits on workers' reports, and write no SQLite file of them."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from cli_runner import stationmap
from records_backends import _records_template, records  # noqa: F401  (fixtures)

from stationmap.api.service import Service
from stationmap.errors import Replayed, TooManyAttempts, TooManyRequests, Unauthorized
from stationmap.ops.accounts import User
from stationmap.ops.editing import edit_station
from stationmap.ops.telemetry import build_report

PUNING = "445281"
FILES = ("accounts.sqlite", "audit.sqlite", "telemetry.sqlite", "reports.sqlite")
DIRS = ("one", "two", "cli")


@pytest.fixture
def workers(records, tmp_path):
    return [Service.open({"data_dir": str(tmp_path / name), "report_client_limit": 3}) for name in ("one", "two")]


@pytest.mark.parametrize("records", ["postgresql"], indirect=True)
def test_two_workers_share_accounts_audit_telemetry_and_report_limits(workers, tmp_path):
    one, two = workers
    assert one.store.describe().startswith("PostGIS") and one.data_dir != two.data_dir

    added = stationmap("user", "add", "ed", "--role", "editor", "--district", "普宁市", "--data-dir", tmp_path / "cli")
    assert added.exit_code == 0, added.stderr  # the command line writes where the workers read
    token, _ = one.accounts.issue_token("ed")
    assert two.accounts.authenticate(token).name == "ed"
    assert two.accounts.revoke_token(token)
    with pytest.raises(Unauthorized, match="revoked"):
        one.accounts.authenticate(token)
    for worker in (one, two):  # two failures, one on each worker: the name is locked for both
        with pytest.raises(Unauthorized):
            worker.accounts.login("ed", "not the password", max_failures=2)
    with pytest.raises(TooManyAttempts):
        one.accounts.login("ed", "not the password", max_failures=2)

    s = next(x for x in one.store.all() if x.district == PUNING and x.status == "open")
    edit_station(one.store, User("root", "admin"), s.id, {"address": "一号进程写的"}, "*")
    [entry] = two.audit.entries(station_id=s.id, actor="root")
    assert entry.after["address"] == "一号进程写的" == two.store.get(s.id).address

    smart = next(x for x in one.store.all() if x.kind == "smart")
    body, sig = build_report(one.accounts.issue_device_key(smart), smart.id, open=True, occupancy=3)
    one.telemetry.receive(one.store, one.accounts, smart.id, body, sig, 300)
    with pytest.raises(Replayed, match="already used"):  # the same report replayed to the other worker
        two.telemetry.receive(two.store, two.accounts, smart.id, body, sig, 300)
    assert two.telemetry.live_status(1800)[smart.id]["occupancy"] == 3

    for worker in (one, two, one):
        worker.reports.file(worker.store, s.id, {"kind": "other", "text": "门口积水"}, "198.51.100.7")
    with pytest.raises(TooManyRequests):  # the client's fourth report within the hour, whichever worker gets it
        two.reports.file(two.store, s.id, {"kind": "other", "text": "门口积水"}, "198.51.100.7")
    assert [e.action for e in one.audit.entries(station_id=s.id) if e.op == "note"] == ["report"] * 3
    assert not [f for d in DIRS for f in FILES if (tmp_path / d / f).exists()]


@pytest.mark.parametrize("records", ["postgresql"], indirect=True)
def test_a_limit_holds_when_workers_file_at_the_same_moment(workers):
    """Check and count are one transaction under the schema's lock: racing workers cannot pass the limit together."""
    one, two = workers
    s = next(x for x in one.store.all() if x.status == "open")

    def file(i: int) -> bool:
        worker = (one, two)[i % 2]
        try:
            worker.reports.file(worker.store, s.id, {"kind": "closed"}, "203.0.113.5")
        except TooManyRequests:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        accepted = list(pool.map(file, range(12)))
    assert sum(accepted) == 3 and len(one.reports.listing(User("root", "admin"), "all")) == 3
