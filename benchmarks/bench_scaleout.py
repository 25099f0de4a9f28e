"""The scale-out configuration at the national size: 184,200 synthetic stations (`common.national_stations`) in
PostgreSQL/PostGIS, Redis for what workers share, two gunicorn workers — beside the embedded GeoPackage and a
bare Flask endpoint under the same gunicorn, in the same run.

Prints: the import of the national set (CLI, a CSV) into each store; worker start (to the first /healthz);
GET /api/nearest p50 and req/s under -w 2 (wrk) for both stores and the bare ceiling; memory per worker;
/map opened in headless Chromium (first clusters drawn); and nearest by the database's own index (KNN on
geography, then the exact geodesic re-rank) against the in-process index, with every answer compared.

Needs Debian's postgresql-15-postgis-3, redis-server and wrk (`make postgis redis`, `apt-get install wrk`).
Run by hand: python benchmarks/bench_scaleout.py [--stations N] [--seconds S]
"""
from __future__ import annotations

import argparse
import csv
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, free_port, gunicorn, machine, national_stations  # noqa: I001

sys.path.insert(0, str(ROOT / "tests"))

from bench_http import wrk  # noqa: E402
from bench_map_scale import open_map  # noqa: E402
from servers import Postgres, Redis  # noqa: E402
from webserver import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from stationmap.geo import geography  # noqa: E402
from stationmap.geo.geodesic import GEOD  # noqa: E402
from stationmap.query.nearest import NearestIndex  # noqa: E402

HERE = Path(__file__).resolve().parent
K = 5
SPHERE_SLACK = 0.01  # a sphere's distance is within 0.6 % of the WGS-84 geodesic; 1 % bounds it safely


def write_csv(path: Path, lats: np.ndarray, lons: np.ndarray) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["驿站名称", "类型", "纬度", "经度", "详细地址", "开放时间"])
        for i, (a, b) in enumerate(zip(lats.tolist(), lons.tolist())):
            w.writerow([f"站{i:06d}", "户外" if i % 9 else "智能", f"{a:.6f}", f"{b:.6f}", "", "Mo-Su 08:00-18:00"])


def rss_mb(master: int) -> list[float]:
    """Resident memory (MB) of each worker of a gunicorn master."""
    out = []
    for pid in subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split():
        status = Path(f"/proc/{pid}/status").read_text()
        out.append(int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1]) / 1024)
    return out


def knn(con, lat: float, lon: float, k: int) -> list[tuple[str, float]]:
    """Nearest k by the database's GiST index (sphere order), re-ranked by the exact geodesic; candidates are
    fetched until the next one, by its sphere distance with slack, cannot beat the k-th exact one."""
    limit = 4 * k
    while True:
        rows = con.execute("SELECT id, lat, lon, geog <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography AS d "
                           "FROM stations ORDER BY d LIMIT %s", (lon, lat, limit)).fetchall()
        exact = sorted((float(GEOD.inv(lon, lat, r[2], r[1])[2]), r[0]) for r in rows)
        if len(rows) < limit or rows[-1][3] * (1 - SPHERE_SLACK) > exact[k - 1][0]:
            return [(sid, d) for d, sid in exact[:k]]
        limit *= 4


def nearest_peers(url: str, ids: list[str], lats: np.ndarray, lons: np.ndarray, queries: int) -> None:
    import psycopg

    index = NearestIndex(lats.tolist(), lons.tolist())
    rng = np.random.default_rng(7)
    pick = rng.integers(0, lats.size, queries)
    qlat, qlon = lats[pick] + rng.normal(0, 0.01, queries), lons[pick] + rng.normal(0, 0.01, queries)
    db_s, mem_s, same = [], [], 0
    with psycopg.connect(url, autocommit=True) as con:
        knn(con, float(qlat[0]), float(qlon[0]), K)  # warm the connection and the index pages
        for a, b in zip(qlat.tolist(), qlon.tolist()):
            t = time.perf_counter()
            got_db = knn(con, a, b, K)
            db_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            got_mem = index.query(a, b, K)
            mem_s.append(time.perf_counter() - t)
            same += [sid for sid, _ in got_db] == [ids[pos] for pos, _ in got_mem] and all(
                abs(d1 - d2) < 1e-3 for (_, d1), (_, d2) in zip(got_db, got_mem))
    db, mem = statistics.median(db_s), statistics.median(mem_s)
    print(f"nearest k={K}, {queries} queries: database KNN + exact re-rank median {db * 1e3:.2f} ms; "
          f"in-process index {mem * 1e6:.1f} µs ({db / mem:.0f}x faster); identical answers {same}/{queries}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stations", type=int, default=184_200)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    print(f"# scale-out: {args.stations:,} synthetic stations, gunicorn -w 2 — {machine()}")
    lats, lons = national_stations(int(args.stations * 1.1))
    inside = geography.service_area("china").covers(lats, lons)  # the synthetic spread reaches into the sea
    lats, lons = lats[inside][:args.stations], lons[inside][:args.stations]
    tmp = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    table = tmp / "national.csv"
    write_csv(table, lats, lons)
    pg, rd = Postgres(), Redis()
    try:
        run_all(args, tmp, table, lats, lons, pg, rd.url)
    finally:
        rd.stop()
        pg.remove()


