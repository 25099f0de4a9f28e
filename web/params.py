"""Inputs declared once per route: the view gets them parsed, and /api/openapi.json is built from them.

`@documented(summary, params=[...], body=..., auth=..., responses=...)` on a view records its
documentation and parses the query (`request.args`), the declared headers and the body through the
declarations before the view runs, so the OpenAPI document and the code cannot drift: a parameter the
view reads is a parameter the document lists, and an unknown query parameter is refused (400).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, request

from stationmap.checks import json_document
from stationmap.errors import InvalidInput
from stationmap.params import Param

from .guards import request_body


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
            out[p.arg] = p.bounded(current_app.config["STATIONMAP"]).parse(values)
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
