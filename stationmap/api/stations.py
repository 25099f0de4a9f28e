"""Public reads: stations (with smart stations' live status), nearest, boundaries, and the health check.

Geometry is WGS-84 (RFC 7946); each station also carries GCJ-02/BD-09 coordinates and navigation links
(`stationmap.present`).
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import present
from ..geo import geography
from ..hours import TZ
from ..params import AMENITY, BBOX, DISTRICT, KIND, NEAREST, OPEN_NOW, SEARCH, STATUS, TEXT, TOWNSHIP_LAYER
from ..query import nearest, search
from .core import Answer, Request, geojson_answer, json_answer
from .routes import TABLE

if TYPE_CHECKING:
    from .service import Service

route = TABLE.group("api")
health = TABLE.group("health")
GEOJSON = ("application/geo+json",)


# -- live status of smart stations -------------------------------------------------------------
def live_statuses(svc: "Service") -> dict[str, dict[str, Any]]:
    """The smart stations' live-status table {station id: status} (stale reports read as unknown)."""
    return svc.telemetry.live_status(svc.settings["status_unknown_after_s"])


# -- stations ----------------------------------------------------------------------------------
@route.get("/api/stations", "Stations as a GeoJSON FeatureCollection (WGS-84), with GCJ-02/BD-09 coordinates and "
           "navigation links.", (KIND, DISTRICT, AMENITY, OPEN_NOW, STATUS, BBOX, TEXT), tag="stations", media=GEOJSON)
def stations(svc: "Service", req: Request, **args: Any) -> Answer:
    now = datetime.now(TZ)
    chosen = nearest.select_stations(svc.store.all(), when=now, **args)
    return geojson_answer(present.feature_collection(chosen, now, live=live_statuses(svc)))


@route.get("/api/stations/{station_id}", "One station as a GeoJSON Feature; 404 for an unknown id.", tag="stations",
           media=GEOJSON, path_params={"station_id": "Station id, e.g. st-e0a8117eb7."})
def station(svc: "Service", req: Request, station_id: str) -> Answer:
    station_ = svc.store.get(station_id[:100])
    return geojson_answer(present.station_feature(station_, datetime.now(TZ), live=live_statuses(svc)))


@route.get("/api/nearest", "The k nearest stations to a point, by geodesic distance, with bearing and minutes per "
           "mode, and navigation links in the worker's travel mode.", NEAREST, tag="queries")
def nearest_view(svc: "Service", req: Request, lat: float, lon: float, k: int, crs: str, kind, amenity,
                 open_now: bool, status, mode: str) -> Answer:
    now = datetime.now(TZ)
    results = nearest.nearest(svc.store.all(), lat, lon, k=k, crs=crs, kind=kind, amenities=amenity,
                              open_now=open_now, status=status, when=now)
    return json_answer(present.nearest_answer(results, lat, lon, crs, now, mode=mode, live=live_statuses(svc)))


@route.get("/api/search", "Find stations (name, address), townships and districts (official names and short "
           "forms such as 棉湖), or a point pasted from Amap or Baidu; with an online geocoder configured, an address. "
           "Every result in WGS-84.", SEARCH,
           tag="queries")
def search_view(svc: "Service", req: Request, q: str, limit: int, crs: str) -> Answer:
    return json_answer(search.answer(q, svc.store.all(), limit, crs, svc.geocoder))


# -- boundaries --------------------------------------------------------------------------------
@route.get("/api/districts", "The five county-level districts (polygons) with 2020 census population and land "
           "area.", tag="boundaries", media=GEOJSON)
def districts_view(svc: "Service", req: Request) -> Answer:
    return geojson_answer(present.frame_collection(geography.districts()))


@route.get("/api/townships", "The 87 townships: approximate cells (a model, not official borders) or their seat "
           "points.", (TOWNSHIP_LAYER,), tag="boundaries", media=GEOJSON)
def townships_view(svc: "Service", req: Request, layer: str) -> Answer:
    frame = geography.township_areas() if layer == "areas" else geography.townships()
    return geojson_answer(present.frame_collection(frame))


# -- service -----------------------------------------------------------------------------------
@health.get("/healthz", "Liveness and registry check: status and station count.", tag="service")
def healthz(svc: "Service", req: Request) -> Answer:
    stations_ = svc.store.all()
    return json_answer({"status": "ok", "stations": len(stations_), "sample_data": any(s.demo for s in stations_),
                        "time": datetime.now(TZ).isoformat(timespec="seconds")})
