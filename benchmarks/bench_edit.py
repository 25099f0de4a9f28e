"""One edit of one station in a national registry (184,200 stations), against a bare SQLite UPDATE of one row.

The registry is the GeoPackage backend in a temporary directory: the 135 Jieyang sample stations (so
that `edit_station` runs its full validation) plus synthetic national stations (`common.national_stations`)
carrying the sample's fields with varied opening hours. Measured:
- the whole-registry write (an import's cost) and opening the store in a fresh process (a worker's start);
- `edit_station` (validation, permission, If-Match, the row and its audit entry, the reader's cache
  brought up to date) median over --edits edits;
- the ceiling: a bare SQLite one-row `UPDATE ... WHERE id = ?` committed on the same file (synchronous=FULL).
Usage: python benchmarks/bench_edit.py [--stations 184200] [--edits 30]
"""
from __future__ import annotations

import argparse
import dataclasses
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import fmt_s, machine, median, national_stations  # noqa: I001

from stationmap.hours import parse_hours
from stationmap.model import etag
from stationmap.ops.accounts import User
from stationmap.ops.audit import open_audit
from stationmap.ops.editing import edit_station
from stationmap.store import GpkgStore, load_sample, open_store
from stationmap.store.gpkg import _register_functions

OPEN = """
import sys, time
t = time.perf_counter()
from stationmap.store import open_store
imported, cpu = time.perf_counter(), time.process_time()
store = open_store(sys.argv[1])
n = len(store.all())
print(n, imported - t, time.perf_counter() - imported, time.process_time() - cpu)
"""


def registry(n: int) -> list:
    sample = load_sample()
    lats, lons = national_stations(n - len(sample))
    hours = [parse_hours(f"{7 + i % 4:02d}:{(i * 5) % 60:02d}-{18 + i % 5}:00") for i in range(240)] + [s.hours for s in sample]
    out = list(sample)
    for i, (lat, lon) in enumerate(zip(lats, lons)):
        base = sample[i % len(sample)]
        out.append(dataclasses.replace(base, id=f"nat-{i:06d}", name=f"全国合成驿站{i}", lat=round(float(lat), 7),
                                       lon=round(float(lon), 7), district="", township="", hours=hours[i % len(hours)]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=184_200)
    ap.add_argument("--edits", type=int, default=30)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        stations = registry(args.stations)
        t = time.perf_counter()
        GpkgStore(data / "stations.gpkg", journal=open_audit(data)).replace_all(stations, {"actor": "bench", "action": "import"})
        print(f"registry of {len(stations):,} stations written whole (an import): {fmt_s(time.perf_counter() - t)}")
        del stations

        runs = [subprocess.run([sys.executable, "-c", OPEN, str(data)], capture_output=True, text=True, check=True,
                               cwd=Path(__file__).resolve().parent.parent).stdout.split() for _ in range(3)]
        opened = median([float(r[2]) for r in runs])
        print(f"open the store and read every station in a fresh process (median of 3): {fmt_s(opened)} wall, "
              f"{fmt_s(median([float(r[3]) for r in runs]))} CPU (+ {fmt_s(median([float(r[1]) for r in runs]))} "
              f"importing stationmap.store); {runs[0][0]} stations; target start <= 3 s")

        store = open_store(data)
        store.all()
        admin = User("bench", "admin")
        target = next(s for s in store.all() if s.district)
        times, cpu = [], []
        for i in range(args.edits):
            current = store.get(target.id)
            t, c = time.perf_counter(), time.process_time()
            edit_station(store, admin, target.id, {"address": f"基准测试地址 {i}"}, etag(current))
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        assert store.get(target.id).address == f"基准测试地址 {args.edits - 1}"
        assert sum(e.action == "edit" for e in open_audit(data).entries(station_id=target.id, actor="bench")) == args.edits

        bare = []
        con = sqlite3.connect(data / "stations.gpkg", isolation_level=None)
        con.execute("PRAGMA synchronous=FULL")
        _register_functions(con)  # the GeoPackage's R-tree triggers call them on any UPDATE
        for i in range(args.edits):
            t = time.perf_counter()
            con.execute("UPDATE stations SET address = ? WHERE id = ?", (f"裸写 {i}", target.id))
            bare.append(time.perf_counter() - t)
        con.close()
        ours, ceiling = median(times), median(bare)
        print(f"one edit (edit_station: checks, row + audit entry, cache refreshed), median of {args.edits}: "
              f"{fmt_s(ours)} (p90 {fmt_s(sorted(times)[int(0.9 * len(times))])}; CPU {fmt_s(median(cpu))})")
        print(f"ceiling, a bare SQLite one-row UPDATE on the same file, median of {args.edits}: {fmt_s(ceiling)}")
        print(f"ratio: {ours / ceiling:.1f}x the bare UPDATE; target one edit <= 100 ms: "
              f"{'met' if ours <= 0.1 else 'NOT met'}")


if __name__ == "__main__":
    main()