def run_all(args: argparse.Namespace, tmp: Path, table: Path, lats: np.ndarray, lons: np.ndarray, pg: Postgres,
            redis_url: str) -> None:
    base = dict(os.environ, STATIONMAP_SERVICE_AREA="china", STATIONMAP_RATE_LIMIT_PUBLIC="100000000/minute")
    exe = str(Path(sys.executable).with_name("stationmap"))
    configs = {"PostGIS + Redis": {**base, "STATIONMAP_DATA_DIR": str(tmp / "pg"),
                                   "STATIONMAP_DATABASE_URL": pg.new_database(), "STATIONMAP_REDIS_URL": redis_url},
               "GeoPackage": {**base, "STATIONMAP_DATA_DIR": str(tmp / "gpkg")}}
    for label, env in configs.items():
        t = time.perf_counter()
        run = subprocess.run([exe, "import", str(table)], env=env, capture_output=True, text=True)
        if run.returncode:
            raise SystemExit(f"import into {label} refused: {run.stderr.strip()[:400]}")
        print(f"import {args.stations:,} rows (CLI, CSV) into {label:16} {time.perf_counter() - t:6.1f} s")
    import psycopg

    with psycopg.connect(configs["PostGIS + Redis"]["STATIONMAP_DATABASE_URL"]) as con:
        ids, plat, plon = zip(*con.execute("SELECT id, lat, lon FROM stations ORDER BY id").fetchall())
    nearest_peers(configs["PostGIS + Redis"]["STATIONMAP_DATABASE_URL"], list(ids), np.array(plat),
                  np.array(plon), 300)

    bare_port = free_port()
    bare = gunicorn("bare_app:app", bare_port, dict(os.environ), HERE)
    servers = {}
    try:
        for label, env in configs.items():
            port = free_port()
            t = time.perf_counter()
            servers[label] = (gunicorn("web:create_app()", port, env), port)
            print(f"start, 2 workers, to the first /healthz: {label:16} {time.perf_counter() - t:6.2f} s")
        point = f"lat={lats[0]:.5f}&lon={lons[0]:.5f}&k={K}"
        cases = [("bare Flask endpoint (ceiling)", f"http://127.0.0.1:{bare_port}/api/nearest", bare.pid)] + [
            (f"GET /api/nearest, {label}", f"http://127.0.0.1:{port}/api/nearest?{point}", proc.pid)
            for label, (proc, port) in servers.items()]
        for _, url, _pid in cases:
            wrk(url, 4, 1)
        print(f"{'path':44} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'CPU ms/answer':>13} {'of ceiling':>10}")
        for conns in (1, 4):
            ceiling = None
            for label, url, pid in cases:
                rps, p50, cpu = wrk(url, conns, args.seconds, master=pid)
                ceiling = ceiling or rps
                print(f"{label:44} {conns:>5} {rps:>8.0f} {p50:>8.2f} {cpu:>13.2f} {rps / ceiling:>10.2f}")
        for label, (proc, _) in servers.items():
            print(f"memory per worker, {label:16} " + ", ".join(f"{m:.0f} MB" for m in rss_mb(proc.pid)))
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for label, (_, port) in servers.items():
                url = f"http://127.0.0.1:{port}/map?basemap=osm"
                open_map(browser, url)
                runs = [open_map(browser, url) for _ in range(3)]
                took, big = sorted(r[0] for r in runs)[1], max(r[1] for r in runs)
                print(f"/map open (first clusters drawn), {label:16} median {took:.2f} s (target <= 3 s); "
                      f"largest response {big / 1e6:.3f} MB (target <= 1 MB)")
            browser.close()
    finally:
        for proc in [bare] + [p for p, _ in servers.values()]:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
