"""Folium maps of the stations: basemap choice, datum shift for Amap, local assets instead of CDNs.

No Flask here: the web pages and the static export both call `build_map` and `render_parts`.

* Basemaps: OpenStreetMap (WGS-84), Amap/高德 (GCJ-02) and Tianditu/天地图 (CGCS2000, within a metre
  of WGS-84; needs a key). On a GCJ-02 basemap every coordinate we draw (stations, district lines,
  coverage polygons, centre) is shifted with `stationmap.geo.datums` first, or it lands ~550 m off.
* Besides the stations, the page carries (as JSON blocks, never through folium's templates) an
  orientation layer drawn without tiles (township cells, seats, district names) and the offline search
  index of places (`query.search.client_index`).
* Folium's defaults load Leaflet, jQuery, Bootstrap and Font Awesome from public CDNs that are slow
  or blocked in mainland China. Every map here loads only Leaflet, Leaflet.markercluster and gcoord
  from `<asset_base>vendor/` (installed from npm by `make assets`) and our own JS/CSS.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterable

import folium
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.plugins import MarkerCluster
from folium.template import Template
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from .. import present, vocab
from ..geo import datums, geography
from ..model import Station
from ..query import search, travel
from .basemaps import BASEMAPS, Basemap, Tiles, check_basemap, tile_hosts, tile_layers  # noqa: F401  (kept in basemaps)

CENTER_WGS84 = (23.52, 116.15)  # between 榕城 and 普宁: the whole city fits at zoom 9-10
DEFAULT_ZOOM = 10
SIMPLIFY_DEG = 0.0002  # ~20 m: district lines for display only (the source's own generalisation is tens of m)
CELL_SIMPLIFY_DEG = 0.001  # ~100 m: township cells are approximate (Voronoi of seats) anyway; keeps the page light
CELL_PRECISION = 1e-4  # ~10 m, ample for orientation lines and labels


# -- drawing coordinates -----------------------------------------------------------------------
def to_display(lat: float, lon: float, basemap: str) -> tuple[float, float]:
    """A WGS-84 point in the basemap's datum, rounded to ~0.1 m."""
    la, lo = datums.from_wgs84(lat, lon, BASEMAPS[basemap].crs)
    return round(la, 6), round(lo, 6)


def geometry_to_display(geom: BaseGeometry, basemap: str, simplify: float = 0.0) -> dict[str, Any]:
    """A WGS-84 shapely geometry as GeoJSON in the basemap's datum, simplified for drawing, 6 decimals."""
    import shapely

    if simplify:
        geom = geom.simplify(simplify, preserve_topology=True)
    if BASEMAPS[basemap].crs != "wgs84":
        geom = datums.geometry_from_wgs84(geom, BASEMAPS[basemap].crs)
    return mapping(shapely.set_precision(geom, 1e-6, mode="pointwise"))


def district_outlines(basemap: str, only: str | None = None) -> dict[str, Any]:
    """The district polygons (simplified) for drawing, with zh/en names (a fresh copy: folium keeps it)."""
    return json.loads(_district_outlines(basemap, only))


def orientation(basemap: str, district: str | None = None) -> dict[str, Any]:
    """What the page draws to orient a worker without tiles, in the basemap's datum: the township cells
    (approximate, simplified) with their names, the township seats, and district name points.
    `district` (adcode) keeps only that district's townships."""
    return json.loads(_orientation(basemap, district))


# The outlines are shipped data: each basemap's drawing is made once per process (shifting every vertex to
# GCJ-02 was most of a page's rendering), and kept as JSON text so that no caller can change the kept copy.
@lru_cache(maxsize=32)
def _district_outlines(basemap: str, only: str | None) -> str:
    d = geography.districts()
    feats = []
    for code, row in d.iterrows():
        if only and code != only:
            continue
        feats.append({"type": "Feature", "properties": {"adcode": code, "name": row["name"], "name_en": row["name_en"]},
                      "geometry": geometry_to_display(row.geometry, basemap, SIMPLIFY_DEG)})
    return json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False)


