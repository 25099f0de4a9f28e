"""Importing a station list: rows validated, located and checked for duplicates, beside reading the file.

Writes a CSV of N synthetic stations inside Jieyang (the sample stations moved by up to ~2 km, each with
its own name and hours), then times in the same process: (a) reading the table alone (`read_rows`: the
ceiling, the speed of the data) and (b) the whole import as a dry run (`import_file(..., dry_run=True)`
into an in-memory registry: every row validated, located in Jieyang, checked for duplicates and
planned; nothing written, so the store's own write is not in the figure).

Usage: python benchmarks/bench_import.py [--rows 3000 20000 184200]
"""
from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from common import fmt_s, machine  # noqa: I001

from stationmap.files.imports import import_file
from stationmap.files.tables import read_rows
from stationmap.geo import geography
from stationmap.store import MemoryStore, load_sample


def write_csv(path: Path, n: int, seed: int = 11) -> None:
    sample = load_sample()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(sample), 2 * n)
    lat = np.array([s.lat for s in sample])[pick] + rng.normal(0, 0.006, 2 * n)
    lon = np.array([s.lon for s in sample])[pick] + rng.normal(0, 0.006, 2 * n)
    inside = shapely.covers(geography.city().geometry.iloc[0], shapely.points(lon, lat))  # none refused
    pick, dlat, dlon = pick[inside][:n], (lat - np.array([s.lat for s in sample])[pick])[inside][:n], \
        (lon - np.array([s.lon for s in sample])[pick])[inside][:n]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["驿站名称", "类型", "纬度", "经度", "详细地址", "开放时间"])
        for i, (p, a, b) in enumerate(zip(pick.tolist(), dlat.tolist(), dlon.tolist())):
            s = sample[p]
            w.writerow([f"驿站{i:06d}", "户外", f"{s.lat + a:.6f}", f"{s.lon + b:.6f}", s.address, "Mo-Su 08:00-18:00"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[3000, 20000])
    args = ap.parse_args()
    print(f"# import — {machine()}")
    print(f"{'rows':>8} {'read (ceiling)':>15} {'import, dry run':>16} {'ratio':>7} {'rows/s':>9}  outcome")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            path = Path(tmp) / f"stations-{n}.csv"
            write_csv(path, n)
            t = time.perf_counter()
            read_rows(path)
            read_s = time.perf_counter() - t
            t = time.perf_counter()
            try:
                result = import_file(MemoryStore([]), path, dry_run=True)
                outcome = f"would add {len(result.added)}"
            except Exception as exc:  # a refusal is an outcome to print, not a crash of the benchmark
                outcome = f"refused: {str(exc).splitlines()[0][:60]}"
            run_s = time.perf_counter() - t
            print(f"{n:>8,} {fmt_s(read_s):>15} {fmt_s(run_s):>16} {run_s / read_s:>6.1f}x {n / run_s:>9,.0f}  {outcome}")
    print("target: 20,000 rows <= 3 s; 184,200 rows accepted")


if __name__ == "__main__":
    main()
