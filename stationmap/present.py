"""How a station looks to the outside: every outward shape of a station, of a nearest result and of
the origin of a nearest question is built here, so the API, the command line, the map pages, the
admin page and the spreadsheets agree field for field.

Shapes: the API's RFC 7946 GeoJSON feature and collection (WGS-84, plus GCJ-02 and BD-09 coordinates
and ready Amap/Baidu navigation links); the nearest answer (`nearest_answer`, what /api/nearest and
`stationmap nearest --json` return); the map's compact record (`station_record`); the union's
spreadsheet row (`station_table_row`); the admin record (`admin_record`, without live status).

Amap's URI API takes GCJ-02 ("coordinate=gaode", lon,lat order); Baidu's web URI API takes BD-09
("coord_type=bd09ll", lat,lng order). A WGS-84 point given to either lands ~550 m off in Jieyang,
so both are converted with `stationmap.geo.datums` first.
Documented parameters: uri.amap.com/navigation (to, mode, coordinate, callnative, src);
api.map.baidu.com/direction (origin, destination, mode, region, output=html, coord_type, src:
'webapp.companyName.appName'; origin may be omitted, the page then asks for the start).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Sequence
from urllib.parse import quote

from shapely.geometry import mapping

from . import vocab
from .checks import lat_lon
from .errors import InvalidInput
from .files.sheets import records_csv
from .geo import datums, geography
from .hours import is_open, to_osm, to_zh
from .model import KIND_ZH, STATUS_ZH, Station, etag
from .query.coverage import Gap
from .query.nearest import NearestResult, compass

SRC = "webapp.jyszgh.stationmap"  # Baidu's required caller id: webapp.<company>.<app>
AMAP_SRC = "stationmap"


def datum_coords(lat: float, lon: float) -> dict[str, list[float]]:
    """[lon, lat] of a WGS-84 point in GCJ-02 and BD-09 (GeoJSON order, 6 decimals ≈ 0.1 m)."""
    out = {}
    for crs in ("gcj02", "bd09"):
        la, lo = datums.from_wgs84(lat, lon, crs)
        out[crs] = [round(lo, 6), round(la, 6)]
    return out


#: Link templates ({lon}, {lat} in the target's datum; {name} percent-encoded). The page script fills
#: the same templates, so the links are defined once.
AMAP_TEMPLATE = ("https://uri.amap.com/navigation?to={lon},{lat},{name}&mode=car&coordinate=gaode&callnative=1"
                 "&src=" + AMAP_SRC)
BAIDU_TEMPLATE = ("https://api.map.baidu.com/direction?destination=latlng:{lat},{lon}|name:{name}&coord_type=bd09ll"
                  "&mode=driving&region=" + quote("揭阳") + "&output=html&src=" + SRC)


def _fill(template: str, lat: float, lon: float, name: str) -> str:
    return template.format(lat=f"{lat:.6f}", lon=f"{lon:.6f}", name=quote(name.replace(",", "，"), safe=""))


def amap_url(lat: float, lon: float, name: str) -> str:
    """Amap navigation to a WGS-84 point (sent as GCJ-02): opens the app when installed (callnative=1), else the web."""
    return _fill(AMAP_TEMPLATE, *datums.from_wgs84(lat, lon, "gcj02"), name)


def baidu_url(lat: float, lon: float, name: str) -> str:
    """Baidu Maps directions to a WGS-84 point (sent as BD-09, coord_type=bd09ll)."""
    return _fill(BAIDU_TEMPLATE, *datums.from_wgs84(lat, lon, "bd09"), name)


def nav_links(lat: float, lon: float, name: str) -> dict[str, str]:
    return {"amap": amap_url(lat, lon, name), "baidu": baidu_url(lat, lon, name)}


def display_fields(s: Station) -> dict[str, str]:
    """Names for the station's district and township codes and its hours in words (Chinese)."""
    return {"district_name": geography.districts()["name"].get(s.district, ""),
            "township_name": geography.township_areas()["name"].get(s.township, ""),
            "hours_zh": to_zh(s.hours)}


def station_properties(s: Station) -> dict[str, Any]:
    """GeoJSON properties of a station: stored fields (location in the geometry) plus display fields."""
    rec = s.to_record()
    rec.pop("lat"), rec.pop("lon")
    return {**rec, **display_fields(s)}


