"""The API's nearest answer at 135 and at 184,200 stations, in process (no HTTP): what grows with the registry.

The service answers `GET /api/nearest` through `Service.handle` over an in-memory registry: the Jieyang
sample, then the synthetic national set of `common.py` (the same point, inside Jieyang, so that both
answers have the same shape). Prints the first answer (the index built) and the median of 300, with
filters and without, and the ratio national / Jieyang (target: within 2x).
Run by hand: python benchmarks/bench_api_scale.py
"""
from __future__ import annotations

import statistics
import tempfile
import time

from common import machine, national_stations

from stationmap import config
from stationmap.api import Request, Service
from stationmap.model import Station
from stationmap.store import MemoryStore, load_sample

QUESTIONS = ("", "&amenity=microwave&open_now=true", "&kind=smart")
POINT = "lat=23.548&lon=116.372&k=5"


def national() -> list[Station]:
    lats, lons = national_stations()
    sample = load_sample()
    return [Station(f"n{i:06d}", f"站{i}", "outdoor" if i % 9 else "smart", "open", float(a), float(b), "445202",
                    "445202001", amenities=("microwave",) if i % 3 == 0 else (), hours=sample[i % len(sample)].hours)
            for i, (a, b) in enumerate(zip(lats, lons))]


def medians(stations: list[Station], label: str) -> dict[str, float]:
    svc = Service(config.load_settings({"data_dir": tempfile.mkdtemp(prefix="bench-scale-")}),
                  store=MemoryStore(stations))
    out = {}
    for extra in QUESTIONS:
        req = Request.make("GET", f"/api/nearest?{POINT}{extra}")
        t = time.perf_counter()
        assert svc.handle(req).status == 200
        first = time.perf_counter() - t
        runs = []
        for _ in range(300):
            t = time.perf_counter()
            svc.handle(req)
            runs.append(time.perf_counter() - t)
        out[extra] = statistics.median(runs)
        print(f"{label:18} {extra or '(no filter)':34} first {first * 1e3:7.1f} ms  median {out[extra] * 1e6:6.0f} µs")
    return out


def main() -> None:
    print(f"# GET /api/nearest in process, by registry size — {machine()}")
    small = medians(load_sample(), "Jieyang, 135")
    big = medians(national(), "national, 184,200")
    for extra in QUESTIONS:
        print(f"ratio national / Jieyang {extra or '(no filter)':34} {big[extra] / small[extra]:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
