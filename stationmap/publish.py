"""How a station is published to clients: an RFC 7946 GeoJSON feature (WGS-84) that also carries its
GCJ-02 and BD-09 coordinates and ready links that open Amap (高德) or Baidu Maps navigation to it.

Amap's URI API takes GCJ-02 ("coordinate=gaode", lon,lat order); Baidu's web URI API takes BD-09
("coord_type=bd09ll", lat,lng order). A WGS-84 point given to either lands ~550 m off in Jieyang,
so both are converted with `stationmap.datums` first.
Documented parameters: uri.amap.com/navigation (to, mode, coordinate, callnative, src);
api.map.baidu.com/direction (origin, destination, mode, region, output=html, coord_type, src:
'webapp.companyName.appName'; origin may be omitted, the page then asks for the start).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable
from urllib.parse import quote

from . import datums, geography
from .hours import is_open, to_zh
from .model import KIND_ZH, STATUS_ZH, Station

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


def station_properties(s: Station) -> dict[str, Any]:
    """GeoJSON properties of a station: stored fields plus names for codes and display texts."""
    rec = s.to_record()
    rec.pop("lat"), rec.pop("lon")
    rec["district_name"] = geography.districts()["name"].get(s.district, "")
    rec["township_name"] = geography.township_areas()["name"].get(s.township, "")
    rec["hours_zh"] = to_zh(s.hours)
    return rec


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
