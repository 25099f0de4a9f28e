"""Accounts: roles, password hashing, API tokens (issue, expire, revoke), device keys, and the CLI."""
from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from cli_runner import stationmap
from records_backends import _records_template, records, stored_bytes  # noqa: F401  (fixtures)

from stationmap.config import load_settings
from stationmap.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from stationmap.ops import accounts as accounts_mod
from stationmap.ops.accounts import Accounts, hash_password, open_accounts, verify_password
from stationmap.store import load_sample

PUNING = "445281"
RONGCHENG = "445202"


@pytest.fixture
def accounts(tmp_path, request) -> Accounts:
    if "records" in request.fixturenames:  # the database (if that is the place) before the accounts
        request.getfixturevalue("records")
    return open_accounts(tmp_path)


@pytest.fixture
def default_work(monkeypatch):
    """The service's own password cost (the suite lowers it in conftest to save CPU)."""
    monkeypatch.delenv("STATIONMAP_PASSWORD_WORK", raising=False)
    accounts_mod._work_n.cache_clear()
    yield
    accounts_mod._work_n.cache_clear()


def test_passwords_cost_2_to_15_by_default_and_each_hash_keeps_its_cost(default_work, monkeypatch):
    strong = hash_password("correct horse battery")
    assert strong.split("$")[1:4] == ["32768", "8", "1"] and verify_password("correct horse battery", strong)
    monkeypatch.setenv("STATIONMAP_PASSWORD_WORK", "10")
    accounts_mod._work_n.cache_clear()
    cheap = hash_password("correct horse battery")
    assert cheap.split("$")[1] == "1024"
    assert verify_password("correct horse battery", strong) and verify_password("correct horse battery", cheap)
    forged = strong.replace("$32768$", f"${2 ** 20}$")  # beyond what the service ever makes: refused unread
    assert not verify_password("correct horse battery", forged)
    for bad in ("9", "17", "ten"):
        monkeypatch.setenv("STATIONMAP_PASSWORD_WORK", bad)
        with pytest.raises(InvalidInput, match="password_work"):
            load_settings()


def test_password_is_stored_only_as_salted_scrypt(accounts, tmp_path):
    accounts.add_user("alice", "admin", password="correct horse battery")
    accounts.add_user("bob", "admin", password="correct horse battery")
    raw = (tmp_path / "accounts.sqlite").read_bytes()
    assert b"correct horse" not in raw
    with sqlite3.connect(tmp_path / "accounts.sqlite") as con:
        stored = dict(con.execute("SELECT name, password FROM users"))
    assert stored["alice"].startswith("scrypt$") and stored["alice"] != stored["bob"]  # per-user salt
    assert verify_password("correct horse battery", stored["alice"])
    assert not verify_password("correct horse batterY", stored["alice"])
    assert accounts.login("alice", "correct horse battery").name == "alice"
    for name, pw in (("alice", "wrong password!"), ("nobody", "correct horse battery")):
        with pytest.raises(Unauthorized, match="wrong user name or password"):
            accounts.login(name, pw)


def test_hash_format_round_trip():
    h = hash_password("0123456789")
    assert h.count("$") == 5 and verify_password("0123456789", h) and not verify_password("012345678", h)
    assert not verify_password("x", "md5$abc")


@pytest.mark.usefixtures("records")
def test_roles_and_districts(accounts):
    ed = accounts.add_user("ed", "editor", district="普宁")
    assert ed.district == PUNING and ed.may_edit(PUNING) and not ed.may_edit(RONGCHENG)
    with pytest.raises(Forbidden, match="普宁市"):
        ed.check_district(RONGCHENG)
    admin = accounts.add_user("root", "admin")
    assert admin.district is None and admin.may_edit(RONGCHENG)
    with pytest.raises(InvalidInput, match="needs --district"):
        accounts.add_user("x", "editor")
    with pytest.raises(InvalidInput, match="whole city"):
        accounts.add_user("y", "admin", district="普宁")
    with pytest.raises(InvalidInput, match="unknown district"):
        accounts.add_user("z", "editor", district="广州")
    with pytest.raises(InvalidInput, match="role"):
        accounts.add_user("w", "owner")
    with pytest.raises(InvalidInput, match="user name"):
        accounts.add_user("has space", "admin")
    with pytest.raises(InvalidInput, match="too short"):
        accounts.add_user("v", "admin", password="short")
    with pytest.raises(Conflict):
        accounts.add_user("ed", "admin")
    assert [u.name for u in accounts.users()] == ["ed", "root"]


