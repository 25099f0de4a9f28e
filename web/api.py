"""JSON API under /api: stations, nearest, coverage, gaps, suggestions, boundaries, OpenAPI; and /healthz.

Every view declares its query parameters (web.params) and calls the library; geometry is WGS-84
(RFC 7946). Coverage, gaps and suggestions also come as CSV (UTF-8 with BOM, opens in Excel) and GeoJSON.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify

from stationmap import present
from stationmap.geo import geography
from stationmap.hours import TZ
from stationmap.params import (AMENITY, ANSWER_FORMAT, BBOX, CRS, DISTRICT, GAPS_LIMIT, KIND, LAT, LON, OPEN_NOW, REACH,
                               SITES, STATUS, TEXT, TOWNSHIP_LAYER, K)
from stationmap.query import nearest

from . import questions, store
from .admin import annotate_live
from .openapi import OPENAPI_MEDIA
from .params import Reply, documented
from .responses import csv_response, csv_text_response, geojson_response

bp = Blueprint("api", __name__)
health_bp = Blueprint("health", __name__)

POPULATION_NOTE = ("Population is modelled (2020 census district totals spread by a documented model), "
                   "not counted; 人口为模型估算值，非实际统计。")

# -- stations ----------------------------------------------------------------------------------
@bp.get("/stations")
@documented("Stations as a GeoJSON FeatureCollection (WGS-84), with GCJ-02/BD-09 coordinates and navigation links.",
            params=(KIND, DISTRICT, AMENITY, OPEN_NOW, STATUS,
                    BBOX, TEXT),
            tag="stations", media=("application/geo+json",))
def stations(**args: Any) -> Response:
    now = datetime.now(TZ)
    chosen = nearest.select_stations(store().all(), when=now, **args)
    doc = present.feature_collection(chosen, now)
    annotate_live(doc["features"])  # smart stations' live status
    return geojson_response(doc)


@bp.get("/stations/<station_id>")
@documented("One station as a GeoJSON Feature; 404 for an unknown id.", tag="stations",
            media=("application/geo+json",), path_params={"station_id": "Station id, e.g. st-e0a8117eb7."})
def station(station_id: str) -> Response:
    feature = present.station_feature(store().get(station_id[:100]), datetime.now(TZ))
    annotate_live([feature])
    return geojson_response(feature)


@bp.get("/nearest")
@documented("The k nearest stations to a point, by geodesic distance, with bearing and minutes per mode.",
            params=(LAT, LON, K, CRS, KIND, AMENITY, OPEN_NOW, STATUS),
            tag="queries")
def nearest_view(lat: float, lon: float, k: int, crs: str, kind, amenity, open_now: bool, status) -> Response:
    from stationmap.query.nearest import nearest

    now = datetime.now(TZ)
    results = nearest(store().all(), lat, lon, k=k, crs=crs, kind=kind, amenities=amenity, open_now=open_now,
                      status=status, when=now)
    return jsonify(present.nearest_answer(results, lat, lon, crs, now))


# -- planning ----------------------------------------------------------------------------------
@bp.get("/coverage")
@documented("Share of land and (modelled) population within reach, for the city, each district and township. "
            "A question not answered before is computed apart: 202 with a job to poll, then ask again.",
            params=(*REACH, ANSWER_FORMAT), tag="planning",
            media=("application/json", "application/geo+json", "text/csv"), responses=questions.COSTLY)
def coverage_view(format: str, **args: Any) -> Response:
    data, meta = questions.answer("coverage", args)
    if format == "geojson":
        return geojson_response(data["geojson"], "coverage.geojson")
    if format == "csv":
        return csv_response(present.coverage_rows(data["table"]), "coverage.csv")
    return jsonify({**data["table"], **meta, "population_note": POPULATION_NOTE})


@bp.get("/gaps")
@documented("Uncovered demand ranked by the (modelled) people it holds, with location, district and township. "
            "Computed with coverage: 202 with a job to poll while it is new.",
            params=(*REACH, GAPS_LIMIT, ANSWER_FORMAT),
            tag="planning", media=("application/json", "application/geo+json", "text/csv"),
            responses=questions.COSTLY)
def gaps_view(format: str, limit: int, **args: Any) -> Response:
    from stationmap.query import coverage

    data, meta = questions.answer("coverage", args)
    found = [coverage.Gap.from_dict(g) for g in data["gaps"][:limit]]
    if format == "csv":
        return csv_text_response(present.gaps_csv(found), "gaps.csv")
    if format == "geojson":
        return geojson_response(present.gaps_geojson(found), "gaps.geojson")
    return jsonify(**meta, population_note=POPULATION_NOTE, count=len(found), gaps=[g.to_dict() for g in found])


@bp.get("/suggest")
@documented("n new sites that maximise newly covered (modelled) population, each with its marginal gain. "
            "Computed apart: 202 with a job to poll while it is new.",
            params=(SITES, *REACH, ANSWER_FORMAT),
            tag="planning", media=("application/json", "application/geo+json", "text/csv"),
            responses=questions.COSTLY)
def suggest_view(format: str, n: int, **args: Any) -> Response:
    result, meta = questions.answer("suggest", args, n)
    sites = result.get("sites", [])
    if format == "csv":
        return csv_response(sites, "suggested_sites.csv")
    if format == "geojson":
        return geojson_response(present.points_collection(sites), "suggested_sites.geojson")
    return jsonify({**result, **meta, "population_note": POPULATION_NOTE})


@bp.get("/jobs/<key>")
@documented("Where a costly question stands: queued (with its place), running, done or failed. Once done, "
            "ask the question's own address again for the answer.", tag="planning",
            path_params={"key": "The job id from a 202 answer."},
            responses=(Reply(200, "Where the question stands.", schema=questions.JOB_STATUS),))
def job_view(key: str) -> Response:
    status = questions.jobs().status(key[:64])
    resp = jsonify(questions.status_json(status) | ({"answer_ready": True} if status.state == "done" else {}))
    resp.headers["Cache-Control"] = "no-store"
    if status.state in ("queued", "running"):
        resp.headers["Retry-After"] = str(questions.POLL_S)
    return resp


# -- boundaries --------------------------------------------------------------------------------
@bp.get("/districts")
@documented("The five county-level districts (polygons) with 2020 census population and land area.",
            tag="boundaries", media=("application/geo+json",))
def districts_view() -> Response:
    return geojson_response(present.frame_collection(geography.districts()))


@bp.get("/townships")
@documented("The 87 townships: approximate cells (a model, not official borders) or their seat points.",
            params=(TOWNSHIP_LAYER,), tag="boundaries", media=("application/geo+json",))
def townships_view(layer: str) -> Response:
    frame = geography.township_areas() if layer == "areas" else geography.townships()
    return geojson_response(present.frame_collection(frame))


# -- service -----------------------------------------------------------------------------------
@bp.get("/openapi.json")
@documented("This document: OpenAPI 3 description of every route of the service.", tag="service",
            media=(OPENAPI_MEDIA,))
def openapi_view() -> Response:
    from .openapi import build

    resp = jsonify(build())
    resp.content_type = OPENAPI_MEDIA  # as documented, and as the OGC API landing page's service-desc link says
    return resp


@health_bp.get("/healthz")
@documented("Liveness and registry check: status and station count.", tag="service")
def healthz() -> Response:
    stations_ = store().all()
    return jsonify(status="ok", stations=len(stations_), sample_data=any(s.demo for s in stations_),
                   time=datetime.now(TZ).isoformat(timespec="seconds"))
