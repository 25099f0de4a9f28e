"""The planner page's content: coverage, gaps and suggested sites from the library, drawn by
`stationmap.maps.mapview.coverage_map` (shifted into the basemap's datum there); population figures come
from the engine's demand layer and are labelled as modelled.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for
from shapely.geometry import shape

from stationmap import present
from stationmap.maps import mapview
from stationmap.model import Station
from stationmap.query import travel

from . import questions, settings


@dataclass(frozen=True)
class CoverageShapes:
    """Covered and uncovered land (WGS-84 shapely) from a stored coverage answer, for the planner's map."""

    covered: Any
    uncovered: Any

    @classmethod
    def from_geojson(cls, doc: dict[str, Any]) -> "CoverageShapes":
        parts = {f["properties"]["coverage"]: shape(f["geometry"]) for f in doc["features"]}
        return cls(parts["covered"], parts["uncovered"])


def plan(stations: list[Station], reach_args: dict[str, Any], n: int, basemap: str, lang: str,
         asset_base: str) -> dict[str, Any]:
    """Template context: map parts, summary, district/township rows, gaps, suggested sites, download links.

    The answers come from `questions` (computed apart); `questions.Pending` propagates while one is new.
    """
    from stationmap.query.coverage import Gap

    k = reach_args.get("min_stations") or 1
    answers = questions.answer_all(("coverage", reach_args, 0), *([("suggest", reach_args, n)] if n else []))
    data, meta = answers[0]
    siting = answers[1][0] if n else None
    reach = meta["reach_m"]
    rows = present.coverage_rows(data["table"])
    gap_rows = [Gap.from_dict(g).to_dict() for g in data["gaps"][:20]]
    m = mapview.coverage_map(CoverageShapes.from_geojson(data["geojson"]), stations, gap_rows,
                             (siting or {}).get("sites", []), basemap=basemap, settings=settings(), lang=lang,
                             asset_base=asset_base)

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
        "reach_label": _reach_label(reach, meta["minutes"], meta["mode"], lang),
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
