"""`/map` over the synthetic national registry (184,200 stations, `common.py`) in headless Chromium: how long the
page takes to open and show its first clusters, and the largest response any request of it received.

Targets: open (first clusters drawn) <= 3 s; largest response <= 1 MB. Also the largest answer of a walk
over `/api/stations` pages and of clusters at a national view. The server is the real app (werkzeug,
threaded) over an in-memory registry; the first open builds the indexes, so it is reported apart.
Run by hand: python benchmarks/bench_map_scale.py [--stations N]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import machine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_api_scale import national  # noqa: E402
from webserver import CHROMIUM, CHROMIUM_ARGS, PHONE, start  # noqa: E402

from stationmap.store import open_store  # noqa: E402

MB = 1_000_000


def open_map(browser, url: str) -> tuple[float, int, str]:
    """(seconds to first clusters drawn, largest response bytes, its URL) of one fresh page."""
    ctx = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith("http://127.0.0.1") else r.abort())
    page = ctx.new_page()
    sizes: dict[str, int] = {}

    def size(r) -> None:
        if r.status == 200 and r.url.startswith("http://127.0.0.1"):
            try:
                sizes[r.url] = len(r.body())
            except Exception:  # the page was closed before a late answer's body was read: not counted
                pass

    page.on("response", size)
    t = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_function("() => document.querySelectorAll('.sm-view-cluster, .sm-pin').length > 0", timeout=60_000)
    took = time.perf_counter() - t
    page.wait_for_load_state("load")
    ctx.close()
    url_max = max(sizes, key=sizes.get)
    return took, sizes[url_max], url_max


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stations", type=int, default=184_200)
    n = ap.parse_args().stations
    print(f"# /map over {n:,} synthetic stations, headless Chromium — {machine()}")
    t = time.perf_counter()
    stations = national()[:n]
    data = tempfile.mkdtemp(prefix="bench-map-")
    server = start({"data_dir": data, "store": "memory", "rate_limit_public": "1000000/minute"})
    open_store(data, "memory").replace_all(stations)
    print(f"registry built and loaded: {time.perf_counter() - t:.1f} s")
    import requests

    try:
        worst = 0
        target = server.url + "/api/stations"
        t = time.perf_counter()
        pages = 0
        while target:
            r = requests.get(target, timeout=120)
            worst, pages = max(worst, len(r.content)), pages + 1
            nxt = [x["href"] for x in r.json()["links"] if x["rel"] == "next"]
            target = nxt[0] if nxt else ""
        print(f"/api/stations walked: {pages} pages in {time.perf_counter() - t:.1f} s, largest {worst / MB:.3f} MB")
        r = requests.get(server.url + "/api/stations/clusters?bbox=73,18,135,54&zoom=5", timeout=120)
        print(f"clusters, all of China at zoom 5: {len(r.content) / MB:.3f} MB, "
              f"{len(r.json()['clusters'])} clusters")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            views = ("/map?basemap=osm", "/map?basemap=osm&center=39.91,116.40&zoom=9",
                     "/map?basemap=amap&center=31.23,121.47&zoom=13")
            first = open_map(browser, server.url + views[0])
            print(f"first open (indexes built): {first[0]:.2f} s")
            for view in views:
                runs = [open_map(browser, server.url + view) for _ in range(3)]
                took = sorted(x[0] for x in runs)[1]
                big = max(runs, key=lambda x: x[1])
                print(f"{view:50} open median {took:.2f} s (target <= 3 s)  largest response "
                      f"{big[1] / MB:.3f} MB ({big[2].split('?')[0].replace(server.url, '')}; target <= 1 MB)")
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
