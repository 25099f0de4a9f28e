"""The planner page's content: coverage, gaps and suggested sites from the library, drawn with folium.

Everything drawn is shifted into the basemap's datum by `stationmap.mapview`; population figures
come from the engine's demand layer and are labelled as modelled.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import folium
from flask import url_for

from stationmap import mapview, travel
from stationmap.model import Station

from . import settings
from .api import coverage_rows


def _query(reach_args: dict[str, Any], **extra: Any) -> str:
    q = {k: v for k, v in reach_args.items() if v is not None}
    q.update(extra)
    return urlencode(q)


def plan(stations: list[Station], reach_args: dict[str, Any], n: int, basemap: str, lang: str,
         asset_base: str) -> dict[str, Any]:
    """Template context: map parts, summary, district/township rows, gaps, suggested sites, download links."""
    from stationmap.coverage import coverage

    reach = travel.resolve_reach(reach_args.get("reach_m"), reach_args.get("minutes"), reach_args.get("mode"))
    k = reach_args.get("min_stations") or 1
    cov = coverage(stations, reach, min_stations=k)
    table = cov.to_dict()
    rows = coverage_rows(table)
    gap_rows = [g.to_dict() for g in cov.gaps(20)]
    siting: dict[str, Any] | None = None
    if n:
        from stationmap.siting import suggest

        siting = suggest(stations, n, reach, min_stations=k).to_dict()

    cfg = settings()
    m = mapview.base_map(basemap=basemap, settings=cfg, lang=lang, asset_base=asset_base, zoom=9)
    folium.GeoJson(mapview.geometry_to_display(cov.uncovered, basemap, 0.0003), name="uncovered",
                   style_function=lambda _f: {"color": "#e03131", "weight": 0, "fillColor": "#e03131",
                                              "fillOpacity": 0.18}).add_to(m)
    folium.GeoJson(mapview.geometry_to_display(cov.covered, basemap, 0.0003), name="covered",
                   style_function=lambda _f: {"color": "#2b8a3e", "weight": 1, "fillColor": "#40c057",
                                              "fillOpacity": 0.35}).add_to(m)
    boundaries = mapview.add_boundaries(m, basemap)
    for s in stations:
        folium.CircleMarker(list(mapview.to_display(s.lat, s.lon, basemap)), radius=4 if s.kind == "outdoor" else 6,
                            color="#fff", weight=1, fill_color="#1864ab" if s.kind == "smart" else "#e8590c",
                            fill_opacity=1, tooltip=s.name).add_to(m)
    for i, g in enumerate(gap_rows, 1):
        if "lat" in g and "lon" in g:
            folium.CircleMarker(list(mapview.to_display(g["lat"], g["lon"], basemap)), radius=7, color="#c92a2a",
                                weight=2, fill=False, tooltip=f"缺口 gap {i}").add_to(m)
    for i, site in enumerate((siting or {}).get("sites", []), 1):
        folium.Marker(list(mapview.to_display(site["lat"], site["lon"], basemap)),
                      icon=folium.DivIcon(html=f'<div class="sm-site-label">{i}</div>', icon_size=(24, 24),
                                          icon_anchor=(12, 12)),
                      tooltip=f"建议站点 {i}: +{site.get('gain', 0):,.0f}").add_to(m)
    m.fit_bounds(boundaries.get_bounds())

    api = url_for("api.coverage_view").rsplit("/", 1)[0]
    q = _query(reach_args)
    downloads = {
        "coverage_csv": f"{api}/coverage?{q}&format=csv", "coverage_geojson": f"{api}/coverage?{q}&format=geojson",
        "gaps_csv": f"{api}/gaps?{q}&format=csv&limit=1000", "gaps_geojson": f"{api}/gaps?{q}&format=geojson&limit=1000",
    }
    if n:
        downloads.update(sites_csv=f"{api}/suggest?{q}&n={n}&format=csv",
                         sites_geojson=f"{api}/suggest?{q}&n={n}&format=geojson")
    return {
        "parts": mapview.render_parts(m), "reach_m": reach, "reach_label": travel.describe_reach(
            reach, reach_args.get("minutes"), reach_args.get("mode")),
        "form": {**reach_args, "n": n, "min_stations": k}, "city": rows[0],
        "district_rows": [r for r in rows if r["level"] == "district"],
        "township_rows": sorted((r for r in rows if r["level"] == "township"),
                                key=lambda r: (r.get("population_share") or 0)),
        "gaps": gap_rows, "siting": siting, "downloads": downloads,
        "demand_label": getattr(cov, "demand_label", None) or table.get("demand", {}),
    }
