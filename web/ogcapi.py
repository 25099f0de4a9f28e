"""OGC API – Features, Part 1 (Core + GeoJSON + OpenAPI 3.0) under /ogcapi, so QGIS and GDAL load the layers.

Collections: `stations` (the registry), `districts` and `townships` (approximate cells). Items take
bbox, limit, offset and f=json; responses carry numberMatched/numberReturned and next/prev links.
Coordinates are CRS84 (WGS-84 lon/lat), as the standard requires by default. Links are absolute,
on `public_url` when it is set, else on the request's checked Host (`web.guards.external_url`).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from flask import Blueprint, Response, jsonify, request

from stationmap import present
from stationmap.errors import NotFound
from stationmap.geo import geography
from stationmap.params import OGC_FORMAT, OGC_ITEMS

from . import store
from .guards import external_url
from .openapi import OPENAPI_MEDIA
from .params import documented

bp = Blueprint("ogcapi", __name__)
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)
GEOJSON = "application/geo+json"
F = OGC_FORMAT


def _stations() -> list[dict[str, Any]]:
    return present.feature_collection(store().all())["features"]


def _frame_features(frame, id_field: str) -> list[dict[str, Any]]:
    doc = present.frame_collection(frame)
    for f in doc["features"]:
        f["id"] = str(f["properties"][id_field])
    return doc["features"]


COLLECTIONS: dict[str, tuple[str, str, Callable[[], list[dict[str, Any]]]]] = {
    "stations": ("工会驿站 Union rest stations",
                 "Outdoor-worker rest stations (户外劳动者服务站点) and smart stations (智能化工会驿站) of the "
                 "Jieyang City Federation of Trade Unions. Features flagged demo=true are sample data (示例数据).",
                 _stations),
    "districts": ("县区 Districts", "The five county-level districts of Jieyang, 2020 census population.",
                  lambda: _frame_features(geography.districts(), "adcode")),
    "townships": ("镇街 Townships (approximate)",
                  "The 87 townships as approximate cells (Voronoi of seats clipped to districts): a model, "
                  "not official borders.", lambda: _frame_features(geography.township_areas(), "code")),
}


def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def _json(doc: dict[str, Any], mimetype: str = "application/json") -> Response:
    resp = jsonify(doc)
    resp.mimetype = mimetype
    return resp


@bp.get("/", strict_slashes=False)
@documented("OGC API – Features landing page.", params=(F,), tag="ogcapi", strict=False)
def landing(f: str) -> Response:
    return _json({
        "title": "揭阳市总工会 工会驿站 — OGC API Features",
        "description": "Jieyang union rest stations, districts and townships as OGC API – Features collections.",
        "links": [
            _link(external_url(".landing"), "self", "application/json", "This document"),
            _link(external_url("api.openapi_view"), "service-desc",
                  OPENAPI_MEDIA, "The API definition"),
            _link(external_url(".conformance"), "conformance", "application/json", "Conformance classes"),
            _link(external_url(".collections"), "data", "application/json", "Collections"),
        ],
    })


@bp.get("/conformance")
@documented("OGC API conformance classes this service implements.", params=(F,), tag="ogcapi", strict=False)
def conformance(f: str) -> Response:
    return _json({"conformsTo": list(CONFORMANCE)})


def _collection_doc(cid: str) -> dict[str, Any]:
    title, description, _ = COLLECTIONS[cid]
    items = external_url(".items", collection_id=cid)
    return {
        "id": cid, "title": title, "description": description, "itemType": "feature", "crs": [CRS84],
        "extent": {"spatial": {"bbox": [list(geography.BBOX)], "crs": CRS84}},
        "links": [
            _link(external_url(".collection", collection_id=cid), "self", "application/json", title),
            _link(items, "items", GEOJSON, f"{title}: items"),
        ],
    }


@bp.get("/collections")
@documented("The collections: stations, districts, townships.", params=(F,), tag="ogcapi", strict=False)
def collections(f: str) -> Response:
    return _json({"links": [_link(external_url(".collections"), "self", "application/json")],
                  "collections": [_collection_doc(cid) for cid in COLLECTIONS]})


def _check(cid: str) -> None:
    if cid not in COLLECTIONS:
        raise NotFound(f"no collection {cid[:60]!r}; collections: {', '.join(COLLECTIONS)}")


@bp.get("/collections/<collection_id>")
@documented("One collection's description and links.", params=(F,), tag="ogcapi", strict=False,
            path_params={"collection_id": "stations, districts or townships"})
def collection(collection_id: str, f: str) -> Response:
    _check(collection_id)
    return _json(_collection_doc(collection_id))


def _bbox_hit(feature: dict[str, Any], bbox: tuple[float, float, float, float]) -> bool:
    import shapely.geometry

    w, s, e, n = bbox
    return shapely.geometry.shape(feature["geometry"]).intersects(shapely.geometry.box(w, s, e, n))


@bp.get("/collections/<collection_id>/items")
@documented("Features of a collection, filtered by bbox and paged with limit and offset.",
            params=OGC_ITEMS,
            tag="ogcapi", media=(GEOJSON,), strict=False,
            path_params={"collection_id": "stations, districts or townships"})
def items(collection_id: str, bbox, limit: int, offset: int, f: str) -> Response:
    _check(collection_id)
    feats = COLLECTIONS[collection_id][2]()
    if bbox:
        feats = [ft for ft in feats if _bbox_hit(ft, bbox)]
    page = feats[offset:offset + limit]
    base = {k: v for k, v in request.args.items() if k not in ("offset", "limit")}

    def page_url(off: int) -> str:
        return external_url(".items", {**base, "limit": limit, "offset": off}, collection_id=collection_id)

    links = [_link(page_url(offset), "self", GEOJSON, "This page"),
             _link(external_url(".collection", collection_id=collection_id), "collection",
                   "application/json")]
    if offset + limit < len(feats):
        links.append(_link(page_url(offset + limit), "next", GEOJSON, "Next page"))
    if offset > 0:
        links.append(_link(page_url(max(0, offset - limit)), "prev", GEOJSON, "Previous page"))
    return _json({"type": "FeatureCollection", "features": page, "numberMatched": len(feats),
                  "numberReturned": len(page), "timeStamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "links": links}, GEOJSON)


@bp.get("/collections/<collection_id>/items/<feature_id>")
@documented("One feature by id; 404 for an unknown id.", params=(F,), tag="ogcapi", media=(GEOJSON,), strict=False,
            path_params={"collection_id": "stations, districts or townships", "feature_id": "Feature id"})
def item(collection_id: str, feature_id: str, f: str) -> Response:
    _check(collection_id)
    for ft in COLLECTIONS[collection_id][2]():
        if str(ft["id"]) == feature_id:
            ft = dict(ft)
            ft["links"] = [
                _link(external_url(".item", collection_id=collection_id, feature_id=feature_id), "self", GEOJSON),
                _link(external_url(".collection", collection_id=collection_id), "collection",
                      "application/json")]
            return _json(ft, GEOJSON)
    raise NotFound(f"no feature {feature_id[:60]!r} in collection {collection_id!r}")
