"""The station record and the one function that validates and completes it.

Import rows, API edits and the sample generator all build stations through `make_station`, so the
rules (vocabularies, hours, location inside Jieyang, derived district and township) live here once.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, Callable

from . import vocab
from .checks import number
from .errors import InvalidInput
from .geo import datums
from .hours import TZ, Schedule, parse_hours, to_osm

KINDS = ("outdoor", "smart")
STATUSES = ("open", "closed", "planned")
KIND_ZH = {"outdoor": "户外劳动者服务站点", "smart": "智能化工会驿站"}
STATUS_ZH = {"open": "开放", "closed": "暂停开放", "planned": "规划中"}
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_KIND_WORDS = {"outdoor": "outdoor", "户外": "outdoor", "户外劳动者服务站点": "outdoor", "工会驿站": "outdoor",
               "驿站": "outdoor", "普通": "outdoor", "smart": "smart", "智能": "smart", "智能化": "smart",
               "智能化工会驿站": "smart", "智慧": "smart"}
_STATUS_WORDS = {"open": "open", "开放": "open", "正常": "open", "运营": "open", "在用": "open",
                 "closed": "closed", "关闭": "closed", "暂停": "closed", "暂停开放": "closed", "停用": "closed",
                 "planned": "planned", "规划": "planned", "规划中": "planned", "在建": "planned", "筹建": "planned"}


@dataclass(frozen=True)
class Station:
    id: str
    name: str
    kind: str
    status: str
    lat: float  # WGS-84
    lon: float  # WGS-84
    district: str  # adcode, derived from the location
    township: str  # 9-digit code, derived from the location
    address: str = ""
    hours: Schedule | None = None
    amenities: tuple[str, ...] = ()
    host: str = ""
    phone: str = ""
    honours: tuple[str, ...] = ()
    year_opened: int | None = None
    demo: bool = False
    features: tuple[str, ...] = ()
    location_source: str = "given"
    last_verified: str = ""  # the Asia/Shanghai day an editor last confirmed the station on the ground, or ""

    @property
    def hours_osm(self) -> str:
        return to_osm(self.hours)

    def to_record(self) -> dict[str, Any]:
        """Flat, JSON-friendly dict (hours as OSM text, lists as lists) used by stores and exports."""
        rec = {name: getattr(self, name) for name in _FIELDS}  # asdict would deep-copy the parsed hours first
        rec["hours"] = self.hours_osm
        for key in ("amenities", "honours", "features"):
            rec[key] = list(rec[key])
        return rec


_FIELDS = tuple(f.name for f in fields(Station))


def etag(station: Station) -> str:
    """A version tag for the station's content (an HTTP entity tag, without quotes)."""
    text = json.dumps(station.to_record(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def stable_id(name: str, district: str) -> str:
    """An id derived from what identifies a station on a union list: its district and name."""
    return "st-" + hashlib.sha1(f"{district}|{name.strip()}".encode()).hexdigest()[:10]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _number(value: Any, what: str) -> float:
    """A number from a cell: '23.55', '23.55°' or 23.55."""
    return number(_text(value).replace("°", ""), what)


def _choice(value: Any, words: dict[str, str], what: str, default: str) -> str:
    text = _text(value)
    if not text:
        return default
    key = words.get(text.lower()) or words.get(text)
    if key is None:
        raise InvalidInput(f"unknown {what} {text!r}; use one of {', '.join(sorted(set(words.values())))}")
    return key


def _list(value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(_text(v) for v in value if _text(v))
    return tuple(w.strip() for w in vocab.SEPARATORS.split(_text(value)) if w.strip())


def make_station(record: dict[str, Any], crs: str = "wgs84", locate: Callable[[float, float], Any] | None = None) -> Station:
    """Validate a record (English keys; lat/lon in `crs`) and return a complete Station.

    Raises InvalidInput naming the first bad field. District and township are derived from the
    location and override anything the record says. `locate` (default `metric.locate`) finds them:
    an import passes one that looks up places located for all its rows at once.
    """
    name = _text(record.get("name"))
    if not name:
        raise InvalidInput("no name")
    if len(name) > 100:
        raise InvalidInput(f"name is {len(name)} characters long; at most 100")
    if record.get("lat") in (None, "") or record.get("lon") in (None, ""):
        raise InvalidInput("no coordinates (latitude and longitude)")
    lat, lon = _number(record["lat"], "latitude"), _number(record["lon"], "longitude")
    if -90 <= lat <= 90 and -180 <= lon <= 180:
        lat, lon = datums.to_wgs84(lat, lon, crs)
    if locate is None:
        from .geo.metric import locate  # the boundaries load on the first station made, not on import
    place = locate(lat, lon)
    kind = _choice(record.get("kind"), _KIND_WORDS, "kind", "outdoor")
    features = vocab.parse_features(record.get("features"))
    if features and kind != "smart":
        raise InvalidInput("smart-station features given for a station that is not a smart station (kind=smart)")
    year = _text(record.get("year_opened"))
    if year:
        if not year.isdigit() or not 1990 <= int(year) <= 2100:
            raise InvalidInput(f"year opened {year!r} is not a year")
    phone = _text(record.get("phone"))
    if phone and not re.fullmatch(r"[0-9+\-() 、/转]{5,40}", phone):
        raise InvalidInput(f"phone {phone!r} is not a phone number")
    sid = _text(record.get("id")) or stable_id(name, place.district)
    if not ID_PATTERN.match(sid):
        raise InvalidInput(f"id {sid!r} must be letters, digits, '-', '_' or '.', at most 64")
    return Station(
        id=sid, name=name, kind=kind,
        status=_choice(record.get("status"), _STATUS_WORDS, "status", "open"),
        lat=round(lat, 7), lon=round(lon, 7), district=place.district, township=place.township,
        address=_text(record.get("address")),
        hours=record["hours"] if isinstance(record.get("hours"), tuple) else parse_hours(_text(record.get("hours")) or None),
        amenities=vocab.parse_amenities(record.get("amenities")),
        host=_text(record.get("host")), phone=phone,
        honours=_list(record.get("honours")),
        year_opened=int(year) if year else None,
        demo=_truthy(record.get("demo")), features=features,
        location_source=_text(record.get("location_source")) or "given",
        last_verified=verified_day(record.get("last_verified")),
    )


def verified_day(value: Any) -> str:
    """A last-verified day as 'YYYY-MM-DD' ('' for none) from text ('2025-06-01', '2025/6/1', an ISO time)
    or a date/datetime (as spreadsheets give it); a time with a zone is taken on the Asia/Shanghai clock."""
    if isinstance(value, datetime):
        return (value.astimezone(TZ) if value.tzinfo else value).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = _text(value)
    if not text:
        return ""
    try:
        if re.fullmatch(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}", text):
            day = date(*map(int, re.split(r"[-/.]", text)))
        else:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            day = (when.astimezone(TZ) if when.tzinfo else when).date()
    except ValueError:
        raise InvalidInput(f"last verified {text!r} is not a day; write it as 2025-06-01") from None
    if not 2000 <= day.year <= 2100:
        raise InvalidInput(f"last verified {text!r} is not a plausible day")
    return day.isoformat()


def _truthy(value: Any) -> bool:
    return _text(value).lower() in ("1", "true", "yes", "y", "是", "示例")


def with_changes(station: Station, **changes: Any) -> Station:
    """A copy with fields changed, re-validated through make_station."""
    rec = {**station.to_record(), **changes}
    if "hours" not in changes:
        rec["hours"] = station.hours
    return make_station(rec)

