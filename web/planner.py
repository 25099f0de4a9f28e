"""The planner page: loaded once, then it asks the API (web/static/planner.js). The page itself carries
only the map (basemap, district lines), the stations (as a JSON data block, names set as text by the
script) and what the script needs to ask: the API's addresses, the question in the address bar, the
travel-mode names, the what-if and demand-file bounds. Coverage, gaps and sites arrive as the API's answers
(202 and polling while one is new); nothing here waits for a computation.
"""
from __future__ import annotations

from typing import Any

from flask import url_for

from stationmap.errors import InvalidInput
from stationmap.maps import mapview
from stationmap.maps.words import words
from stationmap.model import Station
from stationmap.query import demand_files, travel, whatif

from . import settings


def plan(stations: list[Station], reach_args: dict[str, Any], n: int, basemap: str, lang: str,
         asset_base: str) -> dict[str, Any]:
    """Template context: the map parts (with the planner's data block), the question for the form."""
    k = reach_args.get("min_stations") or 1
    m = mapview.base_map(basemap=basemap, settings=settings(), lang=lang, asset_base=asset_base, zoom=9)
    boundaries = mapview.add_boundaries(m, basemap)
    crs = mapview.BASEMAPS[basemap].crs
    payload = {
        "lang": lang, "crs": crs, "basemap": basemap,
        "api": {"coverage": url_for("api.coverage_view"), "gaps": url_for("api.gaps_view"),
                "suggest": url_for("api.suggest_view"), "whatif": url_for("api.whatif_view"),
                "jobs": url_for("api.job_view", key="KEY"), "demand": url_for("api.demand_upload"),
                "visits": url_for("api.demand_visits")},
        "question": {key: v for key, v in {**reach_args, "min_stations": k, "n": n}.items() if v is not None},
        "stations": [{"id": s.id, "n": s.name, "k": s.kind, "st": s.status, "w": [s.lat, s.lon],
                      "p": list(mapview.to_display(s.lat, s.lon, basemap))} for s in stations],
        "modes": {m_: words(lang)[m_] for m_ in travel.MODES},
        "limits": {"add": whatif.MAX_ADD, "remove": whatif.MAX_REMOVE, "demand_bytes": demand_files.MAX_BYTES},
        "words": words(lang),
    }
    m.add_child(mapview.DataLayer("SMPlanner.init", [m, boundaries], "sm-plan-data", payload,
                                  [("gcoord", asset_base + "vendor/gcoord/gcoord.global.prod.js"),
                                   ("planner_js", asset_base + "planner.js")]))
    m.fit_bounds(boundaries.get_bounds())
    return {"parts": mapview.render_parts(m), "form": {**reach_args, "n": n, "min_stations": k},
            "reach_label": reach_label(reach_args, lang), "planner_css": asset_base + "planner.css"}


def reach_label(args: dict[str, Any], lang: str) -> str:
    """'电动车 15 分钟（直线 2,885 米）' on the Chinese page; the library's English label otherwise."""
    try:
        reach = travel.resolve_reach(args.get("reach_m"), args.get("minutes"), args.get("mode"))
    except InvalidInput:  # the page still loads; the API says what is wrong with the question
        return ""
    minutes, mode = args.get("minutes"), args.get("mode")
    if lang == "en":
        return travel.describe_reach(reach, minutes, mode)
    if minutes is not None:
        return f"{travel.MODE_ZH[mode or 'walk']} {minutes:g} 分钟（直线 {reach:,.0f} 米）"
    return f"直线 {reach:,.0f} 米"
