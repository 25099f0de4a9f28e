"""PostgreSQL or Redis going away under a live app, and coming back: /readyz says what is down (503), a
write is refused with a clear 503 and changes nothing, public reads keep their rate limits, and the app
recovers by itself when the server returns, with nothing lost.

Each server here is this module's own (a PostgreSQL + PostGIS cluster and a redis-server in temporary
directories), so stopping them touches no other test.
"""
from __future__ import annotations

import os
import time

import pytest
import requests

from stationmap.ops.accounts import open_accounts
from stationmap.ops.audit import open_audit
from servers import Postgres, Redis, have_postgis, redis_exe
from web import ratelimit
from webserver import start


@pytest.fixture
def servers(tmp_path):
    """(PostgreSQL, Redis) of this test only, with the URL of a PostGIS database on the first as `pg.db`."""
    if not have_postgis() or not redis_exe():
        if os.environ.get("CI"):
            pytest.fail("no PostgreSQL 15 with PostGIS 3 or no redis-server in CI: `make postgis redis` should "
                        "have installed them")
        pytest.skip("no PostgreSQL 15 with PostGIS 3 or no redis-server: run `make postgis redis`")
    pg = Postgres()
    pg.db = pg.new_database()
    rd = Redis(tmp_path)
    yield pg, rd
    rd.stop()
    pg.remove()


def _problem(resp: requests.Response, status: int = 503) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert int(resp.headers["Retry-After"]) >= 1
    doc = resp.json()
    assert doc["status"] == status and "Traceback" not in resp.text
    return doc


def test_the_app_says_what_is_down_refuses_writes_cleanly_and_recovers_by_itself(servers, registry_dir, monkeypatch):
    pg, rd = servers
    monkeypatch.setattr(ratelimit, "REDIS_RETRY_S", 0.2)
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", pg.db)
    monkeypatch.delenv("STATIONMAP_STORE", raising=False)
    acc = open_accounts(registry_dir)
    acc.add_user("root", "admin")
    auth = {"Authorization": f"Bearer {acc.issue_token('root')[0]}"}
    app = start({"data_dir": str(registry_dir), "redis_url": rd.url, "rate_limit_public": "1000/minute"})
    url = app.url
    try:
        ready = requests.get(f"{url}/readyz", timeout=30)
        assert ready.status_code == 200 and ready.headers["Cache-Control"] == "no-store"
        parts = ready.json()["parts"]
        assert parts["registry"]["status"] == "ok" and parts["registry"]["store"] == "postgis"
        assert parts["redis"]["status"] == "ok"
        feats = requests.get(f"{url}/api/stations", timeout=30).json()["features"]
        assert len(feats) == 135
        sid = feats[0]["id"]

        def patch(address: str, etag: str) -> requests.Response:
            return requests.patch(f"{url}/api/stations/{sid}", json={"address": address}, timeout=30,
                                  headers={**auth, "If-Match": etag})

        first = patch("停电之前", requests.get(f"{url}/api/admin/stations/{sid}", headers=auth,
                                             timeout=30).headers["ETag"])
        assert first.status_code == 200, first.text
        etag = first.headers["ETag"]

        pg.stop()
        doc = _problem(requests.get(f"{url}/readyz", timeout=30))
        assert "registry (PostgreSQL)" in doc["detail"] and "redis" not in doc["detail"]
        assert doc["parts"]["registry"]["status"] == "down" and doc["parts"]["redis"]["status"] == "ok"
        refused = _problem(patch("停电之中", etag))
        assert refused["title"] == "Service unavailable"
        _problem(requests.get(f"{url}/api/nearest?lat=23.55&lon=116.37", timeout=30))
        _problem(requests.get(f"{url}/healthz", timeout=30))
        page = requests.get(f"{url}/map", timeout=30)  # a page says it too, as a page
        assert page.status_code == 503 and page.headers["Content-Type"].startswith("text/html")
        assert int(page.headers["Retry-After"]) >= 1 and "Traceback" not in page.text

        pg.start()  # no restart of the app: the next request connects afresh
        assert requests.get(f"{url}/readyz", timeout=30).status_code == 200
        assert requests.get(f"{url}/api/stations/{sid}", timeout=30).json()["properties"]["address"] == "停电之前"
        again = patch("恢复之后", etag)  # the refused write, sent again with the same version: nothing moved
        assert again.status_code == 200, again.text
        assert len(requests.get(f"{url}/api/stations", timeout=30).json()["features"]) == 135
        audit = open_audit(registry_dir)
        assert audit.pending() == 0
        entries = audit.entries(station_id=sid, actor="root")  # newest first: the refused write left nothing
        assert [e.after["address"] for e in entries] == ["恢复之后", "停电之前"]

        rd.stop()
        doc = _problem(requests.get(f"{url}/readyz", timeout=30))
        assert "redis" in doc["detail"] and doc["parts"]["redis"]["status"] == "down"
        assert doc["parts"]["registry"]["status"] == "ok"
        reads = [requests.get(f"{url}/api/districts", timeout=30) for _ in range(3)]
        assert [r.status_code for r in reads] == [200] * 3  # still served, still counted (by this worker alone)
        assert [int(r.headers["X-RateLimit-Remaining"]) for r in reads] == [999, 998, 997]
        rd.start()
        time.sleep(ratelimit.REDIS_RETRY_S + 0.1)  # a worker asks Redis again after REDIS_RETRY_S
        assert requests.get(f"{url}/readyz", timeout=30).status_code == 200
        back = requests.get(f"{url}/api/districts", timeout=30)
        assert back.status_code == 200 and int(back.headers["X-RateLimit-Remaining"]) == 999  # Redis counts again
    finally:
        app.stop()


def test_only_a_lost_connection_counts_as_a_server_away():
    import psycopg.errors
    import redis

    from stationmap.errors import Conflict, ServerUnavailable
    from stationmap.servers import server_away, unavailable

    away = [psycopg.OperationalError("server closed the connection unexpectedly"), psycopg.errors.AdminShutdown(),
            psycopg.errors.CannotConnectNow(), psycopg.InterfaceError("the connection is closed"),
            redis.ConnectionError("Error 111 connecting"), redis.TimeoutError("Timeout reading")]
    assert [server_away(e) for e in away] == ["PostgreSQL"] * 4 + ["Redis"] * 2
    statement = [psycopg.errors.QueryCanceled(), psycopg.errors.DeadlockDetected(), psycopg.errors.UniqueViolation(),
                 redis.ResponseError("WRONGTYPE"), ValueError("a bug"), Conflict("changed meanwhile")]
    assert [server_away(e) for e in statement] == [None] * 6
    try:
        try:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        except psycopg.Error as lost:
            raise RuntimeError("while reading the registry") from lost
    except RuntimeError as wrapped:
        answer = unavailable(wrapped)
    assert isinstance(answer, ServerUnavailable) and answer.status == 503 and answer.retry_after >= 1
    assert "PostgreSQL" in str(answer) and "server closed" not in str(answer)  # no driver detail to the client