def admin_record(s: Station) -> dict[str, Any]:
    """A station for the admin page: stored fields, display fields and its version (etag) to send back."""
    return {**s.to_record(), **display_fields(s), "etag": etag(s)}


def station_feature(s: Station, when: datetime | None = None) -> dict[str, Any]:
    """A station as a GeoJSON Feature: stored fields, display names, open_now (Asia/Shanghai), datums, links."""
    props = station_properties(s)
    props.update(
        kind_zh=KIND_ZH[s.kind], status_zh=STATUS_ZH[s.status],
        open_now=is_open(s.hours, when) if s.status == "open" else False,
        coords=datum_coords(s.lat, s.lon), nav=nav_links(s.lat, s.lon, s.name),
    )
    return {"type": "Feature", "id": s.id, "geometry": {"type": "Point", "coordinates": [s.lon, s.lat]},
            "properties": props}


def feature_collection(stations: Iterable[Station], when: datetime | None = None) -> dict[str, Any]:
    """FeatureCollection of stations; `sample_data` is true while any demo station is in it."""
    feats = [station_feature(s, when) for s in stations]
    return {"type": "FeatureCollection", "sample_data": any(f["properties"]["demo"] for f in feats),
            "numberReturned": len(feats), "features": feats}


def frame_collection(frame) -> dict[str, Any]:
    """A GeoDataFrame (boundaries, townships) as an RFC 7946 FeatureCollection in WGS-84, index dropped."""
    import json

    return json.loads(frame.reset_index(drop=True).to_json(drop_id=True, to_wgs84=True))


# -- the nearest answer --------------------------------------------------------------------------
def nearest_result(r: NearestResult) -> dict[str, Any]:
    """One nearest station: its fields, distance, bearing and direction, minutes per mode, datums, links."""
    s = r.station
    return {
        "id": s.id, "name": s.name, "kind": s.kind, "kind_zh": KIND_ZH[s.kind], "status": s.status,
        "lat": s.lat, "lon": s.lon, "district": s.district, "township": s.township,
        "address": s.address, "amenities": list(s.amenities), "hours": to_osm(s.hours), "hours_zh": to_zh(s.hours),
        "phone": s.phone, "demo": s.demo, "open_now": r.open_now,
        "distance_m": round(r.distance_m, 1), "bearing_deg": round(r.bearing_deg, 1),
        "direction": compass(r.bearing_deg), "direction_zh": compass(r.bearing_deg, "zh"),
        "minutes": {m: round(v, 1) for m, v in r.minutes.items()},
        "coords": datum_coords(s.lat, s.lon), "nav": nav_links(s.lat, s.lon, s.name),
    }


def nearest_origin(lat: Any, lon: Any, crs: str = "wgs84") -> dict[str, Any]:
    """The point a nearest question was asked from, in WGS-84 (7 decimals), with its datums and whether in Jieyang."""
    wlat, wlon = datums.to_wgs84(*lat_lon(lat, lon), crs)
    return {"lat": round(wlat, 7), "lon": round(wlon, 7), "crs": "wgs84",
            "coords": datum_coords(wlat, wlon), "in_jieyang": geography.in_jieyang(wlat, wlon)}


def nearest_answer(results: Sequence[NearestResult], lat: Any, lon: Any, crs: str, now: datetime) -> dict[str, Any]:
    """The whole answer to a nearest question (asked at `now` from lat/lon in `crs`): the API's and the CLI's."""
    out = [nearest_result(r) for r in results]
    return {"origin": nearest_origin(lat, lon, crs), "time": now.isoformat(timespec="seconds"),
            "count": len(out), "results": out, "sample_data": any(r["demo"] for r in out)}


# -- the map's compact record and the union's spreadsheet row -----------------------------------
def station_record(s: Station, crs: str = "wgs84") -> dict[str, Any]:
    """The compact record the map's script draws and filters: position `p` in the datum the basemap is
    drawn in (`crs`), WGS-84/GCJ-02/BD-09 positions, hours, amenities."""
    dy, dx = datums.from_wgs84(s.lat, s.lon, crs)
    c = datum_coords(s.lat, s.lon)
    return {"id": s.id, "n": s.name, "k": s.kind, "st": s.status, "p": [round(dy, 6), round(dx, 6)],
            "w": [s.lat, s.lon], "g": c["gcj02"], "b": c["bd09"], "a": s.address, "hz": to_zh(s.hours),
            "ho": to_osm(s.hours), "h": [list(map(list, day)) for day in s.hours] if s.hours is not None else None,
            "am": list(s.amenities), "f": list(s.features), "ph": s.phone, "d": s.district, "demo": s.demo}