@lru_cache(maxsize=32)
def _orientation(basemap: str, district: str | None) -> str:
    import shapely

    cells, seats = geography.township_areas(), geography.townships()
    if district:
        cells, seats = cells[cells["district"] == district], seats[seats["district"] == district]
    feats = []
    for _code, row in cells.iterrows():
        geom = row.geometry.simplify(CELL_SIMPLIFY_DEG, preserve_topology=True)
        if BASEMAPS[basemap].crs != "wgs84":
            geom = datums.geometry_from_wgs84(geom, BASEMAPS[basemap].crs)
        feats.append({"type": "Feature", "properties": {"n": row["name"], "d": row["district"]},
                      "geometry": mapping(shapely.set_precision(geom, CELL_PRECISION, mode="pointwise"))})
    d = geography.districts()
    labels = []
    for code, row in d.iterrows():
        if district and code != district:
            continue
        pt = row.geometry.representative_point()
        labels.append([*to_display(pt.y, pt.x, basemap), row["name"], row["name_en"]])
    return json.dumps({"cells": {"type": "FeatureCollection", "features": feats},
                       "seats": [[*to_display(r.geometry.y, r.geometry.x, basemap), r["name"], r["district"]]
                                 for _c, r in seats.iterrows()],
                       "districts": labels}, ensure_ascii=False)


def basemap_choices(settings: dict[str, Any], lang: str) -> dict[str, Any]:
    """Every basemap these settings can serve, for the page's one-tap switcher: names, datum, tile layers."""
    out = {}
    for key, b in BASEMAPS.items():
        if b.needs_key and not settings.get("tianditu_key"):
            continue
        out[key] = {"zh": b.zh, "en": b.en, "crs": b.crs,
                    "layers": [{"url": t.url, "attribution": t.attribution, "subdomains": t.subdomains,
                                "maxNativeZoom": t.max_zoom} for t in tile_layers(key, settings, lang)]}
    return out


# -- folium elements ---------------------------------------------------------------------------
class DataLayer(JSCSSMixin, MacroElement):
    """Hands data to one of our page scripts through a JSON block in the page, never through folium.

    Folium renders a macro's output again as a Jinja template, so text placed in it (a station
    name such as `{{ ... }}`) would be evaluated on the server, and in the script it would be code.
    The data go instead into `<script type="application/json" id=block_id>` (see `render_parts`),
    and the macro only names the block.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this.call }}({{ this.args }}JSON.parse(document.getElementById("{{ this.block_id }}").textContent));
        {% endmacro %}
    """)

    def __init__(self, call: str, layers: list[Any], block_id: str, data: Any, scripts: list[tuple[str, str]]):
        super().__init__()
        self._name = "DataLayer"
        self.call, self.block_id, self.data = call, block_id, data
        self.args = "".join(f"{layer.get_name()}, " for layer in layers)
        self.default_js = scripts
        self.default_css = []


class DataBlock(MacroElement):
    """Data for the page script and nothing else: a JSON block `block_id` in the page (see `render_parts`);
    the script finds it by its id. Draws nothing and renders no text through folium."""

    _template = Template("")

    def __init__(self, block_id: str, data: Any):
        super().__init__()
        self._name = "DataBlock"
        self.block_id, self.data = block_id, data


def _local_cluster(asset_base: str, n: int) -> MarkerCluster:
    """Folium's MarkerCluster, loading Leaflet.markercluster from our vendor folder; a few stations cluster only
    where their icons (up to 34 px) would overlap."""
    mc = MarkerCluster(options={"showCoverageOnHover": False, "maxClusterRadius": 45 if n > 40 else 36,
                                "disableClusteringAtZoom": 15,
                                "spiderfyOnMaxZoom": True, "chunkedLoading": True})
    mc.default_js = [("markerclusterjs", asset_base + "vendor/leaflet.markercluster/leaflet.markercluster.js")]
    mc.default_css = [("markerclustercss", asset_base + "vendor/leaflet.markercluster/MarkerCluster.css"),
                      ("markerclusterdefaultcss", asset_base + "vendor/leaflet.markercluster/MarkerCluster.Default.css")]
    return mc


