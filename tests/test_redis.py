"""Rate limits shared through Redis (`redis_url`): the documented limit holds across app instances, against
Debian's real redis-server started by the `redis_server` fixture (across two gunicorn workers: test_scaleout_e2e)."""
from __future__ import annotations


import pytest
import redis
import requests

from webserver import start

LIMIT = 6


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's Redis, emptied: counts from earlier tests (same client address) do not carry over."""
    redis.Redis(unix_socket_path=redis_server.removeprefix("redis+unix://")).flushall()
    return redis_server


def _statuses(urls: list[str], n: int) -> list[int]:
    """`n` requests to a public route, taking the servers in turn, each on a new connection."""
    return [requests.get(f"{urls[i % len(urls)]}/api/districts", timeout=120).status_code for i in range(n)]


def test_two_app_instances_share_one_limit_through_redis_and_not_without(redis_url, registry_dir):
    shared = [start({"data_dir": str(registry_dir), "redis_url": redis_url, "rate_limit_public": f"{LIMIT}/minute"})
              for _ in range(2)]
    alone = [start({"data_dir": str(registry_dir), "rate_limit_public": f"{LIMIT}/minute"}) for _ in range(2)]
    try:
        got = _statuses([s.url for s in shared], 3 * LIMIT)
        assert got == [200] * LIMIT + [429] * (2 * LIMIT)  # exact: one count for both instances
        got = _statuses([s.url for s in alone], 3 * LIMIT)
        assert got.count(200) == 2 * LIMIT  # the single-process default: each instance counts its own
    finally:
        for s in shared + alone:
            s.stop()
