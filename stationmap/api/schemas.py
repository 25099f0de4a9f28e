"""JSON schemas of the request bodies, derived from the library's own declarations rather than retyped.

A station body is built from the `Station` dataclass (field types), `editing.EDITABLE` (which fields
a client may send) and the vocabularies (`model.KINDS`, `STATUSES`, `vocab` keys, `ID_PATTERN`); a
telemetry report from `telemetry.FIELDS` (type, range, required). A field added to the library shows
up in /api/openapi.json without an edit here.
"""
from __future__ import annotations

import typing
from typing import Any

from .. import model, vocab
from ..hours import Schedule
from ..ops import editing, telemetry

_JSON_TYPES: dict[Any, dict[str, Any]] = {str: {"type": "string"}, float: {"type": "number"},
                                          int: {"type": "integer"}, bool: {"type": "boolean"}}
# fields whose values come from a fixed list: the keys the library stores (synonyms are accepted too)
_CHOICES: dict[str, tuple[str, ...]] = {"kind": model.KINDS, "status": model.STATUSES,
                                        "amenities": vocab.AMENITY_KEYS, "features": vocab.FEATURE_KEYS}
_NOTES = {
    "id": "Stable id; derived from district and name when left out.",
    "lat": "Latitude in the datum given by the crs parameter.",
    "lon": "Longitude in the datum given by the crs parameter.",
    "hours": "Opening hours: OpenStreetMap opening_hours or as union lists write them (08:00-18:00, 24小时).",
    "amenities": "Amenity keys (Chinese names and synonyms are accepted too).",
    "features": "Smart-station features (kind=smart only).",
}


def _value_schema(hint: Any) -> dict[str, Any]:
    """A Station field type as JSON schema, in the form `Station.to_record` writes it (hours as text)."""
    if hint == Schedule | None:
        return {"type": "string", "nullable": True}
    args = typing.get_args(hint)
    if type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        return {**_value_schema(inner), "nullable": True}
    if typing.get_origin(hint) is tuple:
        return {"type": "array", "items": _value_schema(args[0])}
    return dict(_JSON_TYPES[hint])


def station_field(name: str, hint: Any) -> dict[str, Any]:
    """One station field's schema: its type, its fixed values if any, and a note."""
    schema = _value_schema(hint)
    choices = _CHOICES.get(name)
    if choices:
        target = schema["items"] if schema["type"] == "array" else schema
        target["enum"] = list(choices)
    if name == "id":
        schema["pattern"] = model.ID_PATTERN.pattern
    if name in _NOTES:
        schema["description"] = _NOTES[name]
    return schema


def station_body(extra: tuple[str, ...] = (), required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The station fields a client may send (`editing.EDITABLE` plus `extra`); district and township are derived."""
    hints = typing.get_type_hints(model.Station)
    names = [*extra, *editing.EDITABLE]
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False,
                              "properties": {n: station_field(n, hints[n]) for n in names}}
    if required:
        schema["required"] = list(required)
    return schema


def _report_field(name: str, kind: type, low: float | None, high: float | None) -> dict[str, Any]:
    if kind is object:  # ts, checked by its own parser
        schema: dict[str, Any] = {"anyOf": [{"type": "number"}, {"type": "string", "format": "date-time"}],
                                  "description": "Unix seconds, or ISO 8601 with a zone."}
    else:
        schema = dict(_JSON_TYPES[kind])
    if low is not None:
        schema["minimum"] = low
    if high is not None:
        schema["maximum"] = high
    if name == "nonce":
        schema["pattern"] = telemetry._NONCE.pattern
    return schema


def telemetry_report() -> dict[str, Any]:
    """A smart station's report as `telemetry.parse_report` checks it."""
    return {"type": "object", "additionalProperties": False,
            "properties": {name: _report_field(name, kind, low, high)
                           for name, (kind, low, high, _) in telemetry.FIELDS.items()},
            "required": [name for name, (*_, required) in telemetry.FIELDS.items() if required]}