def base_map(*, basemap: str, settings: dict[str, Any], lang: str = "zh", center: tuple[float, float] | None = None,
             zoom: int | None = None, asset_base: str = "/static/") -> folium.Map:
    """An empty folium map on the chosen basemap, loading Leaflet from our own vendor folder only."""
    basemap = check_basemap(basemap, settings)
    lat, lon = center or CENTER_WGS84
    m = folium.Map(location=list(to_display(lat, lon, basemap)), zoom_start=zoom or DEFAULT_ZOOM, tiles=None,
                   control_scale=True, min_zoom=7, max_zoom=18, zoom_snap=0.25)
    m.default_js = [("leaflet", asset_base + "vendor/leaflet/leaflet.js")]
    m.default_css = [("leaflet_css", asset_base + "vendor/leaflet/leaflet.css"),
                     ("stationmap_css", asset_base + "stationmap.css")]
    for t in tile_layers(basemap, settings, lang):
        folium.TileLayer(tiles=t.url, attr=t.attribution or " ", subdomains=t.subdomains, max_zoom=18,
                         max_native_zoom=t.max_zoom, name=BASEMAPS[basemap].zh, overlay=False, control=False).add_to(m)
    return m


def add_boundaries(m: folium.Map, basemap: str, district: str | None = None) -> folium.GeoJson:
    return folium.GeoJson(
        district_outlines(basemap, district), name="districts", control=False,
        style_function=lambda _f: {"color": "#7a3b9e", "weight": 2, "opacity": 0.8, "fill": False, "dashArray": "6 4"},
        tooltip=folium.GeoJsonTooltip(fields=["name", "name_en"], labels=False),
    ).add_to(m)


