"""Public reads: stations (with smart stations' live status), nearest, boundaries, and the health check.

Geometry is WGS-84 (RFC 7946); each station also carries GCJ-02/BD-09 coordinates and navigation links
(`stationmap.present`).
"""
from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import present
from ..cache import LruCache
from ..geo import geography
from ..hours import TZ
from ..ops.db import utc_now
from ..params import AMENITY, BBOX, DISTRICT, KIND, NEAREST, OPEN_NOW, SEARCH, STATUS, TEXT, TOWNSHIP_LAYER
from ..query import nearest, search
from . import encoded
from .core import Answer, Request, geojson_answer, json_answer
from .routes import TABLE

if TYPE_CHECKING:
    from .service import Service

route = TABLE.group("api")
health = TABLE.group("health")
GEOJSON = ("application/geo+json",)


# -- live status of smart stations -------------------------------------------------------------
_LIVE: LruCache[dict[str, dict[str, Any]]] = LruCache(4)


def _file_stamp(path: Any) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def live_statuses(svc: "Service") -> dict[str, dict[str, Any]]:
    """The smart stations' live-status table {station id: status} (stale reports read as unknown), ages in
    whole seconds. Read again when the telemetry file (or its write-ahead log) changes, and every second."""
    path = svc.telemetry.path
    now = utc_now().replace(microsecond=0)
    stale_after = svc.settings["status_unknown_after_s"]
    key = (str(path), _file_stamp(path), _file_stamp(f"{path}-wal"), now, stale_after)
    return _LIVE.get_or_compute(key, lambda: svc.telemetry.live_status(stale_after, now))


# -- stations ----------------------------------------------------------------------------------
@route.get("/api/stations", "Stations as a GeoJSON FeatureCollection (WGS-84), with GCJ-02/BD-09 coordinates and "
           "navigation links. The answer carries an ETag; a matching If-None-Match is answered 304 without a body.",
           (KIND, DISTRICT, AMENITY, OPEN_NOW, STATUS, BBOX, TEXT), tag="stations", media=GEOJSON)
def stations(svc: "Service", req: Request, **args: Any) -> Answer:
    now = datetime.now(TZ)
    snapshot = nearest.registry_set(svc.store)
    live = live_statuses(svc)
    key = (repr(sorted(args.items())), now.replace(second=0, microsecond=0), encoded.live_key(live))
    body, tag = encoded.kept(snapshot, key, lambda: encoded.collection(
        snapshot, nearest.select_stations(snapshot.stations, when=now, **args), now, live))
    return encoded.tagged(req, body, GEOJSON[0], tag)


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
    results = nearest.nearest(nearest.registry_set(svc.store), lat, lon, k=k, crs=crs, kind=kind, amenities=amenity,
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
