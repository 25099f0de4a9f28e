"""Siting 10 new stations in Jieyang (sample registry, modelled population) against a plain MILP.

Timed: `suggest(stations, 10, reach, k)` on the default candidate grid, coverage and suggestion caches cleared first.
Baseline, same process: the textbook MCLP MILP over the same candidates and demand, every candidate
kept, solved by PuLP's bundled CBC (what spopt's MCLP does), with a time limit.
Usage: python benchmarks/bench_suggest.py [--baseline-limit 300] [--no-baseline]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from common import fmt_s, machine  # noqa: I001

from stationmap.query import coverage as cov
from stationmap.query import siting
from stationmap.query.demand import default_demand
from stationmap.query.travel import reach_m
from stationmap.store import load_sample

N = 10


def plain_milp(stations, reach, k, limit):
    """Every candidate, no pruning: the MILP straight from the textbook."""
    demand = default_demand()
    spacing = float(min(1000.0, max(250.0, round(reach / 2 / 50) * 50)))
    cands = siting.candidate_grid(spacing)
    base = cov.coverage(stations, reach, k)
    p, keep = siting._build(cands, demand, base.counts, reach, k, N, siting.demand_cell_m(reach, cands.x.size))
    t = time.perf_counter()
    chosen, optimal, obj = siting._milp(p, np.arange(p.A.shape[0]), [], limit)
    return time.perf_counter() - t, p.value(chosen) if chosen else 0.0, optimal, p.A.shape[0], int(p.A.nnz)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline-limit", type=float, default=300)
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    stations = load_sample()
    default_demand()
    worst = 0.0
    for label, reach in (("15 min walk", reach_m(15, "walk")), ("15 min ebike", reach_m(15, "ebike")),
                         ("15 min car", reach_m(15, "car"))):
        for k in (1, 2):
            cov._CACHE.clear()
            siting._SUGGESTIONS.clear()
            t = time.perf_counter()
            r = siting.suggest(stations, N, reach, k)
            dt = time.perf_counter() - t
            if k == 1:
                worst = max(worst, dt if r.optimality_gap < 0.01 else float("inf"))
            print(f"{label:>13} ({reach:,.0f} m), min_stations={k}: {fmt_s(dt)}, total {r.total_gain:,.0f} "
                  f"(model {r.model_total:,.0f}, bound {r.upper_bound:,.0f}, gap {r.optimality_gap:.2%}); {r.method}")
            for step in r.steps:
                print(f"      {step}")
            if not args.no_baseline and k == 1 and reach < 5000:
                bt, bval, bopt, nc, nnz = plain_milp(stations, reach, k, args.baseline_limit)
                print(f"      baseline plain MILP ({nc:,} candidates, {nnz:,} nonzeros): {fmt_s(bt)} "
                      f"{'optimal' if bopt else 'NOT proven optimal (time limit)'}, value {bval:,.0f} "
                      f"-> {bt / dt:.0f}x slower")
    print(f"target: 10 sites < 10 s with gap < 1 % (min_stations=1) -> {'met' if worst < 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
