"""OGC API – Features, Part 1 (Core + GeoJSON + OpenAPI 3.0) under /ogcapi, so QGIS and GDAL load the layers.

Collections: `stations` (the registry), `districts` and `townships` (approximate cells). Items take
bbox, limit, offset and f=json; responses carry numberMatched/numberReturned and next/prev links.
Coordinates are CRS84 (WGS-84 lon/lat), as the standard requires by default. Links are absolute,
on `public_url` when it is set, else on the request's base (`Service.external_url`).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from .. import present
from ..errors import NotFound
from ..geo import geography
from ..params import OGC_FORMAT, OGC_ITEMS
from ..query import bbox as boxes
from ..query import nearest
from .core import Answer, Request, json_answer
from .openapi import OPENAPI_MEDIA
from .routes import TABLE

if TYPE_CHECKING:
    from .service import Service

route = TABLE.group("ogcapi", strict=False)
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)
JSON = "application/json"
GEOJSON = "application/geo+json"
F = OGC_FORMAT
COLLECTION_ID = {"collection_id": "stations, districts or townships"}


def _frame_features(frame, id_field: str) -> list[dict[str, Any]]:
    doc = present.frame_collection(frame)
    for f in doc["features"]:
        f["id"] = str(f["properties"][id_field])
    return doc["features"]


COLLECTIONS: dict[str, tuple[str, str, Callable[["Service"], list[dict[str, Any]]]]] = {
    "stations": ("工会驿站 Union rest stations",
                 "Outdoor-worker rest stations (户外劳动者服务站点) and smart stations (智能化工会驿站) of the "
                 "Jieyang City Federation of Trade Unions. Features flagged demo=true are sample data (示例数据).",
                 lambda svc: present.feature_collection(svc.store.all())["features"]),
    "districts": ("县区 Districts", "The five county-level districts of Jieyang, 2020 census population.",
                  lambda svc: _frame_features(geography.districts(), "adcode")),
    "townships": ("镇街 Townships (approximate)",
                  "The 87 townships as approximate cells (Voronoi of seats clipped to districts): a model, "
                  "not official borders.", lambda svc: _frame_features(geography.township_areas(), "code")),
}


def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


@route.get("/ogcapi/", "OGC API – Features landing page.", (F,), tag="ogcapi", strict_slashes=False)
def landing(svc: "Service", req: Request, f: str) -> Answer:
    def url(name: str) -> str:
        return svc.external_url(req, name)

    return json_answer({
        "title": "揭阳市总工会 工会驿站 — OGC API Features",
        "description": "Jieyang union rest stations, districts and townships as OGC API – Features collections.",
        "links": [
            _link(url("ogcapi.landing"), "self", JSON, "This document"),
            _link(url("api.openapi_view"), "service-desc", OPENAPI_MEDIA, "The API definition"),
            _link(url("ogcapi.conformance"), "conformance", JSON, "Conformance classes"),
            _link(url("ogcapi.collections"), "data", JSON, "Collections"),
        ],
    })


@route.get("/ogcapi/conformance", "OGC API conformance classes this service implements.", (F,), tag="ogcapi")
def conformance(svc: "Service", req: Request, f: str) -> Answer:
    return json_answer({"conformsTo": list(CONFORMANCE)})


def _extent(cid: str) -> list[float]:
    """Where a collection's features may lie: the service area for stations (it may be larger than Jieyang),
    Jieyang for its districts and townships."""
    area = geography.service_area()
    if cid != "stations" or area.is_jieyang:
        return list(geography.BBOX)
    return [round(v, 4) for v in area.geometry.bounds]


def _collection_doc(svc: "Service", req: Request, cid: str) -> dict[str, Any]:
    title, description, _ = COLLECTIONS[cid]
    return {
        "id": cid, "title": title, "description": description, "itemType": "feature", "crs": [CRS84],
        "extent": {"spatial": {"bbox": [_extent(cid)], "crs": CRS84}},
        "links": [
            _link(svc.external_url(req, "ogcapi.collection", collection_id=cid), "self", JSON, title),
            _link(svc.external_url(req, "ogcapi.items", collection_id=cid), "items", GEOJSON, f"{title}: items"),
        ],
    }


@route.get("/ogcapi/collections", "The collections: stations, districts, townships.", (F,), tag="ogcapi")
def collections(svc: "Service", req: Request, f: str) -> Answer:
    return json_answer({"links": [_link(svc.external_url(req, "ogcapi.collections"), "self", JSON)],
                        "collections": [_collection_doc(svc, req, cid) for cid in COLLECTIONS]})


def _check(cid: str) -> None:
    if cid not in COLLECTIONS:
        raise NotFound(f"no collection {cid[:60]!r}; collections: {', '.join(COLLECTIONS)}")


@route.get("/ogcapi/collections/{collection_id}", "One collection's description and links.", (F,), tag="ogcapi",
           path_params=COLLECTION_ID)
def collection(svc: "Service", req: Request, collection_id: str, f: str) -> Answer:
    _check(collection_id)
    return json_answer(_collection_doc(svc, req, collection_id))


def _bbox_hit(feature: dict[str, Any], bbox: tuple[float, float, float, float]) -> bool:
    import shapely.geometry

    w, s, e, n = bbox
    return shapely.geometry.shape(feature["geometry"]).intersects(shapely.geometry.box(w, s, e, n))


def _station_page(svc: "Service", bbox, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """(features of the page, stations matched): the box answered by the registry's box index, and only the
    page's stations made into features."""
    snapshot = nearest.registry_set(svc.store)
    chosen = boxes.in_bbox(snapshot, bbox) if bbox else range(len(snapshot))
    return [present.station_feature(snapshot.stations[i]) for i in chosen[offset:offset + limit]], len(chosen)


