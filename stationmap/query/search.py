"""One search box: stations (name, address), townships and streets (the 87 official names and their
short forms), districts, and coordinates pasted from Amap or Baidu.

Ranking: a name (or short form) equal to the query scores 1.0, one starting with it 0.8, one containing
it 0.6; a station whose address contains it 0.4; a place whose name the query contains (an address typed
in full, "棉湖镇新华路1号") 0.5. Equal scores go shortest name first, then coordinates, townships,
districts, stations. Text is compared after Unicode NFKC folding and case folding; nothing in the query
is interpreted except coordinates, so hostile text is only text that matches nothing.

Coordinates: links and share texts of uri.amap.com, amap.com (www., ditu., m.) and map.baidu.com /
api.map.baidu.com are read for their coordinate parameters; Amap's are GCJ-02 (unless the link says
`coordinate=wgs84`), Baidu's BD-09 unless `coord_type` says gcj02 or wgs84 (bd09mc, Baidu's Mercator
metres, is refused). Two bare numbers ("23.5501,116.3728" or "116.3728 23.5501") are put in lat/lon
order by their ranges around Jieyang and read in `crs`, by default gcj02: numbers copied from a phone
come from Amap, Tencent or WeChat far more often than from a GPS app. Every result is WGS-84.
"""
from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Any, Iterable, Sequence
from urllib.parse import parse_qs, urlsplit

from ..errors import InvalidInput
from ..geo import datums, geography
from ..model import Station

MAX_QUERY = 200
DEFAULT_LIMIT = 10
MAX_LIMIT = 50
SUFFIXES = ("街道办事处", "街道办", "街道", "管理区", "农场", "林场", "镇", "乡")
_TYPE_ORDER = {"coordinates": 0, "township": 1, "district": 2, "station": 3, "address": 4}
_NUMBER = r"(?<![\d.])[-+]?\d{1,3}\.\d+(?![\d.])"  # a decimal fraction, as map apps copy them
_PAIR = re.compile(rf"({_NUMBER})\s*[,，;；/\s]\s*({_NUMBER})")
_URL = re.compile(r"https?://[^\s\"'<>，。；！（）()]+", re.I)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
# Plausible ranges: around Jieyang first (to tell lat,lon from lon,lat), then anywhere in China.
_JIEYANG_LAT, _JIEYANG_LON = (22.5, 24.2), (115.2, 117.0)
_CHINA_LAT, _CHINA_LON = (3.0, 54.0), (73.0, 136.0)


@dataclass(frozen=True)
class Place:
    """A township, street or district to search: official name, short forms, kind, district, WGS-84 point."""

    name: str
    aliases: tuple[str, ...]
    type: str  # township | district
    district_name: str
    lat: float
    lon: float
    code: str


def short_forms(name: str) -> tuple[str, ...]:
    """Common short forms of an official township name: the name without its 街道/镇/乡… suffix
    ('棉湖镇' -> ('棉湖',)); none when that would leave fewer than two characters."""
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return (name[: -len(suffix)],)
    return ()


@lru_cache(maxsize=1)
def places() -> tuple[Place, ...]:
    """The 87 townships (at their seats) and the 5 districts (at a point inside each), WGS-84."""
    d = geography.districts()
    out = [Place(str(t["name"]), short_forms(str(t["name"])), "township", str(d.loc[t["district"], "name"]),
                 round(float(t.geometry.y), 6), round(float(t.geometry.x), 6), str(code))
           for code, t in geography.townships().iterrows()]
    for code, row in d.iterrows():
        pt = row.geometry.representative_point()
        out.append(Place(str(row["name"]), (str(row["name"])[:-1], str(row["name_en"])), "district",
                         str(row["name"]), round(pt.y, 6), round(pt.x, 6), str(code)))
    return tuple(out)


def client_index() -> dict[str, Any]:
    """The places for the browser's offline search (stations are already in the page's data block).

    {"v": 1, "places": [{"n": "棉湖镇", "a": ["棉湖"], "t": "township", "d": "揭西县", "p": [lat, lon]}, ...]}
    n: official name; a: short forms (districts: name without 区/县/市, and English); t: township | district;
    d: district name; p: WGS-84 [lat, lon] (a township's seat; for a district, a point inside it), 4
    decimals (~10 m). About 8 KB as JSON, 2 KB gzipped. Rank as `search` does: exact > prefix > substring
    on n and a (case-folded), ties shortest name first, townships before districts before stations.
    """
    return {"v": 1, "places": [{"n": p.name, "a": list(p.aliases), "t": p.type, "d": p.district_name,
                                "p": [round(p.lat, 4), round(p.lon, 4)]} for p in places()]}


# -- text ----------------------------------------------------------------------------------------
def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def clean_query(query: Any) -> str:
    """The query as text: control characters dropped, spaces trimmed; empty or over MAX_QUERY refused."""
    if query is None:
        raise InvalidInput("give a station, township or coordinates to search for")
    text = _CONTROL.sub(" ", str(query)).strip()
    if not text:
        raise InvalidInput("give a station, township or coordinates to search for")
    if len(text) > MAX_QUERY:
        raise InvalidInput(f"the search text is {len(text)} characters long; at most {MAX_QUERY}")
    return text


