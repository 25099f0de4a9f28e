"""Public reads: stations (with smart stations' live status), nearest, boundaries, and the health and
readiness checks.

Geometry is WGS-84 (RFC 7946); each station also carries GCJ-02/BD-09 coordinates and navigation links
(`stationmap.present`).
"""
from __future__ import annotations

import json
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .. import present
from ..cache import LruCache
from ..geo import geography
from ..hours import TZ
from ..model import Station
from ..ops.db import utc_now
from ..params import (AMENITY, BBOX, CLUSTER_BBOX, CLUSTER_ZOOM, DISTRICT, KIND, NEAREST, OPEN_NOW, SEARCH,
                      STATIONS_LIMIT, STATIONS_OFFSET, STATIONS_PAGE, STATUS, TEXT, TOWNSHIP_LAYER)
from ..query import bbox as boxes
from ..query import nearest, search
from . import encoded
from .. import servers
from .core import PROBLEM_MEDIA, Answer, Request, geojson_answer, json_answer, json_bytes
from .nearest_bytes import nearest_bytes
from .routes import TABLE, Reply

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
    except (OSError, TypeError):  # no file, or telemetry in the database: read again each second
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
MAX_BYTES = 1_000_000  # a page of stations stops before this many bytes (the next link goes on from there)
LISTED_ZOOM = 16  # from this zoom on, a clusters answer lists every station in view (while they are few)
MAX_LISTED = 500  # stations listed one by one in a clusters answer; more are left in their clusters


def matching(snapshot: nearest.StationSet, when: datetime, bbox=None, **args: Any) -> list[Station]:
    """The registry's stations passing the filters, in registry order; a box is answered by the box index."""
    chosen = ([snapshot.stations[i] for i in boxes.in_bbox(snapshot, bbox)] if bbox
              else list(snapshot.stations))
    if any(v for v in args.values()):
        chosen = nearest.select_stations(chosen, when=when, **args)
    return chosen


def _page_body(snapshot: nearest.StationSet, chosen: list[Station], offset: int, limit: int, when: datetime,
               live: dict[str, Any], page_url: Callable[[int, int], str]) -> bytes:
    """The FeatureCollection of `chosen[offset:offset + limit]`, cut short before MAX_BYTES, with numberMatched
    and next/prev links."""
    features: list[bytes] = []
    size = 400  # the envelope and its links
    for s in chosen[offset:offset + limit]:
        piece = encoded.feature_bytes(snapshot, s, when, live)
        if features and size + len(piece) + 1 > MAX_BYTES:
            break
        features.append(piece)
        size += len(piece) + 1
    page = chosen[offset:offset + len(features)]
    links = []
    if offset + len(features) < len(chosen):
        links.append({"href": page_url(offset + len(features), limit), "rel": "next", "type": GEOJSON[0]})
    if offset > 0:
        links.append({"href": page_url(max(0, offset - limit), limit), "rel": "prev", "type": GEOJSON[0]})
    sample = b"true" if any(s.demo for s in page) else b"false"
    return (b'{"type":"FeatureCollection","sample_data":' + sample + b',"numberMatched":' + str(len(chosen)).encode()
            + b',"numberReturned":' + str(len(page)).encode() + b',"features":[' + b",".join(features) + b'],"links":'
            + json.dumps(links, separators=(",", ":")).encode() + b"}\n")


@route.get("/api/stations", "Stations as a GeoJSON FeatureCollection (WGS-84), with GCJ-02/BD-09 coordinates and "
           f"navigation links, in pages: numberMatched says how many match, a `next` link (in links) gives the next "
           f"page. Without limit and offset, up to {STATIONS_PAGE} stations come in one answer (all of a registry that "
           "small); no answer exceeds 1 MB. The answer carries an ETag; a matching If-None-Match is answered 304 "
           "without a body.", (KIND, DISTRICT, AMENITY, OPEN_NOW, STATUS, BBOX, TEXT, STATIONS_LIMIT, STATIONS_OFFSET),
           tag="stations", media=GEOJSON)
def stations(svc: "Service", req: Request, limit: int | None, offset: int, **args: Any) -> Answer:
    now = datetime.now(TZ)
    snapshot = nearest.registry_set(svc.store)
    live = live_statuses(svc)
    size = limit or STATIONS_PAGE
    base = {k: v for k, v in req.query.items() if k not in ("limit", "offset")}

    def page_url(off: int, lim: int) -> str:
        return svc.external_url(req, "api.stations", {**base, "limit": lim, "offset": off})

    key = ("page", repr(sorted(args.items())), size, offset, svc.settings["public_url"] or req.base_url,
           repr(sorted(base.items())), now.replace(second=0, microsecond=0), encoded.live_key(live))
    body, tag = encoded.kept(snapshot, key, lambda: _page_body(
        snapshot, matching(snapshot, now, **args), offset, size, now, live, page_url))
    return encoded.tagged(req, body, GEOJSON[0], tag)


def _any_sample(snapshot: nearest.StationSet) -> bool:
    found = snapshot.memo.get("any_sample")
    if found is None:
        found = snapshot.memo["any_sample"] = any(s.demo for s in snapshot.stations)
    return found


