"""Cold start of the command line: `stationmap --help` and `stationmap nearest` beside `python -c pass`.

Each command runs as a new process, N times in turn with the floor (`python -c pass`, the same
interpreter); the script prints the median wall time and CPU time (user + system, the child's own
accounting from os.wait4) of each, and the ratio to the floor. CPU time is the steadier figure on a
shared machine. Run by hand: python benchmarks/bench_cold.py [--runs 10]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine

BIN = Path(sys.executable).parent


def run(cmd: list[str]) -> tuple[float, float]:
    """(wall s, cpu s) of one run."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    data = tempfile.mkdtemp(prefix="bench-cold-")
    nearest = [str(BIN / "stationmap"), "nearest", "23.55", "116.37", "--data-dir", data]
    subprocess.run(nearest, check=True, capture_output=True)  # the registry exists before timing
    cases = {"python -c pass (floor)": [sys.executable, "-c", "pass"],
             "stationmap --help": [str(BIN / "stationmap"), "--help"],
             "stationmap nearest": nearest}
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
    for _ in range(args.runs):
        for label, cmd in cases.items():
            times[label].append(run(cmd))
    print(f"# cold start, {args.runs} runs each, in turn — {machine()}")
    floor_wall = statistics.median(w for w, _ in times["python -c pass (floor)"])
    floor_cpu = statistics.median(c for _, c in times["python -c pass (floor)"])
    for label, runs in times.items():
        wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
        print(f"{label:26} wall {wall:6.3f} s ({wall / floor_wall:4.1f}x floor)  cpu {cpu:6.3f} s "
              f"({cpu / floor_cpu:4.1f}x floor)")
    print("targets: stationmap --help <= 0.2 s, stationmap nearest <= 0.4 s")


if __name__ == "__main__":
    main()