def build_map(stations: Iterable[Station], *, basemap: str, settings: dict[str, Any], lang: str = "zh",
              center: tuple[float, float] | None = None, zoom: int | None = None, district: str | None = None,
              asset_base: str = "/static/", api_base: str | None = "/api", script: str = "stationmap.js") -> folium.Map:
    """The station map: basemap, district lines, clustered stations (drawn by our script), all shifted as needed.

    `api_base` None means a static export: nearest search runs in the browser on the embedded data.
    A registry above the `map_inline_max` setting, served with an API, is not carried in the page: the
    script asks `/api/stations/clusters` for what the view shows as it moves (`remote` in its data).
    `center` is WGS-84 (lat, lon); `district` (adcode) limits the boundary drawn and the default view
    (without `center`, the map fits that boundary, or centres on it when `zoom` is given).
    """
    stations = list(stations)
    basemap = check_basemap(basemap, settings)
    # a large registry served online: the page loads what the view shows instead of carrying every station
    remote = api_base is not None and len(stations) > settings.get("map_inline_max", 5000)
    m = base_map(basemap=basemap, settings=settings, lang=lang, center=center, zoom=zoom, asset_base=asset_base)
    boundaries = add_boundaries(m, basemap, district)
    cluster = _local_cluster(asset_base, len(stations)).add_to(m)
    payload = {
        "basemap": basemap, "crs": BASEMAPS[basemap].crs, "lang": lang, "api": api_base,
        # no centre: the drawn districts fill the map, or, with a zoom, are centred at that zoom
        "view": "given" if center is not None else "fit" if zoom is None else "centre",
        "stations": [] if remote else [present.station_record(s, BASEMAPS[basemap].crs) for s in stations],
        "remote": {"total": len(stations)} if remote else None,
        "sample": any(s.demo for s in stations),
        "amenities": {t.key: [t.zh, t.en, t.icon] for t in vocab.AMENITIES},
        "speeds": travel.SPEED_M_S, "detour": travel.DETOUR_FACTOR,
        "nav": present.nav_config(), "far_m": present.FAR_M,
        "labels": {key: list(words) for key, words in present.OPEN_LABELS.items()},
        "basemaps": basemap_choices(settings, lang),
    }
    if api_base is None:  # a static copy: the page says how old its data are
        payload["built"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    m.add_child(DataBlock("sm-orient", orientation(basemap, district)))
    m.add_child(DataBlock("sm-places", search.client_index()))  # the offline search's places
    m.add_child(DataLayer("StationMap.init", [m, cluster, boundaries], "sm-data", payload,
                          [("gcoord", asset_base + "vendor/gcoord/gcoord.global.prod.js"),
                           ("stationmap_js", asset_base + script)]))
    return m


def coverage_map(cov: Any, stations: Iterable[Station], gaps: list[dict[str, Any]], sites: list[dict[str, Any]], *,
                 basemap: str, settings: dict[str, Any], lang: str = "zh", asset_base: str = "/static/") -> folium.Map:
    """The planner's map: covered and uncovered land (a `coverage.Coverage`), stations, the gaps (dicts with
    lat/lon) as red rings and suggested sites (dicts with lat/lon/gain) as numbered labels."""
    m = base_map(basemap=basemap, settings=settings, lang=lang, asset_base=asset_base, zoom=9)
    for name, geom, style in (
            ("uncovered", cov.uncovered, {"color": "#e03131", "weight": 0, "fillColor": "#e03131", "fillOpacity": 0.18}),
            ("covered", cov.covered, {"color": "#2b8a3e", "weight": 1, "fillColor": "#40c057", "fillOpacity": 0.35})):
        folium.GeoJson(geometry_to_display(geom, basemap, 0.0003), name=name,
                       style_function=lambda _f, style=style: style).add_to(m)
    boundaries = add_boundaries(m, basemap)
    records = [{"p": list(to_display(s.lat, s.lon, basemap)), "n": s.name, "k": s.kind} for s in stations]
    m.add_child(DataLayer("SMPlanner.stations", [m], "sm-plan-data", records,
                          [("planner_js", asset_base + "planner.js")]))
    for i, g in enumerate(gaps, 1):
        if "lat" in g and "lon" in g:
            folium.CircleMarker(list(to_display(g["lat"], g["lon"], basemap)), radius=7, color="#c92a2a",
                                weight=2, fill=False, tooltip=f"缺口 gap {i}").add_to(m)
    for i, site in enumerate(sites, 1):
        folium.Marker(list(to_display(site["lat"], site["lon"], basemap)),
                      icon=folium.DivIcon(html=f'<div class="sm-site-label">{i}</div>', icon_size=(24, 24),
                                          icon_anchor=(12, 12)),
                      tooltip=f"建议站点 {i}: +{site.get('gain', 0):,.0f}").add_to(m)
    m.fit_bounds(boundaries.get_bounds())
    return m


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.S)
_VIEWPORT = re.compile(r"<meta name=\"viewport\"[^>]*>", re.S)  # folium's viewport forbids page zoom
_SCRIPT_SRC = re.compile(r"<script src=")


def render_parts(m: folium.Map) -> dict[str, Any]:
    """The folium page in parts for our own templates: head links and styles, the map div, the script,
    the JSON data blocks ({id: JSON text}) of its `DataLayer`s and `DataBlock`s, and its styles.

    Folium puts a small inline script and a few style elements in the head; they move to the script
    and style parts, so that the page carries exactly one script and one style element of its own,
    which the page gives its CSP nonce (or, for the script, serves as a file). Folium's viewport tag
    (which disables page zoom) is dropped: the page template sets its own. Library scripts are
    deferred, so the map script waits for the document to be parsed (DOMContentLoaded), when they have run.
    """
    fig = m.get_root()
    fig.render()
    header = _VIEWPORT.sub("", fig.header.render())
    scripts, styles = _INLINE_SCRIPT.findall(header), _INLINE_STYLE.findall(header)
    blocks = {el.block_id: script_json(el.data) for el in m._children.values()
              if isinstance(el, (DataLayer, DataBlock))}
    script = "\n".join(scripts + [fig.script.render()])
    return {"header": _SCRIPT_SRC.sub("<script defer src=", _INLINE_STYLE.sub("", _INLINE_SCRIPT.sub("", header))),
            "html": fig.html.render(),
            "script": 'document.addEventListener("DOMContentLoaded", function () {\n' + script + "\n});",
            "style": "\n".join(styles), "data": blocks}


def script_json(value: Any) -> str:
    """JSON safe to place inside a <script>: no character of it can end the element or start markup."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text