def _match(needle: str, words: Iterable[str]) -> float:
    best = 0.0
    for w in words:
        w = _fold(w)
        if not w:
            continue
        if w == needle:
            return 1.0
        best = max(best, 0.8 if w.startswith(needle) else 0.6 if needle in w else 0.5 if len(w) >= 2 and w in needle
                   else 0.0)
    return best


def _district_name(lat: float, lon: float) -> str:
    from shapely.geometry import Point

    pt = Point(lon, lat)
    for _code, row in geography.districts().iterrows():
        if row.geometry.covers(pt):
            return str(row["name"])
    return ""


# -- coordinates ---------------------------------------------------------------------------------
def _in(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _order(a: float, b: float) -> tuple[float, float] | None:
    """(lat, lon) from two numbers in either order, judged by Jieyang's ranges, then China's; None if neither fits."""
    for lat_range, lon_range in ((_JIEYANG_LAT, _JIEYANG_LON), (_CHINA_LAT, _CHINA_LON)):
        if _in(a, lat_range) and _in(b, lon_range):
            return a, b
        if _in(b, lat_range) and _in(a, lon_range):
            return b, a
    return None


def _pair(text: str) -> tuple[float, float] | None:
    m = _PAIR.search(text)
    return (float(m.group(1)), float(m.group(2))) if m else None


def _app_of(host: str) -> str | None:
    host = host.lower().split(":")[0]
    if host == "amap.com" or host.endswith(".amap.com"):
        return "amap"
    if host in ("map.baidu.com", "api.map.baidu.com") or host.endswith(".map.baidu.com"):
        return "baidu"
    return None


_AMAP_KEYS = ("position", "location", "lnglat", "dest", "to", "from")  # lon,lat[,name]
_BAIDU_KEYS = ("location", "latlng", "destination", "origin")  # lat,lng (or name:..|latlng:lat,lng)


def _from_url(url: str) -> tuple[float, float, str, str, str] | None:
    """(lat, lon, datum, app, name) from an Amap or Baidu link, or None."""
    parts = urlsplit(url)
    app = _app_of(parts.netloc)
    if app is None:
        return None
    query = {k.lower(): v[0] for k, v in parse_qs(parts.query + "&" + parts.fragment.partition("?")[2]).items()}
    if app == "amap":
        crs = "wgs84" if query.get("coordinate", "").lower() == "wgs84" else "gcj02"
        if "lng" in query and "lat" in query:
            pair, name = (query["lat"], query["lng"]), query.get("name", "")
            return _checked(pair, crs, app, name)
        if "p" in query:  # www.amap.com/?p=<poi id>,lat,lng,name,address
            bits = query["p"].split(",")
            if len(bits) >= 3:
                return _checked((bits[1], bits[2]), crs, app, bits[3] if len(bits) > 3 else "")
        for key in _AMAP_KEYS:
            if key in query:
                bits = query[key].split(",")
                if len(bits) >= 2:
                    return _checked((bits[1], bits[0]), crs, app, bits[2] if len(bits) > 2 else query.get("name", ""))
        return None
    coord_type = query.get("coord_type", "bd09ll").lower()
    if coord_type == "bd09mc":
        raise InvalidInput("this Baidu link gives Baidu Mercator metres (coord_type=bd09mc); share the place "
                           "again, or paste its latitude and longitude")
    crs = {"gcj02": "gcj02", "wgs84": "wgs84"}.get(coord_type, "bd09")
    for key in _BAIDU_KEYS:
        if key in query:
            value = query[key]
            fields = dict(f.split(":", 1) for f in value.split("|") if ":" in f)
            ll = fields.get("latlng", value if "|" not in value and ":" not in value else "")
            bits = ll.split(",")
            if len(bits) == 2:
                return _checked((bits[0], bits[1]), crs, app, fields.get("name", query.get("title", "")))
    return None


def _checked(pair: tuple[str, str], crs: str, app: str, name: str) -> tuple[float, float, str, str, str] | None:
    try:
        a, b = float(pair[0]), float(pair[1])
    except ValueError:
        return None
    ordered = _order(a, b)
    return (*ordered, crs, app, name) if ordered else None


def parse_coordinates(text: str, crs: str = "gcj02") -> dict[str, Any] | None:
    """A point in the text: from an Amap/Baidu link in it, else from two bare numbers read in `crs`;
    None if there is none. {"lat", "lon" (WGS-84), "crs" (as given), "source": amap|baidu|numbers, "label"}."""
    crs = datums.check_crs(crs)
    found = next(filter(None, map(_from_url, _URL.findall(text))), None)
    if found is None:  # two numbers outside any link (a link's own digits are not a point)
        pair = _pair(_URL.sub(" ", text))
        ordered = _order(*pair) if pair else None
        if ordered is None:
            return None
        found = (*ordered, crs, "numbers", "")
    lat, lon, given, source, label = found
    wlat, wlon = datums.to_wgs84(lat, lon, given)
    return {"lat": round(wlat, 7), "lon": round(wlon, 7), "crs": given, "source": source,
            "given": [lat, lon], "label": label.strip()[:100]}


# -- the search ----------------------------------------------------------------------------------
class StationText:
    """The stations' names and addresses, folded once and joined into one text (name, address, name, ... one
    per line), so that a search finds the stations holding the query by scanning that text in C rather than
    by folding and testing every station. Kept per registry version (`of_registry`)."""

    def __init__(self, stations: Sequence[Station]):
        self.stations = list(stations)
        joined = "\n".join(t.replace("\n", " ") for s in self.stations for t in (s.name, s.address))
        self.text = unicodedata.normalize("NFKC", joined).casefold()
        self.fields = self.text.split("\n") if self.stations else []
        self.starts = list(accumulate((len(f) + 1 for f in self.fields), initial=0))

    @classmethod
    def of_registry(cls, found: Any) -> "StationText":
        """The text of a `nearest.StationSet` (the registry at one version), built on first use."""
        if "search" not in found.memo:
            found.memo["search"] = cls(found.stations)
        return found.memo["search"]

    def holding(self, needle: str) -> list[int]:
        """Positions of the stations whose folded name or address contains `needle` (folded, no line break)."""
        out: list[int] = []
        at = self.text.find(needle) if needle else -1
        while at >= 0:
            field = bisect.bisect_right(self.starts, at) - 1
            if not out or out[-1] != field // 2:
                out.append(field // 2)
            at = self.text.find(needle, self.starts[2 * (field // 2) + 2]) if field // 2 + 1 < len(self.stations) else -1
        return out


def search(query: Any, stations: Sequence[Station] | StationText, limit: int = DEFAULT_LIMIT,
           crs: str = "gcj02") -> list[dict[str, Any]]:
    """Stations, places and a pasted point matching `query`, best first, at most `limit`.

    Each result: {"type": "station"|"township"|"district"|"coordinates", "name", "district_name",
    "lat", "lon" (WGS-84), "score" (0-1), "id" (station id, township code, adcode; null for coordinates)};
    coordinates add "crs" (the datum they were read in) and "source" (amap | baidu | numbers).
    """
    text = clean_query(query)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit {limit!r} is out of range; use 1 to {MAX_LIMIT}")
    needle = _fold(text)
    hits: list[dict[str, Any]] = []
    point = parse_coordinates(text, crs)
    if point is not None:
        lat, lon = point["lat"], point["lon"]
        hits.append({"type": "coordinates", "name": point["label"] or f"{lat:.5f}, {lon:.5f}",
                     "district_name": _district_name(lat, lon), "lat": lat, "lon": lon, "score": 1.0,
                     "id": None, "crs": point["crs"], "source": point["source"]})
    for p in places():
        score = _match(needle, (p.name, *p.aliases))
        if score:
            hits.append({"type": p.type, "name": p.name, "district_name": p.district_name, "lat": p.lat,
                         "lon": p.lon, "score": score, "id": p.code})
    districts = geography.districts()["name"]
    text = stations if isinstance(stations, StationText) else StationText(stations)
    for i in text.holding(needle):
        s, name = text.stations[i], text.fields[2 * i].strip()
        score = 1.0 if name == needle else 0.8 if name.startswith(needle) else 0.6 if needle in name \
            else 0.4  # the address holds it
        hits.append({"type": "station", "name": s.name, "district_name": str(districts.get(s.district, "")),
                     "lat": s.lat, "lon": s.lon, "score": score, "id": s.id})
    hits.sort(key=lambda h: (-h["score"], len(h["name"]), _TYPE_ORDER[h["type"]], h["name"]))
    return hits[:limit]


def answer(query: Any, stations: Sequence[Station] | StationText, limit: int = DEFAULT_LIMIT, crs: str = "gcj02",
           geocoder: Any = None) -> dict[str, Any]:
    """The search answer as JSON-able data (for /api/search and `stationmap search --json`):
    {"query": text searched, "crs": datum of bare numbers, "count": n, "results": [search results]}.

    With an online `geocoder` (stationmap.files.geocode.Geocoder) and no name matching from its start,
    the service's answer for the text as an address is added (type "address", score 0.45)."""
    text = clean_query(query)
    results = search(text, stations, limit, crs)
    if geocoder is not None and geocoder.is_online and not any(r["score"] >= 0.8 for r in results):
        hit = geocoder.online(text)
        if hit is not None:
            results.append({"type": "address", "name": text, "district_name": _district_name(hit.lat, hit.lon),
                            "lat": hit.lat, "lon": hit.lon, "score": 0.45, "id": None, "source": hit.source})
            results = sorted(results, key=lambda h: -h["score"])[:limit]
    return {"query": text, "crs": datums.check_crs(crs), "count": len(results), "results": results}
