"""The planner page's content: coverage, gaps and suggested sites from the library, drawn by
`stationmap.mapview.coverage_map` (shifted into the basemap's datum there); population figures come
from the engine's demand layer and are labelled as modelled.
"""
from __future__ import annotations

from typing import Any

from flask import url_for

from stationmap import mapview, travel
from stationmap.model import Station

from . import settings
from .api import coverage_rows


def plan(stations: list[Station], reach_args: dict[str, Any], n: int, basemap: str, lang: str,
         asset_base: str) -> dict[str, Any]:
    """Template context: map parts, summary, district/township rows, gaps, suggested sites, download links."""
    from stationmap.coverage import coverage

    reach = travel.resolve_reach(reach_args.get("reach_m"), reach_args.get("minutes"), reach_args.get("mode"))
    k = reach_args.get("min_stations") or 1
    cov = coverage(stations, reach, min_stations=k)
    rows = coverage_rows(cov.to_dict())
    gap_rows = [g.to_dict() for g in cov.gaps(20)]
    siting: dict[str, Any] | None = None
    if n:
        from stationmap.siting import suggest

        siting = suggest(stations, n, reach, min_stations=k).to_dict()
    m = mapview.coverage_map(cov, stations, gap_rows, (siting or {}).get("sites", []), basemap=basemap,
                             settings=settings(), lang=lang, asset_base=asset_base)

    q = {key: v for key, v in reach_args.items() if v is not None}
    downloads = {
        "coverage_csv": url_for("api.coverage_view", **q, format="csv"),
        "coverage_geojson": url_for("api.coverage_view", **q, format="geojson"),
        "gaps_csv": url_for("api.gaps_view", **q, format="csv", limit=1000),
        "gaps_geojson": url_for("api.gaps_view", **q, format="geojson", limit=1000),
    }
    if n:
        downloads.update(sites_csv=url_for("api.suggest_view", **q, n=n, format="csv"),
                         sites_geojson=url_for("api.suggest_view", **q, n=n, format="geojson"))
    return {
        "parts": mapview.render_parts(m), "reach_m": reach,
        "reach_label": _reach_label(reach, reach_args.get("minutes"), reach_args.get("mode"), lang),
        "form": {**reach_args, "n": n, "min_stations": k}, "city": rows[0],
        "district_rows": [r for r in rows if r["level"] == "district"],
        "township_rows": sorted((r for r in rows if r["level"] == "township"),
                                key=lambda r: (r.get("population_share") or 0)),
        "gaps": gap_rows, "siting": siting, "downloads": downloads,
    }


def _reach_label(reach: float, minutes: float | None, mode: str | None, lang: str) -> str:
    """'电动车 15 分钟（直线 2,885 米）' on the Chinese page; the library's English label otherwise."""
    if lang == "en":
        return travel.describe_reach(reach, minutes, mode)
    if minutes is not None:
        return f"{travel.MODE_ZH[mode or 'walk']} {minutes:g} 分钟（直线 {reach:,.0f} 米）"
    return f"直线 {reach:,.0f} 米"
