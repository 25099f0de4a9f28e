"""A bystander's nearest-station latency while anonymous clients hammer the costly questions.

Starts the service as in production (`gunicorn -w 2`, default limits and budgets, one proxy trusted
so that each attacker can have its own X-Forwarded-For address) on a fresh sample registry, and
measures `GET /api/nearest` from one client:

1. idle: nothing else running;
2. under attack: four clients (four addresses) each asking siting questions at reaches never asked
   before, at the full public rate limit of the default settings (300 a minute each; the limit itself
   is raised for the run so that the bystander, asking much faster, is never refused). Every answer
   they get is a 202, a 429 or a 503: none of them holds a worker.

Prints both medians and p90s and their ratio (target: p50 within 3x of idle), and how the attackers
were answered. Run by hand: python benchmarks/bench_bystander.py [--seconds 40]
"""
from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests
from common import free_port, gunicorn, machine

HERE = {"lat": 23.548, "lon": 116.372, "k": 5}


def bystander(url: str, seconds: float) -> list[float]:
    out, end = [], time.monotonic() + seconds
    with requests.Session() as s:
        while time.monotonic() < end:
            t = time.perf_counter()
            r = s.get(url + "/api/nearest", params=HERE, timeout=60)
            out.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
            time.sleep(0.02)
    return out


def attacker(url: str, n: int, stop: threading.Event, answers: collections.Counter, per_minute: float) -> None:
    asked, start = 0, time.monotonic()
    with requests.Session() as s:
        headers = {"X-Forwarded-For": f"198.51.100.{n + 1}"}
        while not stop.is_set():
            asked += 1  # a new reach each time (in 50 m steps, 500 m to 40 km): never in any cache
            reach = 500 + (n * 10_000 + asked * 50) % 39_500
            r = s.get(url + "/api/suggest", params={"n": 10, "reach_m": reach, "min_stations": 2},
                      headers=headers, timeout=60)
            answers[r.status_code] += 1
            time.sleep(max(0.0, start + asked * 60.0 / per_minute - time.monotonic()))


def p(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100)[int(q) - 1] if len(xs) > 2 else max(xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--per-minute", type=float, default=300.0, help="each attacker's request rate")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bystander-"))
    port = free_port()
    env = dict(os.environ, STATIONMAP_DATA_DIR=str(data), STATIONMAP_PROXY_COUNT="1",
               STATIONMAP_RATE_LIMIT_PUBLIC="100000/minute")  # the per-address limit is not what is measured
    proc = gunicorn("web:create_app()", port, env)
    url = f"http://127.0.0.1:{port}"
    try:
        bystander(url, 3)  # warm both workers
        idle = bystander(url, args.seconds)
        stop, answers = threading.Event(), collections.Counter()
        attackers = [threading.Thread(target=attacker, args=(url, i, stop, answers, args.per_minute)) for i in range(4)]
        for t in attackers:
            t.start()
        time.sleep(3)  # the runner is busy from here on
        loaded = bystander(url, args.seconds)
        stop.set()
        for t in attackers:
            t.join()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        subprocess.run(["pkill", "-f", f"stationmap.query.jobs run --data-dir {data}"], check=False)
        shutil.rmtree(data, ignore_errors=True)
    i50, l50 = statistics.median(idle), statistics.median(loaded)
    print(f"# bystander nearest under attack — {machine()}, gunicorn -w 2, {args.seconds:g} s per phase")
    print(f"idle:          p50 {i50 * 1e3:.1f} ms  p90 {p(idle, 90) * 1e3:.1f} ms  ({len(idle)} requests)")
    print(f"4 attackers ({args.per_minute:g}/min each): p50 {l50 * 1e3:.1f} ms  p90 {p(loaded, 90) * 1e3:.1f} ms  ({len(loaded)} requests)")
    print(f"ratio p50 loaded/idle: {l50 / i50:.2f}x (target <= 3x)")
    print("attackers were answered: " + ", ".join(f"{code}: {count}" for code, count in sorted(answers.items())))


if __name__ == "__main__":
    main()