TABLE_COLUMNS = (("编号", "id"), ("驿站名称", "name"), ("类型", "kind"), ("状态", "status"),
                 ("所属县区", "district"), ("所属镇街", "township"), ("详细地址", "address"),
                 ("经度", "lon"), ("纬度", "lat"), ("开放时间", "hours"), ("联系电话", "phone"),
                 ("服务设施", "amenities"), ("依托单位", "host"), ("荣誉", "honours"), ("建成年份", "year_opened"),
                 ("智能功能", "features"), ("示例数据", "demo"), ("坐标来源", "location_source"))


def station_table_row(s: Station) -> dict[str, Any]:
    """One spreadsheet row in the union's own layout (Chinese headers and values); imports back unchanged."""
    names = display_fields(s)
    values = {
        "id": s.id, "name": s.name, "kind": KIND_ZH[s.kind], "status": STATUS_ZH[s.status],
        "district": names["district_name"], "township": names["township_name"],
        "address": s.address, "lon": s.lon, "lat": s.lat, "hours": names["hours_zh"] if s.hours else "",
        "phone": s.phone, "amenities": "、".join(vocab.AMENITY_BY_KEY[a].zh for a in s.amenities),
        "host": s.host, "honours": "、".join(s.honours), "year_opened": s.year_opened or "",
        "features": "、".join(vocab.FEATURE_BY_KEY[f].zh for f in s.features),
        "demo": "是" if s.demo else "", "location_source": s.location_source,
    }
    return {zh: values[key] for zh, key in TABLE_COLUMNS}


# -- coverage and siting answers ---------------------------------------------------------------
def coverage_rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    """A coverage answer's table as one flat row per area (city, districts, townships): CSV and the planner."""
    d_names = geography.districts()["name"]
    t = geography.township_areas()
    rows = [{"level": "city", "code": "445200", "name": "揭阳市", **_shares(table["city"])}]
    rows += [{"level": "district", "code": code, "name": v.get("name") or d_names.get(code, ""), **_shares(v)}
             for code, v in table["districts"].items()]
    rows += [{"level": "township", "code": code, "name": v.get("name") or t["name"].get(code, ""),
              "district": v.get("district") or t["district"].get(code, ""),
              "district_name": d_names.get(v.get("district") or t["district"].get(code, ""), ""), **_shares(v)}
             for code, v in table["townships"].items()]
    return rows


_SHARE_KEYS = ("area_km2", "covered_area_km2", "area_share", "population", "covered_population", "population_share")


def _shares(v: dict[str, Any]) -> dict[str, Any]:
    return {k: v.get(k) for k in _SHARE_KEYS}


def points_collection(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows that carry lat/lon as GeoJSON points (other keys become properties)."""
    feats = []
    for r in rows:
        props = {k: v for k, v in r.items() if k not in ("lat", "lon", "geometry")}
        geom = r.get("geometry") or {"type": "Point", "coordinates": [r["lon"], r["lat"]]}
        feats.append({"type": "Feature", "geometry": geom, "properties": props})
    return {"type": "FeatureCollection", "features": feats}


# -- gaps ----------------------------------------------------------------------------------------
GAP_FIELDS = ("rank", "lat", "lon", "district", "district_name", "township", "township_name",
              "population", "population_modelled", "area_km2")


def gaps_csv(gaps_list: Sequence[Gap]) -> str:
    """Gaps as CSV text (WGS-84 lat/lon of each gap's centre; text kept inert for spreadsheets)."""
    return records_csv(GAP_FIELDS, (g.to_dict() for g in gaps_list))


def gaps_geojson(gaps_list: Sequence[Gap], geometry: str = "area") -> dict[str, Any]:
    """Gaps as a GeoJSON FeatureCollection: each gap's uncovered piece ('area') or its centre ('point')."""
    if geometry not in ("area", "point"):
        raise InvalidInput(f"gap geometry {geometry!r}; use area or point")
    feats = []
    for g in gaps_list:
        geom = mapping(g.geometry) if geometry == "area" else {"type": "Point", "coordinates": [round(g.lon, 6), round(g.lat, 6)]}
        feats.append({"type": "Feature", "geometry": geom, "properties": g.to_dict()})
    return {"type": "FeatureCollection", "features": feats}
