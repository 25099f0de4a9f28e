"""The basemaps the pages offer (tile URLs, datum, key), without the map drawing: the web app checks the
configured basemap and builds its Content-Security-Policy from these at start, before any map is drawn
(`stationmap.maps.mapview`, which draws with folium, uses the same table)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidInput


@dataclass(frozen=True)
class Tiles:
    url: str
    attribution: str
    subdomains: str = "abc"
    max_zoom: int = 18


@dataclass(frozen=True)
class Basemap:
    key: str
    zh: str
    en: str
    crs: str  # datum the tiles are drawn in: what we shift our coordinates into
    needs_key: bool = False


BASEMAPS: dict[str, Basemap] = {
    "osm": Basemap("osm", "开放街道地图", "OpenStreetMap", "wgs84"),
    "amap": Basemap("amap", "高德地图", "Amap", "gcj02"),
    "tianditu": Basemap("tianditu", "天地图", "Tianditu", "wgs84", needs_key=True),  # CGCS2000 ≈ WGS-84 (< 1 m)
}


def check_basemap(name: str, settings: dict[str, Any]) -> str:
    """A known basemap that can be served with these settings, or InvalidInput saying what to do."""
    key = str(name).strip().lower()
    if key not in BASEMAPS:
        raise InvalidInput(f"unknown basemap {name!r}; use one of {', '.join(BASEMAPS)}")
    if BASEMAPS[key].needs_key and not settings.get("tianditu_key"):
        raise InvalidInput("the Tianditu (天地图) basemap needs a browser key: set STATIONMAP_TIANDITU_KEY "
                           "(apply at console.tianditu.gov.cn), or choose basemap osm or amap")
    return key


def tile_layers(basemap: str, settings: dict[str, Any], lang: str = "zh") -> list[Tiles]:
    """The tile layers (bottom first) that make up a basemap."""
    if basemap == "osm":
        return [Tiles(settings["osm_tile_url"], '&copy; <a href="https://www.openstreetmap.org/copyright">'
                                               'OpenStreetMap</a> contributors')]
    if basemap == "amap":
        return [Tiles("https://webrd0{s}.is.autonavi.com/appmaptile?lang=" + ("en" if lang == "en" else "zh_cn")
                      + "&size=1&scale=1&style=8&x={x}&y={y}&z={z}", "&copy; 高德地图 AutoNavi", "1234")]
    key = settings["tianditu_key"]
    wmts = ("https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=%s"
            "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=" + key)
    label = "eva" if lang == "en" else "cva"
    return [Tiles(wmts % ("vec", "vec"), "&copy; 天地图 Tianditu", "01234567"),
            Tiles(wmts % (label, label), "", "01234567")]


def tile_hosts(settings: dict[str, Any]) -> set[str]:
    """Every host a page may load tiles from (for the Content-Security-Policy and the tests)."""
    hosts: set[str] = set()
    for name in BASEMAPS:
        if BASEMAPS[name].needs_key and not settings.get("tianditu_key"):
            continue
        for lang in ("zh", "en"):
            for t in tile_layers(name, settings, lang):
                host = urlsplit(t.url).netloc
                hosts.update({host.replace("{s}", s) for s in t.subdomains} if "{s}" in host else {host})
    return hosts
