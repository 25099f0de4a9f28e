"""`stationmap render -o DIR`: a self-contained static map site the union can host with no Python behind it.

The pages are the service's own /map and /embed (`maps.pages`, no web framework involved), rendered
once with the station records embedded and nearest search done in the browser; scripts, styles and Leaflet's images are
copied from web/static (vendor/ filled by `make assets`). The data beside them are the API's own answers
(`DATA_FILES`), asked of `stationmap.api` in process, so each file is what the service serves at its address.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..config import REPO_ROOT
from ..errors import StationmapError

STATIC_DIR = REPO_ROOT / "web" / "static"
VENDOR_FILES = ("leaflet/leaflet.js", "leaflet/leaflet.css", "leaflet/LICENSE", "leaflet/images",
                "leaflet.markercluster/leaflet.markercluster.js", "leaflet.markercluster/MarkerCluster.css",
                "leaflet.markercluster/MarkerCluster.Default.css", "leaflet.markercluster/MIT-LICENCE.txt",
                "gcoord/gcoord.global.prod.js", "gcoord/LICENSE")
OWN_FILES = ("stationmap.js", "stationmap.css")
DATA_FILES = {"stations.geojson": "/api/stations", "districts.geojson": "/api/districts",
              "townships.geojson": "/api/townships"}  # file -> the API request it holds the answer to


def render_site(out_dir: Path, overrides: dict[str, Any] | None = None, basemap: str | None = None,
                lang: str | None = None) -> list[Path]:
    """Write index.html (worker map), embed.html, the DATA_FILES and static/ to out_dir."""
    missing = [f for f in VENDOR_FILES if not (STATIC_DIR / "vendor" / f).exists()]
    if missing:
        raise StationmapError(f"web/static/vendor is incomplete ({missing[0]} missing): run `make assets` first")
    from ..api import Request, Service
    from . import mapview
    from .pages import map_page

    service = Service.open(overrides)
    settings = service.settings
    stations = service.store.all()
    lang = lang or settings["language"]
    basemap = mapview.check_basemap(basemap or settings["basemap"], settings)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    common = {"settings": settings, "lang": lang, "basemap": basemap, "asset_base": "static/", "api_base": None}
    pages = {"index": map_page(stations, **common, script_src="index.js"),
             "embed": map_page(stations, **common, template="embed.html", script_src="embed.js")}
    for name, (html, script) in pages.items():  # no inline script: each page's map script is a file beside it
        for path, text in ((out / f"{name}.html", html), (out / f"{name}.js", script)):
            path.write_text(text, encoding="utf-8")
            written.append(path)
    for name, target in DATA_FILES.items():
        answer = service.handle(Request.make("GET", target))
        if answer.status != 200:
            raise StationmapError(f"{target}: {answer.json().get('detail', answer.status)}")
        (out / name).write_bytes(answer.body)
        written.append(out / name)
    static = out / "static"
    for rel in OWN_FILES:
        dest = static / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(STATIC_DIR / rel, dest)
        written.append(dest)
    for rel in VENDOR_FILES:
        src, dest = STATIC_DIR / "vendor" / rel, static / "vendor" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest)
        written.append(dest)
    return written
