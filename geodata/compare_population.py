"""Print, as a Markdown table, how far the population model alone is from each cited township figure.

The model alone is the default demand grid without township control totals (stationmap.query.demand,
`spread_census(..., controls=False)`); the shipped demand holds each cited township at its figure.
The table is pasted into geodata/SOURCES.md. Run after the geodata build: python geodata/compare_population.py
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from stationmap.query import demand

HERE = Path(__file__).resolve().parent


def main() -> None:
    base = demand.default_demand()
    alone = demand.spread_census(base.district, base.township, demand.model_weights(base.x, base.y, base.district),
                                 controls=False)
    model = pd.Series(alone).groupby(base.township).sum()
    shipped = pd.Series(base.weight).groupby(base.township).sum()
    with open(HERE / "township_population.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    print("| township | code | cited | year, measure | model alone | model / cited | shipped |")
    print("|---|---|---:|---|---:|---:|---:|")
    for r in rows:
        cited, m = int(r["population"]), float(model.get(r["code"], np.nan))
        print(f"| {r['township']} | {r['code']} | {cited:,} | {r['year'] or 'undated'}, {r['measure']} | {m:,.0f} | "
              f"{m / cited:.2f} | {shipped.get(r['code'], 0):,.0f} |")


if __name__ == "__main__":
    main()
