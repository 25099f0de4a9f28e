"""The planner's answers on the Jieyang registry, warm: coverage and gaps at many reaches, and what-if.

Started: the real app (web.create_app) on a loopback port with a fresh sample registry. Each question
is asked once and polled until computed (the job flow: "first" is that wall time), then asked REPEAT
more times over HTTP: the medians of those are the warm answers the planner page gets, held against
the ceiling (1 s). What-if (POST /api/whatif, two added sites and one closed station, a new body each
time so that nothing is served from a cache but the registry's counts) likewise.
Usage: python benchmarks/bench_planner.py [--repeat 7]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import requests
from common import fmt_s, machine, median  # noqa: I001

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
CEILING_S = 1.0
REACHES = [{"minutes": 15, "mode": "walk"}, {"minutes": 15, "mode": "ebike"}, {"minutes": 10, "mode": "ebike"},
           {"minutes": 15, "mode": "car"}, {"reach_m": 500}, {"reach_m": 2000}, {"reach_m": 5000}]


def answered(url: str, params: dict, wait_s: float = 600.0) -> tuple[requests.Response, float]:
    t = time.perf_counter()
    r = requests.get(url, params=params, timeout=120)
    while r.status_code == 202:
        assert time.perf_counter() - t < wait_s
        time.sleep(0.2)
        r = requests.get(url, params=params, timeout=120)
    r.raise_for_status()
    return r, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    os.environ.setdefault("STATIONMAP_JOB_IDLE_EXIT_S", "30")
    import logging

    from webserver import start

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    server = start({"data_dir": tempfile.mkdtemp(prefix="bench-planner-"), "rate_limit_public": "1000000/minute",
                    "job_budget_s": 100000})
    print(f"planner answers, warm (median of {args.repeat}) vs ceiling {fmt_s(CEILING_S)}; {machine()}")
    worst = 0.0
    try:
        for reach in REACHES:
            for k in (1, 2):
                q = {**reach, "min_stations": k}
                _, first = answered(server.url + "/api/coverage", q)
                for what, extra in (("coverage", {}), ("gaps", {"limit": 20})):
                    times = [answered(server.url + f"/api/{what}", {**q, **extra})[1] for _ in range(args.repeat)]
                    worst = max(worst, median(times))
                    flag = "ok" if median(times) <= CEILING_S else "OVER"
                    print(f"  {what:8s} {str(reach):32s} k={k}: first {fmt_s(first):>9s}  warm {fmt_s(median(times)):>9s}  {flag}")
        stations = requests.get(server.url + "/api/stations", timeout=60).json()["features"]
        for k in (1, 2):
            times = []
            for i in range(args.repeat):
                body = {"add": [[23.30 + i * 1e-3, 116.10], [23.08, 116.17 + i * 1e-3]], "remove": [stations[i]["id"]]}
                t = time.perf_counter()
                r = requests.post(server.url + "/api/whatif", params={"minutes": 15, "mode": "ebike", "min_stations": k},
                                  json=body, timeout=60)
                times.append(time.perf_counter() - t)
                r.raise_for_status()
            worst = max(worst, median(times[1:]))
            print(f"  whatif   15 min ebike, +2 sites -1 station k={k}: first {fmt_s(times[0])}  "
                  f"warm {fmt_s(median(times[1:]))}  {'ok' if median(times[1:]) <= CEILING_S else 'OVER'}")
    finally:
        server.stop()
    print(f"worst warm median {fmt_s(worst)} ({'within' if worst <= CEILING_S else 'OVER'} the {fmt_s(CEILING_S)} ceiling)")


if __name__ == "__main__":
    main()