def _cluster_answer(snapshot: nearest.StationSet, bbox: Any, zoom: int) -> dict[str, Any]:
    """Clusters of the cells `bbox` touches at `zoom`; the stations of single-station cells (every cell's from
    LISTED_ZOOM on) listed instead of their cells while they are at most MAX_LISTED."""
    grid = boxes.clusters(snapshot, zoom)
    cells = grid.within(bbox)
    alone = cells if zoom >= LISTED_ZOOM else cells[grid.count[cells] == 1]
    if int(grid.count[alone].sum()) > MAX_LISTED:
        alone = alone[:0]
    listed = sorted(int(i) for c in alone.tolist() for i in grid.stations_of(c).tolist())
    grouped = np.setdiff1d(cells, alone, assume_unique=True)
    clusters_ = [{"lat": round(float(grid.lat[c]), 6), "lon": round(float(grid.lon[c]), 6),
                  "count": int(grid.count[c]), "smart": int(grid.smart[c]),
                  "bbox": [round(float(v), 6) for v in grid.extent[c]]} for c in grouped.tolist()]
    return {"zoom": zoom, "cell_px": boxes.CELL_PX, "numberMatched": int(grid.count[cells].sum()),
            "sample_data": _any_sample(snapshot), "clusters": clusters_,
            "stations": [present.station_record(snapshot.stations[i]) for i in listed]}


@route.get("/api/stations/clusters", "The stations in a map view, grouped for drawing: the view is cut into "
           f"squares of {boxes.CELL_PX} screen pixels at the zoom; each square with stations is a cluster (count, "
           "smart stations, mean position, extent). Stations alone in their square, and from zoom "
           f"{LISTED_ZOOM} every station in view, are listed as the map's compact records (WGS-84) while there are "
           f"at most {MAX_LISTED}. numberMatched counts the stations of the squares the view touches.",
           (CLUSTER_BBOX, CLUSTER_ZOOM), tag="stations")
def station_clusters(svc: "Service", req: Request, bbox: Any, zoom: int) -> Answer:
    snapshot = nearest.registry_set(svc.store)
    if not len(snapshot):
        return json_answer({"zoom": zoom, "cell_px": boxes.CELL_PX, "numberMatched": 0, "sample_data": False,
                            "clusters": [], "stations": []})
    key = ("clusters", bbox, zoom)
    body, tag = encoded.kept(snapshot, key, lambda: json_bytes(_cluster_answer(snapshot, bbox, zoom)))
    return encoded.tagged(req, body, "application/json", tag)


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
    snapshot = nearest.registry_set(svc.store)
    results = nearest.nearest(snapshot, lat, lon, k=k, crs=crs, kind=kind, amenities=amenity, open_now=open_now,
                              status=status, when=now)
    body = nearest_bytes(snapshot, results, lat, lon, crs, now, mode, live_statuses(svc))  # present.nearest_answer's
    return Answer(200, body, "application/json")


@route.get("/api/search", "Find stations (name, address), townships and districts (official names and short "
           "forms such as 棉湖), or a point pasted from Amap or Baidu; with an online geocoder configured, an address. "
           "Every result in WGS-84.", SEARCH,
           tag="queries")
def search_view(svc: "Service", req: Request, q: str, limit: int, crs: str) -> Answer:
    return json_answer(search.answer(q, search.StationText.of_registry(nearest.registry_set(svc.store)), limit, crs,
                                     svc.geocoder))


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


READY = {
    "type": "object", "description": "Each part the service needs, checked by a round trip.",
    "required": ["status", "parts"],
    "properties": {"status": {"type": "string", "enum": ["ok"]},
                   "parts": {"type": "object", "additionalProperties": {
                       "type": "object", "required": ["status"],
                       "properties": {"status": {"type": "string", "enum": ["ok", "down"]},
                                      "ms": {"type": "number"}, "error": {"type": "string"},
                                      "store": {"type": "string"}}}}},
}


@health.get("/readyz", "Readiness: whether this worker can answer now. Checks the registry store (a round trip to "
            "PostgreSQL when the registry is in PostGIS) and, when redis_url is set, Redis (PING). 200 with each "
            "part's status; 503 (problem document with the same `parts`, Retry-After) naming what is down.",
            tag="service", private=True,
            responses=(Reply(200, "Every part answered.", schema=READY),
                       Reply(503, "A part is down: `detail` names it, `parts` says which.", ("Retry-After",))))
def readyz(svc: "Service", req: Request) -> Answer:
    store = type(svc.store).__name__.removesuffix("Store").lower()  # postgis, gpkg, memory
    parts = {"registry": {**servers.check(svc.store.version), "store": store}}
    if svc.settings["redis_url"]:
        parts["redis"] = servers.check(lambda: servers.ping_redis(svc.settings["redis_url"]))
    server = {"registry": "PostgreSQL" if store == "postgis" else "", "redis": "Redis"}
    down = [part for part, state in parts.items() if state["status"] != "ok"]
    for part in parts.keys() - down:
        if server[part]:
            servers.OUTAGES.up(server[part])
    if not down:
        return json_answer({"status": "ok", "parts": parts})
    names = " and ".join(f"{part} ({server[part]})" if server[part] and server[part].lower() != part else part
                         for part in down)
    doc = {"type": "about:blank", "title": "Service unavailable", "status": 503, "instance": req.path,
           "detail": f"not ready, unreachable: {names}; what needs it answers 503 until it is back, and the "
                     "service recovers by itself", "parts": parts}
    return json_answer(doc, 503, PROBLEM_MEDIA, {"Retry-After": str(servers.RETRY_AFTER_S)})
