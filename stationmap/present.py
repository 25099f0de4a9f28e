"""How a station looks to the outside: every outward shape of a station, of a nearest result and of
the origin of a nearest question is built here, so the API, the command line, the map pages, the
admin page and the spreadsheets agree field for field.

Shapes: the API's RFC 7946 GeoJSON feature and collection (WGS-84, plus GCJ-02 and BD-09 coordinates
and ready Amap/Baidu navigation links); the nearest answer (`nearest_answer`, what /api/nearest and
`stationmap nearest --json` return); the map's compact record (`station_record`); the union's
spreadsheet row (`station_table_row`); the admin record (`admin_record`, without live status).

Navigation links (`nav_links`) hand a worker over to Amap or Baidu in the worker's travel mode, from
where they are when that is known. Amap's URI API (https://lbs.amap.com/api/uri-api/guide/travel/route)
takes GCJ-02 ("coordinate=gaode", lon,lat order); Baidu's URI API (https://lbsyun.baidu.com/index.php?title=uri,
service `direction`) takes BD-09 ("coord_type=bd09ll", lat,lng order). A WGS-84 point given to either
lands ~550 m off in Jieyang, so every point is converted with `stationmap.geo.datums` first.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence
from urllib.parse import quote

from shapely.geometry import mapping

from . import vocab
from .checks import lat_lon
from .errors import InvalidInput
from .geo import datums, geography
from .hours import is_open, to_osm, to_zh
from .model import KIND_ZH, STATUS_ZH, Station, etag
from .query import travel
from .query.nearest import NearestResult, compass, question_point, to_jieyang_m

if TYPE_CHECKING:  # coverage (scipy, geopandas) loads with the planning answers, not with a nearest answer
    from .query.coverage import Gap

SRC = "webapp.jyszgh.stationmap"  # Baidu's required caller id: webapp.<company>.<app>
AMAP_SRC = "stationmap"


@lru_cache(maxsize=1 << 18)
def _from_wgs84(lat: float, lon: float, crs: str) -> tuple[float, float]:
    """`datums.from_wgs84`, kept per point: stations are converted again on every answer."""
    return datums.from_wgs84(lat, lon, crs)


@lru_cache(maxsize=64)
def _origin_datums(lat: float, lon: float) -> dict[str, tuple[float, float]]:
    """A worker's start (WGS-84) in GCJ-02 and BD-09: one per answer, asked for by its origin and every link."""
    gcj, bd = datums.to_gcj02_bd09(lat, lon)
    return {"gcj02": gcj, "bd09": bd}


def datum_coords(lat: float, lon: float) -> dict[str, list[float]]:
    """[lon, lat] of a WGS-84 point in GCJ-02 and BD-09 (GeoJSON order, 6 decimals ≈ 0.1 m)."""
    out = {}
    for crs in ("gcj02", "bd09"):
        la, lo = _from_wgs84(lat, lon, crs)
        out[crs] = [round(lo, 6), round(la, 6)]
    return out


# -- navigation links ----------------------------------------------------------------------------
@dataclass(frozen=True)
class NavApp:
    """One map app's navigation link: its URL template, the origin part, its words for our travel modes
    and the datum its coordinates are in.

    Placeholder contract (Python fills them in `nav_links`; the page script fills the same templates):
      url:    {origin} -> "" when the start is unknown (the app then starts from the phone's position),
                          else `origin` with {olat}, {olon} filled;
              {mode}   -> modes[travel mode] ("walk" | "ebike" | "car" are our modes);
              {lat}, {lon} -> the station in this app's datum (`crs`), 6 decimals;
              {name}   -> the station's name, "," replaced by "，", then percent-encoded
                          (encodeURIComponent in the browser).
      origin: {olat}, {olon} -> the start in this app's datum, 6 decimals.
    Each placeholder occurs once; fill {origin} first (its text brings {olat}/{olon}).
    """

    key: str
    crs: str
    url: str
    origin: str
    modes: dict[str, str]

    def config(self) -> dict[str, Any]:
        return {"url": self.url, "origin": self.origin, "modes": dict(self.modes), "crs": self.crs}


ORIGIN_NAME = "我的位置"
#: Amap: from/to are lon,lat[,name]; mode car | bus | walk | ride (ride: bicycles and e-bikes, mobile only).
AMAP = NavApp(
    "amap", "gcj02",
    "https://uri.amap.com/navigation?to={lon},{lat},{name}&{origin}mode={mode}&coordinate=gaode&callnative=1"
    "&src=" + AMAP_SRC,
    "from={olon},{olat}," + quote(ORIGIN_NAME) + "&",
    {"walk": "walk", "ebike": "ride", "car": "car"})
