"""A station as a table row and back, the same for every table backend (GeoPackage, PostGIS).

Lists are kept as JSON text, hours as OpenStreetMap text, an unknown year as -1. Reading 184,200 rows
must be quick (it is a worker's start), so the texts many stations share (hours, amenity lists) are
parsed once per distinct text, not once per row.
"""
from __future__ import annotations

import json
from functools import lru_cache
from itertools import repeat
from typing import Any, Mapping, Sequence

from ..hours import Schedule, parse_hours, to_osm
from ..model import Station

FIELDS: tuple[str, ...] = tuple(Station.__dataclass_fields__)
LIST_FIELDS = ("amenities", "honours", "features")
_DEFAULTS = {name: f.default for name, f in Station.__dataclass_fields__.items()}


@lru_cache(maxsize=65536)
def _hours(text: str | None) -> Schedule | None:
    return parse_hours(text or None)


@lru_cache(maxsize=65536)
def _words(text: str | None) -> tuple[str, ...]:
    return tuple(json.loads(text or "[]"))


@lru_cache(maxsize=65536)
def _osm(schedule: Schedule | None) -> str:
    return to_osm(schedule)


def record(station: Station) -> dict[str, Any]:
    """`Station.to_record()`, without its deep copy: the flat record stores, exports and the audit keep."""
    rec = dict(station.__dict__)
    rec["hours"] = _osm(station.hours)
    for key in LIST_FIELDS:
        rec[key] = list(rec[key])
    return rec


def to_row(station: Station) -> dict[str, Any]:
    """The stored values of a station (field name -> value), lists as JSON text."""
    rec = record(station)
    for key in LIST_FIELDS:
        rec[key] = json.dumps(rec[key], ensure_ascii=False)
    rec["demo"] = int(rec["demo"])
    rec["year_opened"] = rec["year_opened"] if rec["year_opened"] is not None else -1
    return rec


def from_row(columns: Sequence[str], values: Sequence[Any]) -> Station:
    """A station from stored values named by `columns` (missing fields take their defaults)."""
    return from_rows(columns, [values])[0]


def from_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Station]:
    """Stations from stored rows, converted a column at a time (a national registry is 184,200 rows)."""
    if not rows:
        return []
    return from_columns(dict(zip(columns, zip(*rows))), len(rows))


def from_columns(stored: Mapping[str, Sequence[Any]], n: int) -> list[Station]:
    """Stations from `n` stored rows given a column at a time (field name -> its values)."""
    if not n:
        return []
    converted = []
    for name in FIELDS:
        col = stored.get(name)
        if col is None:  # a column older files lack
            converted.append(repeat(_DEFAULTS[name], n))
        elif name in LIST_FIELDS:
            converted.append(map(_words, col))
        elif name == "hours":
            converted.append(map(_hours, col))
        elif name == "year_opened":
            converted.append([None if v is None or v != v or v < 0 else int(v) for v in col])
        elif name == "demo":
            converted.append(map(bool, col))
        elif name in ("lat", "lon"):
            converted.append(map(float, col))
        else:
            converted.append(col if None not in col else ["" if v is None else v for v in col])
    out = []
    new = Station.__new__
    for values in zip(*converted):
        station = new(Station)
        station.__dict__.update(zip(FIELDS, values))  # the fields as stored and converted: no re-validation
        out.append(station)
    return out
