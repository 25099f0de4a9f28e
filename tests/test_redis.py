"""Rate limits shared through Redis (`redis_url`): the documented limit holds across app instances and
gunicorn workers, against Debian's real redis-server started by the `redis_server` fixture."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def test_the_limit_holds_across_two_gunicorn_workers(redis_url, registry_dir, tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "STATIONMAP_DATA_DIR": str(registry_dir), "STATIONMAP_REDIS_URL": redis_url,
           "STATIONMAP_RATE_LIMIT_PUBLIC": f"{LIMIT}/minute"}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "-w", "2", "-b", f"127.0.0.1:{port}",
                             "web:create_app()"], env=env, cwd=Path(__file__).parent.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        end = time.monotonic() + 60
        while True:  # the port is open once the master listens; requests wait there for a worker
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < end, proc.stderr.read().decode()
                time.sleep(0.1)
        got = _statuses([f"http://127.0.0.1:{port}"], 4 * LIMIT)
        assert got == [200] * LIMIT + [429] * (3 * LIMIT)  # not 2 x LIMIT: both workers count in Redis
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        proc.stderr.close()