#: Baidu: origin/destination are latlng:lat,lng|name:...; mode walking | riding | driving | transit.
BAIDU = NavApp(
    "baidu", "bd09",
    "https://api.map.baidu.com/direction?destination=latlng:{lat},{lon}|name:{name}&{origin}coord_type=bd09ll"
    "&mode={mode}&region=" + quote("揭阳") + "&output=html&src=" + SRC,
    "origin=latlng:{olat},{olon}|name:" + quote(ORIGIN_NAME) + "&",
    {"walk": "walking", "ebike": "riding", "car": "driving"})
NAV_APPS: dict[str, NavApp] = {"amap": AMAP, "baidu": BAIDU}
#: The link templates (the one definition; see NavApp for the placeholders).
AMAP_TEMPLATE = AMAP.url
BAIDU_TEMPLATE = BAIDU.url
#: Workers walk or ride; a link without a stated mode is for walking, never for a car.
DEFAULT_NAV_MODE = "walk"


def check_nav_mode(mode: str | None) -> str:
    """A travel mode for the hand-off (walk, ebike, car; 步行, 电动车 … too); None gives the default, walk."""
    return DEFAULT_NAV_MODE if mode is None else travel.check_mode(mode)


def _fill(app: NavApp, lat: float, lon: float, name: str, mode: str,
          origin: tuple[float, float] | None) -> str:
    head, tail = nav_parts(lat, lon, name, mode)[app.key]
    return head + origin_text(app, origin) + tail


@lru_cache(maxsize=1 << 14)
def nav_parts(lat: float, lon: float, name: str, mode: str) -> dict[str, tuple[str, str]]:
    """{app key: (link before the origin, link after it)} to a WGS-84 point in a checked travel `mode`: what a
    link to a station keeps from one answer to the next (a link is head + `origin_text(app, origin)` + tail)."""
    out = {}
    for key, app in NAV_APPS.items():
        dlat, dlon = _from_wgs84(lat, lon, app.crs)
        head, _, tail = app.url.partition("{origin}")
        fill = {"mode": app.modes[mode], "lat": f"{dlat:.6f}", "lon": f"{dlon:.6f}", "name": _quoted_name(name)}
        out[key] = (head.format(**fill), tail.format(**fill))
    return out


def origin_text(app: NavApp, origin: tuple[float, float] | None) -> str:
    """The origin part of `app`'s link from a WGS-84 (lat, lon); "" when the start is unknown."""
    if origin is None:
        return ""
    olat, olon = _origin_datums(*lat_lon(*origin))[app.crs]
    return app.origin.format(olat=f"{olat:.6f}", olon=f"{olon:.6f}")


def origin_texts(origin: tuple[float, float]) -> dict[str, str]:
    """{app key: `origin_text(app, origin)`} for every app (the origin shifted once, for both datums)."""
    return {key: origin_text(app, origin) for key, app in NAV_APPS.items()}


@lru_cache(maxsize=1 << 16)
def _quoted_name(name: str) -> str:
    return quote(name.replace(",", "，"), safe="")


def amap_url(lat: float, lon: float, name: str, mode: str | None = None,
             origin: tuple[float, float] | None = None) -> str:
    """Amap navigation to a WGS-84 point (sent as GCJ-02), from `origin` (WGS-84) when given; opens the app
    when installed (callnative=1), else the web."""
    return _fill(AMAP, lat, lon, name, check_nav_mode(mode), origin)


def baidu_url(lat: float, lon: float, name: str, mode: str | None = None,
              origin: tuple[float, float] | None = None) -> str:
    """Baidu Maps directions to a WGS-84 point (sent as BD-09, coord_type=bd09ll), from `origin` when given."""
    return _fill(BAIDU, lat, lon, name, check_nav_mode(mode), origin)


def nav_links(lat: float, lon: float, name: str, mode: str | None = DEFAULT_NAV_MODE,
              origin: tuple[float, float] | None = None) -> dict[str, str]:
    """{'amap': url, 'baidu': url}: navigation to a WGS-84 point in travel `mode` (walk, ebike, car),
    starting at `origin` ((lat, lon), WGS-84) when known, else where the phone is."""
    mode = check_nav_mode(mode)
    return {key: _fill(app, lat, lon, name, mode, origin) for key, app in NAV_APPS.items()}


def nav_config() -> dict[str, Any]:
    """The navigation templates for the page script: {"modes": [...], "default": "walk",
    "apps": {"amap": {"url", "origin", "modes", "crs"}, "baidu": {...}}} (placeholders: see NavApp)."""
    return {"modes": list(travel.MODES), "default": DEFAULT_NAV_MODE,
            "apps": {key: app.config() for key, app in NAV_APPS.items()}}


