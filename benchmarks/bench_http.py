"""HTTP throughput and latency of the public reads beside the ceiling, measured in the same run.

Starts the service as in production (`gunicorn -w 2`, loopback, the public rate limit raised so that it is
not what is measured) on a fresh sample registry, and beside it a bare Flask endpoint under the same
gunicorn (`bare_app.py`: the ceiling) and this app with its nearest answer stored (`floor_app.py`: what
the web layer costs when the answer costs nothing). wrk (Debian package `wrk`) drives each for a few
seconds, with 1 and 4 connections, and the script prints requests per second, the median latency and
the ratio to the ceiling. A second floor, `plain_app.py`, serves the same answer's bytes and headers from a plain
WSGI callable under the same gunicorn: what gunicorn alone costs for that answer, with no Flask and no web layer.
The cases take turns in `--rounds` rounds and each line gives the median of
its rounds (the ratio is of those medians, with its range over the rounds), so that a machine whose load
changes during the run moves every line alike. wrk sends no Accept-Encoding, so answers go out uncoded;
one line asks for nearest in brotli, as a phone does. `/api/stations` is also asked with the ETag of its
last answer (If-None-Match: a 304). Beside req/s, each line gives the gunicorn workers' CPU time per answer
(read from /proc before and after wrk): on a machine shared with other work, throughput follows the others'
load, CPU per answer much less. With `--peer DIR` (another checkout, e.g. `git archive <commit> | tar -x -C DIR`)
that code's nearest and stored-answer lines are measured in the same rounds, so that a change is compared with
the code before it on the same machine at the same moment.

Run by hand: python benchmarks/bench_http.py [--seconds 3] [--rounds 3] [--peer DIR]
"""
from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
from pathlib import Path

import requests
from common import free_port, gunicorn, machine

HERE = Path(__file__).resolve().parent
NEAREST = "/api/nearest?lat=23.548&lon=116.372&k=5"


TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def worker_cpu_s(master: int) -> float:
    """CPU seconds (user and system) used so far by the worker processes of a gunicorn master (from /proc)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == master:  # fields after the name: state, ppid, ..., utime (12th), stime (13th)
            total += int(fields[11]) + int(fields[12])
    return total * TICK_S


def wrk(url: str, connections: int, seconds: float, headers: dict[str, str] | None = None,
        master: int | None = None) -> tuple[float, float, float]:
    """(requests per second, median latency in ms, the workers' CPU ms per request or nan) from wrk."""
    cmd = ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    cpu = worker_cpu_s(master) if master else math.nan
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    cpu = worker_cpu_s(master) - cpu if master else math.nan
    if "Non-2xx or 3xx responses" in out:
        raise SystemExit(f"errors from {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    count = int(re.search(r"(\d+) requests in", out).group(1))
    value, unit = re.search(r"50%\s+([\d.]+)(us|ms|s)", out).groups()
    return rps, float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit], cpu * 1e3 / max(count, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peer", type=Path, help="another checkout whose nearest lines are measured beside")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-http-"))
    env = dict(os.environ, STATIONMAP_DATA_DIR=str(data), STATIONMAP_RATE_LIMIT_PUBLIC="10000000/minute")
    app_port, bare_port, floor_port, plain_port = free_port(), free_port(), free_port(), free_port()
    procs = [gunicorn("web:create_app()", app_port, env), gunicorn("bare_app:app", bare_port, dict(os.environ), HERE),
             gunicorn("floor_app:create_app()", floor_port, dict(env, PYTHONPATH=str(HERE)), HERE),
             gunicorn("plain_app:create_app()", plain_port, dict(env, PYTHONPATH=str(HERE)), HERE, ready=NEAREST)]
    app, bare, floor, plain = (f"http://127.0.0.1:{p}" for p in (app_port, bare_port, floor_port, plain_port))
    app_pid, bare_pid, floor_pid, plain_pid = (p.pid for p in procs)
    peer_cases = []
    if args.peer:
        peer = args.peer.resolve()
        peer_env = dict(env, STATIONMAP_DATA_DIR=str(Path(tempfile.mkdtemp(prefix="bench-http-peer-"))))
        ports = free_port(), free_port()
        procs += [gunicorn("web:create_app()", ports[0], dict(peer_env, PYTHONPATH=str(peer)), peer),
                  gunicorn("floor_app:create_app()", ports[1], dict(peer_env, PYTHONPATH=str(peer / "benchmarks")),
                           peer / "benchmarks")]
        peer_cases = [("  peer: GET /api/nearest, Jieyang", f"http://127.0.0.1:{ports[0]}{NEAREST}", None, procs[-2].pid),
                      ("  peer: the same, answer stored", f"http://127.0.0.1:{ports[1]}{NEAREST}", None, procs[-1].pid)]
    try:
        tag = requests.get(app + "/api/stations", timeout=30).headers.get("ETag", "")
        cases = [("bare Flask endpoint (ceiling)", bare + "/api/nearest", None, bare_pid),
                 ("GET /healthz", app + "/healthz", None, app_pid),
                 ("GET /api/nearest, Jieyang", app + NEAREST, None, app_pid),
                 ("  the same, answer stored (web layer alone)", floor + NEAREST, None, floor_pid),
                 ("  its bytes from plain WSGI (gunicorn alone)", plain + NEAREST, None, plain_pid),
                 ("GET /api/nearest, Jieyang, brotli", app + NEAREST, {"Accept-Encoding": "br"}, app_pid),
                 ("GET /api/stations, Jieyang", app + "/api/stations", None, app_pid),
                 ("GET /api/stations, If-None-Match (304)", app + "/api/stations", {"If-None-Match": tag}, app_pid),
                 *peer_cases]
        for _, url, headers, _ in cases:  # warm every worker
            wrk(url, 4, 1, headers)
        print(f"# HTTP, gunicorn -w 2, loopback, wrk {args.seconds:g} s per line and round, median of {args.rounds} "
              f"rounds — {machine()}")
        print("# cpu ms/req: the workers' CPU time per answer (from /proc), which other load on the machine moves "
              "less than req/s; its ratio is the ceiling's CPU per answer over the line's")
        print(f"{'path':44} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'of ceiling':>10}  {'range':>11}  "
              f"{'cpu ms/req':>10} {'cpu ratio':>9}")
        for conns in (1, 4):
            runs: list[list[tuple[float, float, float]]] = [[] for _ in cases]
            for _ in range(args.rounds):
                for i, (_, url, headers, master) in enumerate(cases):
                    runs[i].append(wrk(url, conns, args.seconds, headers, master))
            ceiling = statistics.median(r for r, _, _ in runs[0])
            ceiling_cpu = statistics.median(c for _, _, c in runs[0])
            for (label, _, _, _), got in zip(cases, runs):
                rps, p50 = statistics.median(r for r, _, _ in got), statistics.median(p for _, p, _ in got)
                cpu = statistics.median(c for _, _, c in got)
                each = [r / c for (r, _, _), (c, _, _) in zip(got, runs[0])]
                print(f"{label:44} {conns:>5} {rps:>8.0f} {p50:>8.2f} {rps / ceiling:>10.2f}  "
                      f"{min(each):.2f}–{max(each):.2f}  {cpu:>10.3f} {ceiling_cpu / cpu:>9.2f}")
        print("targets: /api/nearest >= 0.60 of the ceiling; /api/stations p50 <= 5 ms")
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
        if args.peer:
            shutil.rmtree(peer_env["STATIONMAP_DATA_DIR"], ignore_errors=True)


if __name__ == "__main__":
    main()
