"""Inputs declared once per route: the view gets them parsed, and /api/openapi.json is built from them.

`@documented(summary, params=[...], body=..., auth=..., responses=...)` on a view records its
documentation and parses the query (`request.args`), the declared headers and the body through the
declarations before the view runs, so the OpenAPI document and the code cannot drift: a parameter the
view reads is a parameter the document lists, and an unknown query parameter is refused (400).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import request

from stationmap.checks import json_document
from stationmap.errors import InvalidInput

from .guards import request_body

MAX_TEXT = 200


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


@dataclass(frozen=True)
class Body:
    """A request body: the JSON schema the document shows, and how the view receives it (`body=`)."""

    help: str
    schema: dict[str, Any]
    media: str = "application/json"
    raw: bool = False  # the view gets the bytes as sent (a signature is computed over them), not the JSON

    def openapi(self) -> dict[str, Any]:
        return {"required": True, "description": self.help, "content": {self.media: {"schema": self.schema}}}

    def parse(self) -> Any:
        """The body (bounded by web.guards) as bytes, or as the JSON value the schema's top level says; else 400."""
        data = request_body()
        if self.raw:
            return data
        value = json_document(data)
        if self.schema.get("type") == "object" and not isinstance(value, dict):
            raise InvalidInput(f"send a JSON object ({self.media}): {self.help}")
        return value


@dataclass(frozen=True)
class Reply:
    """An answer a view gives besides those every route can give (web.openapi adds 400, 404, 413, 429 ...),
    or a better description of one of those or of the view's success (`Doc.status`).

    An error (status >= 400) is a problem document. `headers` name response headers described once in
    web.openapi.HEADERS; `schema` is a success body's JSON schema.
    """

    status: int
    help: str
    headers: tuple[str, ...] = ()
    media: tuple[str, ...] | None = None  # successes: the view's `media` unless given
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Doc:
    """What /api/openapi.json says about one view."""

    summary: str
    params: tuple[Param, ...] = ()
    description: str = ""
    tag: str = "api"
    media: tuple[str, ...] = ("application/json",)
    strict: bool = True  # refuse unknown query parameters
    path_params: dict[str, str] = field(default_factory=dict)
    status: int = 200  # the success
    body: Body | None = None
    auth: str | None = None  # the security scheme a caller needs (web.openapi.SECURITY_SCHEMES), e.g. "bearer"
    responses: tuple[Reply, ...] = ()


def parse_args(doc: Doc) -> dict[str, Any]:
    """Query and header values -> {keyword: value} through the declarations; defaults filled in;
    InvalidInput on bad input."""
    known = {p.name: p for p in doc.params if p.location == "query"}
    if doc.strict:
        unknown = sorted(set(request.args) - set(known))
        if unknown:
            allowed = ", ".join(known) or "none"
            raise InvalidInput(f"unknown parameter(s) {', '.join(repr(u[:40]) for u in unknown)}; allowed: {allowed}")
    out: dict[str, Any] = {}
    for p in doc.params:
        values = (request.headers if p.location == "header" else request.args).getlist(p.name)
        if p.type != "boolean":
            values = [v for v in values if v.strip()]  # an empty form field means "not given"
        if not values:
            if p.required:
                what = "header" if p.location == "header" else "parameter"
                raise InvalidInput(f"{what} {p.name!r} is required: {p.help}")
            out[p.arg] = () if p.type == "array" and p.default is None else p.default
        else:
            out[p.arg] = p.parse(values)
    return out


def documented(summary: str, params: tuple[Param, ...] | list[Param] = (), **kwargs: Any):
    """Attach a Doc to a view and pass it the parsed query parameters and headers as keyword arguments,
    and the parsed body as `body` when the Doc declares one."""
    doc = Doc(summary=summary, params=tuple(params), **kwargs)

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kw):
            values = parse_args(doc)
            if doc.body is not None:
                values["body"] = doc.body.parse()
            return view(*args, **kw, **values)

        inner.api_doc = doc  # type: ignore[attr-defined]
        return inner

    return wrap
