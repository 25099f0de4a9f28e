"""Every query parameter of the service, declared once: name, type, bounds, default and help.

The web API parses its query strings through these declarations and builds its OpenAPI document from
them; the CLI builds its options from them; the pages take theirs from here too. Bounds that are
settings (`max_results`, `max_suggest`) are named by `limit` and read from the settings table when a
value is parsed, so a setting can raise a bound as well as lower it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable

from . import vocab
from .checks import lat_lon
from .errors import InvalidInput
from .geo import datums
from .model import KINDS, STATUSES
from .ops import usage
from .query import demand_keep, travel
from .query.jobs import GAPS_KEPT

MAX_TEXT = 200


def district_code(value: str) -> str:
    """`geography.district_code`, loading the boundaries only when a district is asked for."""
    from .geo import geography

    return geography.district_code(value)


@dataclass(frozen=True)
class Param:
    """One query parameter or request header: name, JSON-schema type, help text and limits."""

    name: str
    type: str  # number | integer | boolean | string | array | bbox
    help: str
    enum: tuple[Any, ...] | None = None
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    required: bool = False
    convert: Callable[[Any], Any] | None = None  # domain check after type parsing (e.g. amenity words)
    location: str = "query"  # query | header
    limit: str | None = None  # the setting that gives `maximum`

    def bounded(self, settings: dict[str, Any]) -> "Param":
        """This parameter with its setting-given maximum filled in."""
        return replace(self, maximum=settings[self.limit]) if self.limit else self

    @property
    def arg(self) -> str:
        """The view's keyword for this input: the name, or for a header its snake-case form (If-Match: if_match)."""
        return self.name.lower().replace("-", "_") if self.location == "header" else self.name

    def schema(self) -> dict[str, Any]:
        if self.type == "bbox":
            return {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}
        if self.type == "array":
            items: dict[str, Any] = {"type": "string"}
            if self.enum:
                items["enum"] = list(self.enum)
            return {"type": "array", "items": items}
        out: dict[str, Any] = {"type": self.type}
        for key in ("enum", "default", "minimum", "maximum"):
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if key == "enum" else value
        return out

    def openapi(self) -> dict[str, Any]:
        doc = {"name": self.name, "in": self.location, "required": self.required, "description": self.help,
               "schema": self.schema()}
        if self.type in ("array", "bbox"):
            doc.update(style="form", explode=False)
        return doc

    def parse(self, values: list[str]) -> Any:
        if self.type == "array":
            words = [w.strip() for v in values for w in v.split(",") if w.strip()]
            for w in words:
                self._check_text(w)
                if self.enum and not self.convert and w not in self.enum:
                    raise InvalidInput(f"{self.name}={w!r} is not allowed; use {', '.join(map(str, self.enum))}")
            return tuple(self.convert(w) for w in words) if self.convert else tuple(words)
        if len(values) > 1:
            raise InvalidInput(f"parameter {self.name!r} is given {len(values)} times; give it once")
        raw = values[0].strip()
        value = getattr(self, "_" + self.type)(raw)
        if self.enum is not None and value not in self.enum:
            raise InvalidInput(f"{self.name}={raw!r} is not allowed; use one of {', '.join(map(str, self.enum))}")
        low, high = self.minimum, self.maximum
        if low is not None and value < low or high is not None and value > high:
            allowed = (f"use {low:g} to {high:g}" if low is not None and high is not None
                       else f"use at least {low:g}" if low is not None else f"use at most {high:g}")
            raise InvalidInput(f"{self.name}={raw[:40]!r} is out of range; {allowed}")
        return self.convert(value) if self.convert else value

    def _check_text(self, raw: str) -> str:
        if len(raw) > MAX_TEXT or any(ord(c) < 32 for c in raw):
            raise InvalidInput(f"parameter {self.name!r} is too long or has control characters")
        return raw

    def _string(self, raw: str) -> str:
        return self._check_text(raw)

    def _number(self, raw: str) -> float:
        try:
            x = float(raw)
        except ValueError:
            raise InvalidInput(f"{self.name}={raw[:40]!r} is not a number") from None
        if not math.isfinite(x):
            raise InvalidInput(f"{self.name}={raw[:40]!r} is not a finite number")
        return x

    def _integer(self, raw: str) -> int:
        digits = raw[1:] if raw[:1] in ("+", "-") else raw
        if not digits.isdecimal() or len(digits) > 12:  # decimal, not isdigit: int('²') fails
            raise InvalidInput(f"{self.name}={raw[:40]!r} is not a whole number")
        return int(raw)

    def _boolean(self, raw: str) -> bool:
        key = raw.lower()
        if key in ("", "1", "true", "yes", "on"):
            return True
        if key in ("0", "false", "no", "off"):
            return False
        raise InvalidInput(f"{self.name}={raw[:40]!r} is not a yes/no value; use true or false")

    def _bbox(self, raw: str) -> tuple[float, float, float, float]:
        parts = raw.split(",")
        if len(parts) != 4:
            raise InvalidInput(f"bbox={raw[:60]!r} needs 4 numbers: min lon, min lat, max lon, max lat (WGS-84)")
        w, s, e, n = (self._number(p.strip()) for p in parts)
        if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
            raise InvalidInput(f"bbox={raw[:60]!r} is out of range: longitudes -180..180, latitudes -90..90")
        if w > e or s > n:
            raise InvalidInput(f"bbox={raw[:60]!r}: give min lon, min lat, max lon, max lat (min before max)")
        return (w, s, e, n)