# -- open or closed: status, hours and live status in one answer ---------------------------------
#: label -> (Chinese, English). "按时开放": the hours say open, but a smart station's own live report,
#: which would confirm it, is missing or stale; a station never shows "正在开放" beside "实时状态未知".
OPEN_LABELS: dict[str, tuple[str, str]] = {
    "open": ("正在开放", "Open now"),
    "open_by_hours": ("按时开放", "Open by its hours"),
    "open_live": ("实时：开放中", "Live: open"),
    "closed": ("现在关闭", "Closed now"),
    "closed_live": ("实时：已关闭", "Live: closed"),
    "hours_unknown": ("开放时间未知", "Hours unknown"),
    "suspended": ("暂停开放", "Closed"),
    "planned": ("规划中", "Planned"),
}


def open_state(s: Station, when: datetime | None = None, live: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Whether a station is open, from the one rule every page and answer uses:

    1. status closed or planned -> closed ("suspended" / "planned");
    2. a fresh live report (smart stations: state open or closed) -> what it says ("open_live" / "closed_live"),
       whatever the hours say;
    3. otherwise the hours at `when` (Asia/Shanghai): open -> "open", or for a smart station whose live
       status is unknown "open_by_hours"; closed -> "closed"; unknown hours -> "hours_unknown" (open None).
    `live` is the station's live status ({"state": "open"|"closed"|"unknown", ...}) or None.
    Returns {"open": True|False|None, "basis": "status"|"live"|"hours", "label", "zh", "en"}.
    """
    state = (live or {}).get("state")
    if s.status != "open":
        is_on, basis, label = False, "status", "suspended" if s.status == "closed" else "planned"
    elif state in ("open", "closed"):
        is_on, basis, label = state == "open", "live", state + "_live"
    else:
        is_on, basis = is_open(s.hours, when), "hours"
        label = ("hours_unknown" if is_on is None else "closed" if not is_on
                 else "open_by_hours" if s.kind == "smart" else "open")
    zh, en = OPEN_LABELS[label]
    return {"open": is_on, "basis": basis, "label": label, "zh": zh, "en": en}


@lru_cache(maxsize=1)
def _unit_names() -> tuple[dict[str, str], dict[str, str]]:
    """{adcode: name} of the districts and {code: name} of the townships (shipped data, read once)."""
    return (geography.districts()["name"].to_dict(), geography.township_areas()["name"].to_dict())


def display_fields(s: Station) -> dict[str, str]:
    """Names for the station's district and township codes and its hours in words (Chinese)."""
    districts, townships = _unit_names()
    return {"district_name": districts.get(s.district, ""), "township_name": townships.get(s.township, ""),
            "hours_zh": to_zh(s.hours)}


def station_properties(s: Station) -> dict[str, Any]:
    """GeoJSON properties of a station: stored fields (location in the geometry) plus display fields."""
    rec = s.to_record()
    rec.pop("lat"), rec.pop("lon")
    return {**rec, **display_fields(s)}


def admin_record(s: Station) -> dict[str, Any]:
    """A station for the admin page: stored fields, display fields and its version (etag) to send back."""
    return {**s.to_record(), **display_fields(s), "etag": etag(s)}


def _live(s: Station, live: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The station's entry in a live-status table: its report, 'unknown' for a silent smart station, else None."""
    if live is None:
        return None
    from .ops.telemetry import station_live

    return station_live(live, s.id, s.kind)


def station_feature(s: Station, when: datetime | None = None, live: Mapping[str, Any] | None = None,
                    mode: str | None = None) -> dict[str, Any]:
    """A station as a GeoJSON Feature: stored fields, display names, datums, links in `mode` (default walk),
    and whether it is open (`open_state`, and `open_now` its yes/no/null). With `live` (the live-status table
    {station id: status}), the feature carries `live` too and its open state follows the one rule."""
    props = station_properties(s)
    status = _live(s, live)
    state = open_state(s, when, status)
    props.update(
        kind_zh=KIND_ZH[s.kind], status_zh=STATUS_ZH[s.status],
        open_now=state["open"], open_state=state,
        coords=datum_coords(s.lat, s.lon), nav=nav_links(s.lat, s.lon, s.name, mode),
    )
    if live is not None:
        props["live"] = status
    return {"type": "Feature", "id": s.id, "geometry": {"type": "Point", "coordinates": [s.lon, s.lat]},
            "properties": props}


def feature_collection(stations: Iterable[Station], when: datetime | None = None,
                       live: Mapping[str, Any] | None = None, mode: str | None = None) -> dict[str, Any]:
    """FeatureCollection of stations; `sample_data` is true while any demo station is in it."""
    feats = [station_feature(s, when, live, mode) for s in stations]
    return {"type": "FeatureCollection", "sample_data": any(f["properties"]["demo"] for f in feats),
            "numberReturned": len(feats), "features": feats}


def frame_collection(frame) -> dict[str, Any]:
    """A GeoDataFrame (boundaries, townships) as an RFC 7946 FeatureCollection in WGS-84, index dropped."""
    import json

    return json.loads(frame.reset_index(drop=True).to_json(drop_id=True, to_wgs84=True))


# -- the nearest answer --------------------------------------------------------------------------
#: An origin outside Jieyang whose nearest answer (or, with none, the city) is further than this is
#: "far": no minutes are given (hours of walking say nothing), only how far Jieyang is.
FAR_M = 30_000.0


def _result_fields(s: Station) -> dict[str, Any]:
    """The station's own fields of a nearest result, in their order (a fresh dict from a kept one)."""
    return dict(_result_fields_kept(s))


@lru_cache(maxsize=1 << 16)
def _result_fields_kept(s: Station) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "kind": s.kind, "kind_zh": KIND_ZH[s.kind], "status": s.status,
            "lat": s.lat, "lon": s.lon, "district": s.district, "township": s.township,
            "address": s.address, "amenities": None, "hours": to_osm(s.hours), "hours_zh": to_zh(s.hours),
            "phone": s.phone, "demo": s.demo}


def nearest_result(r: NearestResult, mode: str | None = None, origin: tuple[float, float] | None = None,
                   far: bool = False, when: datetime | None = None,
                   live: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One nearest station: its fields, distance, bearing and direction, minutes per mode (not when `far`),
    open state, datums, and links in `mode` from `origin` (WGS-84 (lat, lon))."""
    s = r.station
    out = _result_fields(s)
    out.update({
        "amenities": list(s.amenities), "open_now": r.open_now,
        "distance_m": round(r.distance_m, 1), "bearing_deg": round(r.bearing_deg, 1),
        "direction": compass(r.bearing_deg), "direction_zh": compass(r.bearing_deg, "zh"),
        "minutes": {m: round(v, 1) for m, v in r.minutes.items()},
        "coords": datum_coords(s.lat, s.lon), "nav": nav_links(s.lat, s.lon, s.name, mode, origin),
    })
    if far:
        del out["minutes"]
    if when is not None or live is not None:
        state = open_state(s, when, _live(s, live))
        out.update(open_now=state["open"], open_state=state)
        if live is not None:
            out["live"] = _live(s, live)
    return out


def nearest_origin(lat: Any, lon: Any, crs: str = "wgs84") -> dict[str, Any]:
    """The point a nearest question was asked from, in WGS-84 (7 decimals), with its datums, whether in
    Jieyang, and how far the city is (`to_jieyang_m`, 0 inside, to 100 m)."""
    lat, lon = lat_lon(lat, lon)
    if crs != "wgs84":
        lat, lon = question_point(lat, lon, crs)
    wlat, wlon = round(lat, 7), round(lon, 7)
    inside = geography.in_jieyang(wlat, wlon)
    coords = {crs: [round(lo, 6), round(la, 6)] for crs, (la, lo) in _origin_datums(wlat, wlon).items()}
    return {"lat": wlat, "lon": wlon, "crs": "wgs84", "coords": coords,  # as `datum_coords`, from the kept shift
            "in_jieyang": inside,
            "to_jieyang_m": 0.0 if inside else round(to_jieyang_m(wlat, wlon), -2)}


def is_far(origin: dict[str, Any], results: Sequence[NearestResult]) -> bool:
    """The far rule: outside Jieyang, and the nearest station found (or the city, if none) is over FAR_M away."""
    if origin["in_jieyang"]:
        return False
    nearest_m = results[0].distance_m if results else origin["to_jieyang_m"]
    return nearest_m > FAR_M


def nearest_answer(results: Sequence[NearestResult], lat: Any, lon: Any, crs: str, now: datetime,
                   mode: str | None = None, live: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole answer to a nearest question (asked at `now` from lat/lon in `crs`): the API's and the CLI's.

    {"origin": {lat, lon, crs, coords, in_jieyang, to_jieyang_m}, "far": bool, "mode": "walk"|"ebike"|"car",
     "time", "count", "results": [nearest_result ...], "sample_data"}. Links start at the origin and are in
    `mode` (default walk); when `far`, results carry no `minutes`. With `live`, open states follow it.
    """
    mode = check_nav_mode(mode)
    origin = nearest_origin(lat, lon, crs)
    far = is_far(origin, results)
    start = (origin["lat"], origin["lon"])
    out = [nearest_result(r, mode, start, far, now, live) for r in results]
    return {"origin": origin, "far": far, "mode": mode, "time": now.isoformat(timespec="seconds"),
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
                 ("智能功能", "features"), ("示例数据", "demo"), ("坐标来源", "location_source"),
                 ("核实日期", "last_verified"))


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
        "demo": "是" if s.demo else "", "location_source": s.location_source, "last_verified": s.last_verified,
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
    from .files.sheets import records_csv  # pandas: imported by the commands that write a table, not by every one

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
