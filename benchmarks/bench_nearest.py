"""Nearest-station queries: NearestIndex against brute-force geodesics, at 135 and 184,200 stations.

Baselines, in the same process: (a) brute force with pyproj.Geod.inv vectorised over every station
(Karney's algorithm in C) and argpartition; (b) brute force with pure-Python geographiclib, one
Inverse per station (at 184,200 stations only a few queries: it takes seconds each).
Usage: python benchmarks/bench_nearest.py [--queries 2000]
"""
from __future__ import annotations

import argparse

import numpy as np
from common import fmt_s, machine, median, national_stations, timed  # noqa: I001
from geographiclib.geodesic import Geodesic
from pyproj import Geod

from stationmap.query.nearest import NearestIndex, nearest
from stationmap.store import load_sample

GEOD = Geod(ellps="WGS84")
K = 5


def brute_pyproj(lats, lons, lat, lon, k=K):
    _, _, d = GEOD.inv(np.full(lats.size, lon), np.full(lats.size, lat), lons, lats)
    top = np.argpartition(d, k)[:k]
    return top[np.argsort(d[top])], np.sort(d[top])


def brute_geographiclib(lats, lons, lat, lon, k=K):
    g = Geodesic.WGS84
    d = np.array([g.Inverse(lat, lon, a, b, Geodesic.DISTANCE)["s12"] for a, b in zip(lats, lons)])
    top = np.argsort(d)[:k]
    return top, d[top]


def queries_near(lats, lons, n, rng):
    """Query points where workers are: within ~3 km of a random station."""
    pick = rng.integers(0, lats.size, n)
    return lats[pick] + rng.normal(0, 0.02, n), lons[pick] + rng.normal(0, 0.02, n)


def run(label, lats, lons, n_queries, rng, python_baseline_queries):
    build = timed(lambda: NearestIndex(lats, lons), 3)
    index = NearestIndex(lats, lons)
    qlat, qlon = queries_near(lats, lons, n_queries, rng)
    times, wrong = [], 0
    for la, lo in zip(qlat, qlon):
        t = timed(lambda: index.query(la, lo, K), 1)[0]
        times.append(t)
    n_check = min(n_queries, 300)
    base_times = []
    for la, lo in zip(qlat[:n_check], qlon[:n_check]):
        base_times.append(timed(lambda: brute_pyproj(lats, lons, la, lo), 1)[0])
        ref_pos, ref_d = brute_pyproj(lats, lons, la, lo)
        got = index.query(la, lo, K)
        if [p for p, _ in got] != list(ref_pos) or max(abs(d - r) for (_, d), r in zip(got, ref_d)) > 0.1:
            wrong += 1
    py_times = []
    for la, lo in zip(qlat[:python_baseline_queries], qlon[:python_baseline_queries]):
        py_times.append(timed(lambda: brute_geographiclib(lats, lons, la, lo), 1)[0])
        ref_pos, ref_d = brute_geographiclib(lats, lons, la, lo)
        got = index.query(la, lo, K)
        assert [p for p, _ in got] == list(ref_pos) and max(abs(d - r) for (_, d), r in zip(got, ref_d)) < 0.1
    m, mb, mp = median(times), median(base_times), median(py_times)
    print(f"{label}: {lats.size:,} stations, k={K}, {n_queries} queries")
    print(f"  index build           median {fmt_s(median(build))}")
    print(f"  NearestIndex.query    median {fmt_s(m)}  (p90 {fmt_s(float(np.percentile(times, 90)))})")
    print(f"  brute force, pyproj   median {fmt_s(mb)}  -> {mb / m:,.0f}x slower  ({n_check} queries; "
          f"{wrong} answers differ)")
    print(f"  brute force, geographiclib (pure Python) median {fmt_s(mp)}  -> {mp / m:,.0f}x slower  "
          f"({len(py_times)} queries, all answers equal)")
    return m


def batch(label, lats, lons, n_queries, rng):
    """query_many beside the loop of single queries and beside the bare k-d tree (chords only, no exact
    re-rank: what an approximate answer would cost), answers checked equal to the loop's."""
    from scipy.spatial import cKDTree

    from stationmap.query.nearest import ecef

    index = NearestIndex(lats, lons)
    qlat, qlon = queries_near(lats, lons, n_queries, rng)
    t_batch = median(timed(lambda: index.query_many(qlat, qlon, K), 3))
    pos, _ = index.query_many(qlat, qlon, K)
    n_loop = min(n_queries, 20_000)
    t_loop = median(timed(lambda: [index.query(a, b, K) for a, b in zip(qlat[:n_loop], qlon[:n_loop])], 1)) \
        * n_queries / n_loop
    same = all([p for p, _ in index.query(a, b, K)] == pos[i].tolist()
               for i, (a, b) in enumerate(zip(qlat[:2000], qlon[:2000])))
    tree = cKDTree(ecef(lats, lons))
    xyz = ecef(qlat, qlon)
    t_tree = median(timed(lambda: tree.query(xyz, k=K), 3))
    print(f"  batch, {n_queries:,} queries: query_many {n_queries / t_batch:,.0f} /s; loop of query "
          f"{n_queries / t_loop:,.0f} /s ({t_loop / t_batch:.1f}x slower); bare scipy k-d tree, chords only, "
          f"not exact {n_queries / t_tree:,.0f} /s (ratio to it {t_tree / t_batch:.2f}); first 2,000 answers "
          f"{'equal' if same else 'DIFFER'} to the loop's")
    return n_queries / t_batch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=2000)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    print(f"machine: {machine()}")
    sample = load_sample()
    lats = np.array([s.lat for s in sample])
    lons = np.array([s.lon for s in sample])
    run("Jieyang sample", lats, lons, args.queries, rng, python_baseline_queries=50)
    t = timed(lambda: nearest(sample, 23.55, 116.37, k=K, amenities=["microwave"], open_now=True), 200)
    print(f"  nearest() with station filters (amenity, open now), 135 stations: median {fmt_s(median(t))}")
    nlat, nlon = national_stations()
    m = run("national, synthetic", nlat, nlon, args.queries, rng, python_baseline_queries=3)
    rate = batch("national, synthetic", nlat, nlon, 100_000, rng)
    print(f"targets at 184,200 stations: median <= 20 µs -> {'met' if m <= 20e-6 else 'NOT met'} "
          f"({fmt_s(m)}); batch >= 100,000 queries/s -> {'met' if rate >= 1e5 else 'NOT met'} ({rate:,.0f})")


if __name__ == "__main__":
    main()
