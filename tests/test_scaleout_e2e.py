"""The production configuration end to end: gunicorn with two workers (deploy/gunicorn.conf.py) on PostGIS and
Redis. Nearest answers are the embedded GeoPackage backend's, an admin edit made through one worker is what
both answer next, the documented rate limit holds across both workers (not twice it), and /map opens in Chromium.

The servers are the session's (`postgres_server`: a fresh database; `redis_server`).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from stationmap import config
from stationmap.api import Service
from stationmap.api.core import Fields, Request
from stationmap.maps import mapview
from stationmap.ops.accounts import open_accounts
from stationmap.store import open_store
from webserver import loopback_page

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 80  # requests per minute and route: above what the other steps send to one route
POINTS = [(23.5501, 116.3728, "wgs84"), (23.2975, 116.1660, "wgs84"), (23.0412, 116.2834, "wgs84"),
          (23.6800, 116.0500, "gcj02"), (22.9700, 116.4900, "wgs84")]


class Gunicorn:
    def __init__(self, url: str, token: str, proc: subprocess.Popen, log: Path):
        self.url, self.token, self.proc, self.log = url, token, proc, log

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.url + path, timeout=30, **kw)


@pytest.fixture
def site(tmp_path, postgres_server, redis_server):
    """gunicorn -w 2 on a fresh PostGIS database and the session's Redis; the schema (and the sample registry)
    made first, as `stationmap db upgrade` does before the service starts."""
    data = tmp_path / "scaleout"
    url = postgres_server.new_database()
    env = {"STATIONMAP_DATABASE_URL": url, "STATIONMAP_REDIS_URL": redis_server, "STATIONMAP_DATA_DIR": str(data),
           "STATIONMAP_RATE_LIMIT_PUBLIC": f"{LIMIT}/minute", "STATIONMAP_STORE": "auto"}
    import redis

    redis.Redis(unix_socket_path=redis_server.removeprefix("redis+unix://")).flushall()  # no earlier counts
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        open_store(data)
        acc = open_accounts(data)
        acc.add_user("root", "admin")
        token = acc.issue_token("root")[0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = data / "gunicorn.log"
    errors = open(log, "wb")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "-c", "deploy/gunicorn.conf.py",
                             "--pythonpath", "tests", "--access-logfile", "/dev/null", "pid_app:app"],
                            env={**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"},
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
    site = Gunicorn(f"http://127.0.0.1:{port}", token, proc, log)
    end = time.monotonic() + 60
    while True:
        try:  # the master listens first; a request waits there until a worker has booted
            if site.get("/readyz").status_code == 200:
                break
        except requests.RequestException:
            pass
        assert proc.poll() is None and time.monotonic() < end, log.read_text()
        time.sleep(0.1)
    yield site
    os.killpg(proc.pid, signal.SIGKILL)  # nothing to finish: gunicorn's own shutdown takes seconds
    proc.wait(30)
    errors.close()


def _by_worker(site: Gunicorn, path: str, n: int = 24) -> list[tuple[str, requests.Response]]:
    """`n` requests, four at a time on new connections, so that both workers answer some; (worker pid, response)."""
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: site.get(path), range(n)))
    return [(r.headers["X-Worker-Pid"], r) for r in answers]


def test_two_gunicorn_workers_on_postgis_and_redis(site, registry_dir, chromium):
    """One test, in steps, so that the servers start once (pytest-xdist would start a module fixture on each of
    its processes that runs one of the module's tests)."""
    ready = site.get("/readyz").json()
    assert ready["status"] == "ok" and ready["parts"]["registry"]["store"] == "postgis"
    assert ready["parts"]["registry"]["status"] == ready["parts"]["redis"]["status"] == "ok"

    # nearest: the embedded GeoPackage backend's answers (the same sample registry, not yet edited)
    embedded = Service(config.load_settings({"data_dir": str(registry_dir), "store": "gpkg"}))

    def both(lat: float, lon: float, crs: str) -> tuple[dict, dict]:
        query = {"lat": str(lat), "lon": str(lon), "k": "8", "crs": crs}
        served = site.get("/api/nearest", params=query)
        assert served.status_code == 200, served.text
        local = embedded.handle(Request("GET", "/api/nearest", Fields(query)))
        assert local.status == 200
        a, b = served.json(), json.loads(local.body)
        a.pop("time"), b.pop("time")
        return a, b

    for lat, lon, crs in POINTS:
        served, local = both(lat, lon, crs)
        if served != local:  # asked across a minute's turn (open now, minutes until): ask both again
            served, local = both(lat, lon, crs)
        assert served["count"] == 8 and served == local

    # an admin edit through one worker is what both answer next
    sid = site.get("/api/stations", params={"limit": 1}).json()["features"][0]["id"]
    before = _by_worker(site, f"/api/stations/{sid}")
    assert len({pid for pid, _ in before}) == 2, "one gunicorn worker answered every request"
    assert "两个工人都看得见" not in {r.json()["properties"]["address"] for _, r in before}
    auth = {"Authorization": f"Bearer {site.token}"}
    etag = site.get(f"/api/admin/stations/{sid}", headers=auth).headers["ETag"]
    edited = requests.patch(f"{site.url}/api/stations/{sid}", json={"address": "两个工人都看得见"}, timeout=30,
                            headers={**auth, "If-Match": etag})
    assert edited.status_code == 200, edited.text
    after = _by_worker(site, f"/api/stations/{sid}")
    assert len({pid for pid, _ in after}) == 2
    assert {r.json()["properties"]["address"] for _, r in after} == {"两个工人都看得见"}

    # the rate limit is counted once for both workers, in Redis
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: site.get("/api/districts").status_code, range(LIMIT + 10)))
    assert sorted(got) == [200] * LIMIT + [429] * 10

    # the map opens in Chromium; only map tiles come from elsewhere
    ctx, page = loopback_page(chromium)
    try:
        page.goto(site.url + "/map")
        page.wait_for_selector("body.sm-ready")
        assert page.evaluate("StationMap.state.cluster.getLayers().length") == 135
        assert not page.errors
        assert {urlsplit(u).hostname for u in page.external} <= mapview.tile_hosts(config.load_settings())
    finally:
        ctx.close()
