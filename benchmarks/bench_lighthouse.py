"""Lighthouse (mobile) on the workers' map and the embed, served as in production, before map tiles.

Starts the service under `gunicorn -w 2` on a fresh sample registry, runs Lighthouse (npm, pinned in
benchmarks/package-lock.json: `make bench-tools`) against Debian's Chromium (CHROME_PATH, default
/usr/bin/chromium) with its default mobile settings (emulated phone, simulated slow 4G and 4x CPU
slowdown), several runs per page, and prints the median scores for performance, accessibility and
best practices and the total transfer size, beside the targets (each score >= 90; /map <= 150 KB),
then the audits that cost the most in the median run.

Tiles do not count and nothing leaves the machine: the tile hosts of every basemap are blocked in
Lighthouse (`--blocked-url-patterns`, so a tile is a failed request of 0 bytes), and Chromium resolves
no host name but the loopback (`--host-resolver-rules`).

Run by hand: python benchmarks/bench_lighthouse.py [--runs 3] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests
from common import free_port, gunicorn, machine

ROOT = Path(__file__).resolve().parent.parent
LIGHTHOUSE = ROOT / "benchmarks" / "node_modules" / ".bin" / "lighthouse"
PAGES = ("/map", "/embed")
CATEGORIES = ("performance", "accessibility", "best-practices")
SCORE_TARGET = 90
WEIGHT_TARGET = {"/map": 150 * 1024}  # bytes on the wire before tiles
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")


def tile_patterns() -> list[str]:
    """A blocking pattern for every host any basemap loads tiles from (with a Tianditu key or not)."""
    from stationmap import config
    from stationmap.maps import mapview

    settings = config.load_settings({"tianditu_key": "benchmark"})
    return sorted(f"*://{host}/*" for host in mapview.tile_hosts(settings))


def warm(url: str) -> None:
    """Ask every page and asset a few times, so that both workers have rendered and compressed them once."""
    import re

    with requests.Session() as s:
        for _ in range(4):
            for page in PAGES:
                html = s.get(url + page, timeout=60).text
                for ref in re.findall(r'(?:src|href)="(/[^"]+)"', html):
                    s.get(url + ref, timeout=60)


def lighthouse(url: str, out: Path, blocked: list[str]) -> dict[str, Any]:
    """One Lighthouse run (mobile defaults); its report (LHR) as a dict."""
    cmd = [str(LIGHTHOUSE), url, "--output=json", "--output=html", f"--output-path={out}", "--quiet",
           f"--only-categories={','.join(CATEGORIES)}", f"--chrome-flags={' '.join(CHROME_FLAGS)}",
           *(f"--blocked-url-patterns={p}" for p in blocked)]
    env = dict(os.environ, CHROME_PATH=os.environ.get("CHROME_PATH", "/usr/bin/chromium"))
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300)
    if done.returncode:
        sys.exit(f"lighthouse failed on {url}:\n{done.stderr[-2000:]}")
    return json.loads(out.with_suffix(".report.json").read_text())


def summary(lhr: dict[str, Any]) -> dict[str, float]:
    row = {c: round(lhr["categories"][c]["score"] * 100) for c in CATEGORIES}
    row["bytes"] = lhr["audits"]["total-byte-weight"]["numericValue"]
    for metric in ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time",
                   "cumulative-layout-shift", "speed-index"):
        row[metric] = lhr["audits"][metric]["numericValue"]
    return row


def costs(lhr: dict[str, Any], limit: int = 12) -> list[str]:
    """The failing audits of a run, most costly first: by the category weight they lose, then their savings."""
    weights: dict[str, tuple[str, float]] = {}
    for cid in CATEGORIES:
        for ref in lhr["categories"][cid]["auditRefs"]:
            weights.setdefault(ref["id"], (cid, ref["weight"]))
    lines = []
    for aid, audit in lhr["audits"].items():
        score, mode = audit.get("score"), audit.get("scoreDisplayMode")
        if aid not in weights or score is None or mode in ("notApplicable", "informative", "manual") or score >= 0.9:
            continue
        cid, weight = weights[aid]
        details = audit.get("details") or {}
        savings = []
        if details.get("overallSavingsMs"):
            savings.append(f"{details['overallSavingsMs']:.0f} ms")
        if details.get("overallSavingsBytes"):
            savings.append(f"{details['overallSavingsBytes'] / 1024:.1f} KB")
        value = audit.get("displayValue") or ""
        lost = weight * (1 - score)
        lines.append((lost, details.get("overallSavingsMs") or 0,
                      f"  [{cid}] {aid}: {audit['title']} (score {score:.2f}, weight {weight:g}"
                      f"{', ' + value if value else ''}{', saves ' + ' / '.join(savings) if savings else ''})"))
    return [line for *_, line in sorted(lines, key=lambda x: (-x[0], -x[1]))][:limit]


def main_thread(lhr: dict[str, Any], limit: int = 6) -> list[str]:
    """Where the (throttled) main thread went: per script, then the long tasks with what started them."""
    scripts = (lhr["audits"]["bootup-time"].get("details") or {}).get("items", [])[:limit]
    tasks = (lhr["audits"].get("long-tasks", {}).get("details") or {}).get("items", [])[:limit]
    return ([f"  {r['total']:7.0f} ms total, {r['scripting']:6.0f} ms scripting  {r['url'][:100]}" for r in scripts]
            + [f"  long task {t['duration']:5.0f} ms at {t['startTime'] / 1000:5.2f} s  {t['url'][:100]}"
               for t in tasks])


def biggest_requests(lhr: dict[str, Any], limit: int = 8) -> list[str]:
    items = lhr["audits"]["network-requests"]["details"]["items"]
    items = sorted(items, key=lambda r: -(r.get("transferSize") or 0))[:limit]
    return [f"  {r.get('transferSize', 0) / 1024:7.1f} KB  {r.get('resourceType', '?'):<10} {r['url'][:110]}"
            for r in items]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="keep the JSON and HTML reports in this folder")
    args = ap.parse_args()
    if not os.access(LIGHTHOUSE, os.X_OK):
        raise SystemExit("Lighthouse is not installed: run `make bench-tools`")
    data = Path(tempfile.mkdtemp(prefix="lighthouse-data-"))
    reports = args.keep or Path(tempfile.mkdtemp(prefix="lighthouse-reports-"))
    reports.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ, STATIONMAP_DATA_DIR=str(data), STATIONMAP_RATE_LIMIT_PUBLIC="100000/minute")
    proc = gunicorn("web:create_app()", port, env)
    url = f"http://127.0.0.1:{port}"
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        warm(url)
        blocked = tile_patterns()
        for page in PAGES:
            for i in range(args.runs):
                out = reports / f"{page.strip('/')}-{i + 1}"
                results.setdefault(page, []).append(lighthouse(url + page, out, blocked))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(reports, ignore_errors=True)

    version = results[PAGES[0]][0]["lighthouseVersion"]
    browser = results[PAGES[0]][0]["environment"]["hostUserAgent"]
    print(f"# Lighthouse {version}, mobile defaults, {args.runs} runs per page, medians — {machine()}")
    print(f"# {browser}; tiles blocked; gunicorn -w 2 on the sample registry")
    print(f"{'page':<8} {'perf':>5} {'a11y':>5} {'b.p.':>5} {'transfer':>10}   FCP     LCP     TBT     CLS    SI")
    for page, lhrs in results.items():
        rows = [summary(lhr) for lhr in lhrs]
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"{page:<8} {med['performance']:>5.0f} {med['accessibility']:>5.0f} {med['best-practices']:>5.0f} "
              f"{med['bytes'] / 1024:>7.1f} KB  {med['first-contentful-paint'] / 1000:5.2f}s "
              f"{med['largest-contentful-paint'] / 1000:5.2f}s {med['total-blocking-time']:5.0f}ms "
              f"{med['cumulative-layout-shift']:6.3f} {med['speed-index'] / 1000:5.2f}s")
        missed = [f"{c} {med[c]:.0f} < {SCORE_TARGET}" for c in CATEGORIES if med[c] < SCORE_TARGET]
        target = f"scores >= {SCORE_TARGET}"
        if page in WEIGHT_TARGET:
            target += f", transfer <= {WEIGHT_TARGET[page] // 1024} KB"
            if med["bytes"] > WEIGHT_TARGET[page]:
                missed.append(f"transfer {med['bytes'] / 1024:.1f} KB")
        print(f"         target {target}: {'NOT met (' + '; '.join(missed) + ')' if missed else 'met'}")
    for page, lhrs in results.items():
        median_run = sorted(lhrs, key=lambda lhr: lhr["categories"]["performance"]["score"])[len(lhrs) // 2]
        print(f"\n## {page}: audits below 0.9 in the median run, most costly first")
        print("\n".join(costs(median_run)) or "  (none)")
        print(f"## {page}: main-thread time by script (bootup-time) and the long tasks behind Total Blocking Time")
        print("\n".join(main_thread(median_run)))
        print(f"## {page}: largest transfers")
        print("\n".join(biggest_requests(median_run)))
    if args.keep:
        print(f"\nreports (JSON and HTML) in {reports}")


if __name__ == "__main__":
    main()