# -- the declarations ----------------------------------------------------------------------------
LAT = Param("lat", "number", "Latitude of the point (in crs).", required=True, minimum=-90, maximum=90)
LON = Param("lon", "number", "Longitude of the point (in crs).", required=True, minimum=-180, maximum=180)
K = Param("k", "integer", "How many stations (at most the max_results setting).", default=5, minimum=1,
          limit="max_results")
CRS = Param("crs", "string", "Datum of lat/lon: wgs84 (GPS, browser), gcj02 (Amap, WeChat), bd09 (Baidu).",
            enum=datums.CRS_NAMES, default="wgs84")
KIND = Param("kind", "string", "Station kind: outdoor (户外劳动者服务站点) or smart (智能化工会驿站).", enum=KINDS)
STATUS = Param("status", "string", "Station status.", enum=STATUSES)
AMENITY = Param("amenity", "array", "Required amenities, all of them (keys, Chinese names or synonyms; "
                "comma separated or repeated).", enum=vocab.AMENITY_KEYS, convert=vocab.amenity_key)
OPEN_NOW = Param("open_now", "boolean", "Only stations open now (Asia/Shanghai); unknown hours count as closed.",
                 default=False)
DISTRICT = Param("district", "string", "District name (普宁市, 普宁, Puning) or adcode (445281).",
                 convert=district_code)
REACH_M = Param("reach_m", "number", f"Straight-line reach in metres ({travel.MIN_REACH_M:g} to "
                f"{travel.MAX_REACH_M:,.0f}). Give this or minutes.", minimum=travel.MIN_REACH_M,
                maximum=travel.MAX_REACH_M)
MINUTES = Param("minutes", "number", "Travel time in minutes; with mode. Give this or reach_m.", minimum=0)
MODE = Param("mode", "string", "Travel mode for minutes: walk, ebike or car (speeds and detour factor: "
             "stationmap.query.travel).", enum=travel.MODES)
MIN_STATIONS = Param("min_stations", "integer", "Stations that must reach a place: 1, or 2 for 双15 cross "
                     "coverage (交叉覆盖).", enum=(1, 2), default=1)
REACH = (REACH_M, MINUTES, MODE, MIN_STATIONS)
SITES = Param("n", "integer", "How many new sites (at most the max_suggest setting).", default=5, minimum=1,
              limit="max_suggest")
GAPS_LIMIT = Param("limit", "integer", "How many gaps.", default=50, minimum=1, maximum=GAPS_KEPT)
PLANNER_SITES = replace(SITES, help="Suggested new sites (0 for none).", minimum=0)
NAV_MODE = Param("mode", "string", "The worker's travel mode: navigation links hand over in it (Amap ride, Baidu "
                 "riding for ebike) and minutes are shown for it first. walk or ebike (workers), car; default walk.",
                 enum=travel.MODES, default="walk")
#: The nearest question: /api/nearest and `stationmap nearest`.
NEAREST = (LAT, LON, K, CRS, KIND, AMENITY, OPEN_NOW, STATUS, NAV_MODE)

# -- search ---------------------------------------------------------------------------------------
SEARCH_TEXT = Param("q", "string", "What to find: a station's name or address, a township or street (棉湖 or 棉湖镇), "
                    f"a district, or a point: 'lat,lon' or an Amap or Baidu link (at most {MAX_TEXT} characters).",
                    required=True)
SEARCH_LIMIT = Param("limit", "integer", "How many results.", default=10, minimum=1, maximum=50)
SEARCH_CRS = replace(CRS, help="Datum of bare numbers such as '23.55,116.37': gcj02 (Amap, Tencent, WeChat; the "
                               "default), bd09 (Baidu), wgs84 (GPS). Links say their own datum.", default="gcj02")
SEARCH = (SEARCH_TEXT, SEARCH_LIMIT, SEARCH_CRS)


