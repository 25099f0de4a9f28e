"""Rate limits on the web: a moving window per client address and route, its headers, and its bounds."""
from __future__ import annotations

import time

from limits import parse

from web.ratelimit import SWEEP_S, LocalCounter


def _app(registry_dir, limit: str):
    from web import create_app

    return create_app({"data_dir": str(registry_dir), "rate_limit_public": limit})


def test_each_route_counts_per_address_and_the_refusal_says_when_to_come_back(registry_dir):
    client = _app(registry_dir, "3/minute").test_client()
    got = [client.get("/api/districts") for _ in range(4)]
    assert [r.status_code for r in got] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in got] == ["2", "1", "0", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "3" for r in got)
    assert "Retry-After" not in got[0].headers  # only a refusal says when to come back
    assert 1 <= int(got[3].headers["Retry-After"]) <= 60
    assert got[3].get_json()["detail"].startswith("too many requests from this address (3 per 1 minute)")
    assert client.get("/healthz").status_code == 200  # another route: its own count
    other = client.get("/api/districts", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200  # another address: its own count
    assert "X-RateLimit-Limit" not in client.get("/static/admin.js").headers  # static files are not counted


def test_no_limit_set_means_no_count(registry_dir):
    client = _app(registry_dir, "").test_client()
    resp = client.get("/api/districts")
    assert resp.status_code == 200 and "X-RateLimit-Limit" not in resp.headers


def test_the_window_moves_and_idle_keys_are_forgotten():
    counter, item = LocalCounter(), parse("2/second")
    assert [counter.hit(item, "a")[0] for _ in range(3)] == [True, True, False]
    allowed, remaining, reset = counter.hit(item, "a")
    assert not allowed and remaining == 0 and time.time() < reset <= time.time() + 1
    time.sleep(1.05)
    assert counter.hit(item, "a")[:2] == (True, 1)  # the first two left the window
    counter.hit(item, "b")
    time.sleep(1.05)
    counter._swept = time.monotonic() - SWEEP_S - 1  # as if the sweep interval had passed
    counter.hit(item, "c")
    assert set(counter._hits) == {"c"}  # a and b were idle for longer than their window
