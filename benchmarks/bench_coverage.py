"""Coverage of Jieyang (sample registry, modelled population grid) against a brute-force baseline.

Timed: `coverage()` per reach and min_stations, result cache cleared before every call (the demand
grid and metric layers stay cached, as in a running web service); the cold first call (building the
demand grid) is shown separately. Baseline, same process: the population part by brute force, a
geodesic (pyproj.Geod, C) from every demand point to every station, and the area part by unioning
geodesic circles (pyproj.Geod.fwd, 128 vertices each) transformed to the metric CRS.
Usage: python benchmarks/bench_coverage.py [--repeat 7]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import shapely
from common import fmt_s, machine, median, timed  # noqa: I001
from pyproj import Geod

from stationmap.geo.metric import metric_layers, to_metric
from stationmap.query import coverage as cov
from stationmap.query.demand import default_demand
from stationmap.query.travel import reach_m
from stationmap.store import load_sample

GEOD = Geod(ellps="WGS84")


def brute_force(stations, demand, reach, k):
    s_lat = np.array([s.lat for s in stations])
    s_lon = np.array([s.lon for s in stations])
    counts = np.zeros(len(demand), dtype=int)
    for la, lo in zip(s_lat, s_lon):  # one vectorised call per station over every demand point
        _, _, d = GEOD.inv(np.full(len(demand), lo), np.full(len(demand), la), demand.lon, demand.lat)
        counts += d <= reach
    covered_pop = float(demand.weight[counts >= k].sum())
    circles = []
    az = np.linspace(0, 360, 128, endpoint=False)
    for la, lo in zip(s_lat, s_lon):
        lon2, lat2, _ = GEOD.fwd(np.full(az.size, lo), np.full(az.size, la), az, np.full(az.size, reach))
        x, y = to_metric(lon2, lat2)
        circles.append(shapely.Polygon(np.column_stack((x, y))))
    if k == 1:
        area = shapely.union_all(circles)
    else:
        lenses = [a.intersection(b) for i, a in enumerate(circles) for b in circles[i + 1:] if a.intersects(b)]
        area = shapely.union_all(lenses)
    area = shapely.intersection(area, metric_layers().city)
    return counts, covered_pop, area


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    stations = load_sample()
    t = time.perf_counter()
    demand = default_demand()
    cov.coverage(stations, 1000)
    print(f"cold start (demand grid of {len(demand):,} cells + metric layers + first coverage): {fmt_s(time.perf_counter() - t)}")
    cases = [("15 min walk", reach_m(15, "walk")), ("15 min ebike", reach_m(15, "ebike")), ("15 min car", reach_m(15, "car"))]
    worst = 0.0
    for label, reach in cases:
        for k in (1, 2):
            def run():
                cov._CACHE.clear()
                return cov.coverage(stations, reach, k)
            times = timed(run, args.repeat)
            result = run()
            gaps_t = median(timed(lambda: result.gaps(), 3))
            t0 = time.perf_counter()
            counts, covered_pop, area = brute_force(stations, demand, reach, k)
            base = time.perf_counter() - t0
            m = median(times)
            worst = max(worst, m)
            differ = int(((counts >= k) != (result.counts >= k)).sum())
            print(f"{label:>13} ({reach:,.0f} m), min_stations={k}: coverage median {fmt_s(m)}, gaps {fmt_s(gaps_t)}; "
                  f"brute force {fmt_s(base)} -> {base / m:.0f}x slower; population share "
                  f"{result.city['population_share']:.4f} (brute force {covered_pop / demand.total:.4f}, {differ} of "
                  f"{len(demand):,} points differ); area {result.city['covered_area_km2']:,.1f} km² "
                  f"(brute force {area.area / 1e6:,.1f} km² planar)")
    print(f"target: Jieyang coverage < 1 s -> {'met' if worst < 1 else 'NOT met'} (slowest median {fmt_s(worst)})")


if __name__ == "__main__":
    main()