def _centre(text: str) -> tuple[float, float]:
    """'lat,lon' (WGS-84) -> (lat, lon), checked like every point."""
    parts = text.split(",")
    if len(parts) != 2:
        raise InvalidInput(f"center={text[:60]!r} must be 'lat,lon' in WGS-84, e.g. 23.55,116.37")
    try:
        return lat_lon(parts[0].strip(), parts[1].strip())
    except InvalidInput as exc:
        raise InvalidInput(f"center={text[:60]!r}: {exc}") from None


CENTER = Param("center", "string", "Map centre 'lat,lon' (WGS-84).", convert=_centre)
ZOOM = Param("zoom", "integer", "Zoom level.", minimum=7, maximum=18)


# -- stations, boundaries, downloads --------------------------------------------------------------
BBOX = Param("bbox", "bbox", "Bounding box: min lon, min lat, max lon, max lat (WGS-84).")
TEXT = Param("q", "string", "Text to find in name, address, host or id.")
#: /api/stations pages: without limit and offset, a registry answer of at most STATIONS_PAGE stations comes whole.
STATIONS_PAGE = 500
STATIONS_LIMIT = Param("limit", "integer", f"Page size (default {STATIONS_PAGE}: a longer answer comes in pages, "
                       "each with a next link). A page also stops before 1 MB.", minimum=1, maximum=STATIONS_PAGE)
STATIONS_OFFSET = Param("offset", "integer", "Stations to skip (the next link gives it).", default=0, minimum=0,
                        maximum=10_000_000)
CLUSTER_BBOX = Param("bbox", "bbox", "The map's view: min lon, min lat, max lon, max lat (WGS-84).", required=True)
CLUSTER_ZOOM = Param("zoom", "integer", "The map's zoom (whole levels): cells are 64 screen pixels at it.",
                     required=True, minimum=0, maximum=18)
ANSWER_FORMAT = Param("format", "string", "Response format.", enum=("json", "geojson", "csv"), default="json")
TOWNSHIP_LAYER = Param("layer", "string", "areas (approximate cells) or seats (points).", enum=("areas", "seats"),
                       default="areas")

# -- management: audit, telemetry, usage ----------------------------------------------------------
AUDIT = (Param("station", "string", "Only this station id."),
         Param("actor", "string", "Only changes by this user."),
         Param("since", "string", "Only changes from this UTC time on, e.g. 2025-06-01."),
         Param("limit", "integer", "At most this many entries.", default=500, minimum=1, maximum=100_000),
         Param("format", "string", "json or csv (a download).", enum=("json", "csv"), default="json"))
REPORTS = Param("limit", "integer", "How many reports.", default=50, minimum=1, maximum=1000)
WORKER_REPORTS = (Param("state", "string", "Reports in this state (all: every state).",
                        enum=("open", "resolved", "acted", "all"), default="open"),
                  replace(DISTRICT, help="Only this district (name or adcode); editors see their own."),
                  Param("station", "string", "Only reports about this station id."),
                  Param("limit", "integer", "At most this many reports, newest first.", default=200, minimum=1,
                        maximum=10_000))
UNVERIFIED = (Param("days", "integer", "Stations not verified for this many days or more (never verified first).",
                    default=180, minimum=1, maximum=36_500),
              replace(DISTRICT, help="Only this district (name or adcode)."),
              Param("format", "string", "json or csv (a download).", enum=("json", "csv"), default="json"))
PERIOD = (Param("since", "string", "First day (Asia/Shanghai), e.g. 2025-06-01."),
          Param("until", "string", "Day after the last one (exclusive)."))
USAGE_BY = Param("by", "string", "Grouping of the visits.", enum=usage.GROUPINGS, default="station")
USAGE = (USAGE_BY, *PERIOD, replace(DISTRICT, help="Only this district (name or adcode)."),
         Param("format", "string", "json or csv.", enum=("json", "csv"), default="json"))
DEMAND_FORMAT = Param("format", "string", "csv, geojson or json.", enum=("csv", "geojson", "json"), default="csv")
#: A planner's own demand layer for coverage, gaps, siting and what-if, and the file sent to make one.
DEMAND = Param("demand", "string", "A planner's demand layer instead of the modelled population: the key that POST "
               "/api/demand (a file) or GET /api/demand/visits (smart stations' counted visits) answered; kept a day.",
               convert=demand_keep.check_key)
DEMAND_NAME = Param("name", "string", "The file's name, for labels (.csv or .geojson also says its format).",
                    default="")

# -- OGC API - Features ---------------------------------------------------------------------------
OGC_FORMAT = Param("f", "string", "Output format (only JSON is offered).", enum=("json", "geojson"), default="json")
OGC_ITEMS = (Param("bbox", "bbox", "min lon, min lat, max lon, max lat (CRS84)."),
             Param("limit", "integer", "Page size.", default=100, minimum=1, maximum=1000),
             Param("offset", "integer", "Features to skip.", default=0, minimum=0, maximum=10_000_000), OGC_FORMAT)
