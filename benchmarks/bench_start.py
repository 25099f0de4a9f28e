"""Server start with a national registry (184,200 stations), beside a bare Flask app's start.

Two figures, each the median of --runs fresh starts:
- in one new process, the phases of a worker's start: `import web`, `create_app()`, and the first
  `GET /api/nearest` (the registry read from the GeoPackage and its nearest index built), and their sum;
- from outside: `gunicorn -w 2 'web:create_app()'` from launch until `/api/nearest` first answers 200.
Ceiling, measured in the same run: `import flask` in a new process, and `gunicorn -w 2 bare_app:app`
from launch until its endpoint answers.

The registry is the sample's 135 stations plus synthetic national ones (`bench_edit.registry`), written
once into a temporary directory (~35 s), or read from --data-dir (a directory with stations.gpkg).
Usage: python benchmarks/bench_start.py [--stations 184200] [--runs 3] [--data-dir DIR]
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from common import ROOT, fmt_s, free_port, machine, median

HERE = Path(__file__).resolve().parent
NEAREST = "/api/nearest?lat=23.548&lon=116.372&k=5"
PHASES = f"""
import sys, time
t0 = time.perf_counter()
import web
t1 = time.perf_counter()
app = web.create_app()
t2 = time.perf_counter()
answer = app.test_client().get({NEAREST!r}, headers={{"Host": "127.0.0.1"}})
t3 = time.perf_counter()
assert answer.status_code == 200, answer.status_code
print(t1 - t0, t2 - t1, t3 - t2, t3 - t0)
"""
IMPORT_FLASK = "import time; t = time.perf_counter(); import flask; print(time.perf_counter() - t)"


def served_after(app: str, path: str, env: dict[str, str], cwd: Path) -> float:
    """Seconds from launching `gunicorn -w 2 APP` until `path` first answers 200."""
    port = free_port()
    exe = str(Path(sys.executable).with_name("gunicorn"))
    t = time.perf_counter()
    proc = subprocess.Popen([exe, "-w", "2", "-b", f"127.0.0.1:{port}", app], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while time.perf_counter() - t < 120:
            try:
                if requests.get(f"http://127.0.0.1:{port}{path}", timeout=60).status_code == 200:
                    return time.perf_counter() - t
            except requests.ConnectionError:
                time.sleep(0.02)
        raise SystemExit(f"{app} did not answer {path} within 120 s")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=184_200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data-dir", type=Path)
    args = ap.parse_args()
    print(f"# server start — {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data_dir
        if data is None:
            from bench_edit import registry

            from stationmap.ops.audit import open_audit
            from stationmap.store import GpkgStore

            data = Path(tmp)
            t = time.perf_counter()
            GpkgStore(data / "stations.gpkg", journal=open_audit(data)).replace_all(
                registry(args.stations), {"actor": "bench", "action": "import"})
            print(f"registry of {args.stations:,} stations written in {fmt_s(time.perf_counter() - t)}")
        env = dict(os.environ, STATIONMAP_DATA_DIR=str(data), STATIONMAP_RATE_LIMIT_PUBLIC="10000000/minute")
        phases, flask_imports, served, bare_served = [], [], [], []
        for _ in range(args.runs):  # in turn, so that a change in the machine's load moves both alike
            out = subprocess.run([sys.executable, "-c", PHASES], cwd=ROOT, env=env, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(out.stderr)
            phases.append([float(v) for v in out.stdout.split()[-4:]])
            flask_imports.append(float(subprocess.run([sys.executable, "-c", IMPORT_FLASK], capture_output=True,
                                                      text=True, check=True).stdout))
            served.append(served_after("web:create_app()", NEAREST, env, ROOT))
            bare_served.append(served_after("bare_app:app", "/api/nearest", dict(os.environ), HERE))
        imp, create, first, total = (median([p[i] for p in phases]) for i in range(4))
        print(f"one process: import web {fmt_s(imp)}, create_app {fmt_s(create)}, first /api/nearest "
              f"(registry read, index built) {fmt_s(first)}; total {fmt_s(total)}  (median of {args.runs})")
        print(f"  ceiling: import flask {fmt_s(median(flask_imports))}")
        ours, bare = median(served), median(bare_served)
        print(f"gunicorn -w 2, launch to first /api/nearest 200: {fmt_s(ours)}; bare Flask app: {fmt_s(bare)}; "
              f"ratio {ours / bare:.1f}x")
        print(f"target: server start <= 3 s: {'met' if ours <= 3 else 'NOT met'}")


if __name__ == "__main__":
    main()