@pytest.mark.usefixtures("records")
def test_token_shown_once_stored_hashed_and_revocable(accounts):
    accounts.add_user("ed", "editor", district=PUNING)
    token, info = accounts.issue_token("ed", "laptop")
    assert token.startswith("smt_") and len(token) > 40
    assert token.encode() not in stored_bytes(accounts.path) and info.id.encode() in stored_bytes(accounts.path)
    assert accounts.authenticate(token).name == "ed"
    assert accounts.token(info.id).last_used_utc
    other, _ = accounts.issue_token("ed")
    assert accounts.revoke("ed", info.id) == 1
    with pytest.raises(Unauthorized, match="revoked"):
        accounts.authenticate(token)
    assert accounts.authenticate(other).name == "ed"  # revoking one leaves the others
    assert accounts.revoke("ed") == 1
    with pytest.raises(Unauthorized, match="revoked"):
        accounts.authenticate(other)
    for bad in (None, "", "smt_nope", token + "x"):
        with pytest.raises(Unauthorized):
            accounts.authenticate(bad)


@pytest.mark.usefixtures("records")
def test_token_expiry_and_disabled_account(accounts):
    accounts.add_user("ed", "editor", district=PUNING)
    expired, _ = accounts.issue_token("ed", ttl=timedelta(seconds=-1))
    with pytest.raises(Unauthorized, match="expired"):
        accounts.authenticate(expired)
    live, info = accounts.issue_token("ed", ttl=timedelta(days=1))
    assert accounts.authenticate(live).name == "ed" and info.state() == "active"
    assert accounts.disable_user("ed") == 2  # both tokens revoked (the expired one too)
    with pytest.raises(Unauthorized):
        accounts.authenticate(live)
    with pytest.raises(Conflict, match="disabled"):
        accounts.issue_token("ed")
    with pytest.raises(NotFound):
        accounts.issue_token("ghost")


@pytest.mark.usefixtures("records")
def test_device_keys_only_for_smart_stations(accounts):
    stations = load_sample()
    smart = next(s for s in stations if s.kind == "smart")
    outdoor = next(s for s in stations if s.kind == "outdoor")
    with pytest.raises(InvalidInput, match="not a smart station"):
        accounts.issue_device_key(outdoor)
    with pytest.raises(Unauthorized):
        accounts.device_key(smart.id)
    k1 = accounts.issue_device_key(smart)
    assert accounts.device_key(smart.id) == k1.encode()
    k2 = accounts.issue_device_key(smart)  # re-issue replaces the key
    assert k2 != k1 and accounts.device_key(smart.id) == k2.encode()
    assert accounts.revoke_device(smart.id)
    with pytest.raises(Unauthorized, match="no active device key"):
        accounts.device_key(smart.id)
    assert accounts.devices()[0]["station_id"] == smart.id and "secret" not in accounts.devices()[0]


def _cli(data_dir, *args, stdin: str = ""):
    """Run a command in-process (fast); library errors surface as `result.exception`."""
    from click.testing import CliRunner

    from stationmap.cli import cli

    return CliRunner().invoke(cli, [*map(str, args), "--data-dir", str(data_dir)], input=stdin)


def test_cli_users_tokens_devices(registry_dir):
    r = _cli(registry_dir, "user", "add", "ed", "--role", "editor", "--district", "普宁市", "--password",
             stdin="a long enough password\n")
    assert r.exit_code == 0, r.output
    assert open_accounts(registry_dir).login("ed", "a long enough password").district == PUNING
    r = _cli(registry_dir, "user", "token", "ed", "--label", "ci", "--expires-days", "3")
    token = r.stdout.strip()
    assert r.exit_code == 0 and token.startswith("smt_") and "not shown again" in r.stderr
    assert open_accounts(registry_dir).authenticate(token).name == "ed"
    listing = _cli(registry_dir, "user", "list").stdout
    assert "ed\teditor\t445281" in listing and token not in listing
    assert token not in _cli(registry_dir, "user", "tokens").stdout
    assert _cli(registry_dir, "user", "revoke", "ed").stdout.startswith("revoked 1")
    with pytest.raises(Unauthorized):
        open_accounts(registry_dir).authenticate(token)
    bad = stationmap("user", "add", "x", "--role", "editor", "--data-dir", registry_dir)  # the real entry point, main()
    assert bad.exit_code == 2 and "needs --district" in bad.stderr and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: ") and "\n" not in bad.stderr.strip() and bad.stdout == ""
    assert "x" not in _cli(registry_dir, "user", "list").stdout.split()
    smart = next(s for s in load_sample() if s.kind == "smart")
    r = _cli(registry_dir, "device", "token", smart.id)
    assert r.exit_code == 0 and open_accounts(registry_dir).device_key(smart.id) == r.stdout.strip().encode()
    assert isinstance(_cli(registry_dir, "device", "token", "st-missing").exception, NotFound)