@route.get("/ogcapi/collections/{collection_id}/items", "Features of a collection, filtered by bbox and paged with "
           "limit and offset.", OGC_ITEMS, tag="ogcapi", media=(GEOJSON,), path_params=COLLECTION_ID)
def items(svc: "Service", req: Request, collection_id: str, bbox, limit: int, offset: int, f: str) -> Answer:
    _check(collection_id)
    if collection_id == "stations":
        page, matched = _station_page(svc, bbox, offset, limit)
    else:
        feats = COLLECTIONS[collection_id][2](svc)
        if bbox:
            feats = [ft for ft in feats if _bbox_hit(ft, bbox)]
        page, matched = feats[offset:offset + limit], len(feats)
    base = {k: v for k, v in req.query.items() if k not in ("offset", "limit")}

    def page_url(off: int) -> str:
        return svc.external_url(req, "ogcapi.items", {**base, "limit": limit, "offset": off},
                                collection_id=collection_id)

    links = [_link(page_url(offset), "self", GEOJSON, "This page"),
             _link(svc.external_url(req, "ogcapi.collection", collection_id=collection_id), "collection", JSON)]
    if offset + limit < matched:
        links.append(_link(page_url(offset + limit), "next", GEOJSON, "Next page"))
    if offset > 0:
        links.append(_link(page_url(max(0, offset - limit)), "prev", GEOJSON, "Previous page"))
    return json_answer({"type": "FeatureCollection", "features": page, "numberMatched": matched,
                        "numberReturned": len(page),
                        "timeStamp": datetime.now(timezone.utc).isoformat(timespec="seconds"), "links": links},
                       media=GEOJSON)


@route.get("/ogcapi/collections/{collection_id}/items/{feature_id}", "One feature by id; 404 for an unknown id.", (F,),
           tag="ogcapi", media=(GEOJSON,), path_params={**COLLECTION_ID, "feature_id": "Feature id"})
def item(svc: "Service", req: Request, collection_id: str, feature_id: str, f: str) -> Answer:
    _check(collection_id)
    if collection_id == "stations":
        try:
            found = [present.station_feature(svc.store.get(feature_id[:100]))]
        except NotFound:
            found = []
    else:
        found = COLLECTIONS[collection_id][2](svc)
    for ft in found:
        if str(ft["id"]) == feature_id:
            ft = dict(ft)
            ft["links"] = [
                _link(svc.external_url(req, "ogcapi.item", collection_id=collection_id, feature_id=feature_id),
                      "self", GEOJSON),
                _link(svc.external_url(req, "ogcapi.collection", collection_id=collection_id), "collection", JSON)]
            return json_answer(ft, media=GEOJSON)
    raise NotFound(f"no feature {feature_id[:60]!r} in collection {collection_id!r}")
