"""`stationmap render -o DIR`: a self-contained static map site the union can host with no Python behind it.

The pages are the service's own /map and /embed (`maps.pages`, no web framework involved), rendered
once with the station records embedded and nearest search done in the browser; scripts, styles and Leaflet's images are
copied from web/static (vendor/ filled by `make assets`), and the data sit beside them as GeoJSON.
"""
from __future__ import annotations

import json
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


def render_site(out_dir: Path, overrides: dict[str, Any] | None = None, basemap: str | None = None,
                lang: str | None = None) -> list[Path]:
    """Write index.html (worker map), embed.html, stations.geojson, districts.geojson and static/ to out_dir."""
    missing = [f for f in VENDOR_FILES if not (STATIC_DIR / "vendor" / f).exists()]
    if missing:
        raise StationmapError(f"web/static/vendor is incomplete ({missing[0]} missing): run `make assets` first")
    from .. import config
    from ..geo.geography import districts
    from ..present import feature_collection, frame_collection
    from ..store import open_store
    from . import mapview
    from .pages import map_page

    settings = config.load_settings(overrides)
    stations = open_store(config.data_dir(settings)).all()
    lang = lang or settings["language"]
    basemap = mapview.check_basemap(basemap or settings["basemap"], settings)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    common = {"settings": settings, "lang": lang, "basemap": basemap, "asset_base": "static/", "api_base": None}
    pages = {"index": map_page(stations, **common, script_src="index.js"),
             "embed": map_page(stations, **common, template="embed.html", script_src="embed.js")}
    data = {"stations.geojson": feature_collection(stations), "districts.geojson": frame_collection(districts())}
    for name, (html, script) in pages.items():  # no inline script: each page's map script is a file beside it
        for path, text in ((out / f"{name}.html", html), (out / f"{name}.js", script)):
            path.write_text(text, encoding="utf-8")
            written.append(path)
    for name, doc in data.items():
        (out / name).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
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
