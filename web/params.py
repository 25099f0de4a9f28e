"""Inputs declared once per page view, as the API's routes declare theirs (`stationmap.api.routes`).

`@documented(summary, params=[...], ...)` on a Flask view (the HTML pages) records its documentation,
which the app adds to the API's route table for /api/openapi.json, and parses the query and the
declared headers through the declarations before the view runs: an unknown query parameter is refused
(400), as on every API route.
"""
from __future__ import annotations

import functools
from typing import Any

from stationmap.api.routes import Body, Doc, Reply, parse_args
from stationmap.params import Param

from . import settings
from .api import to_request

__all__ = ["Body", "Doc", "Param", "Reply", "documented"]


def documented(summary: str, params: tuple[Param, ...] | list[Param] = (), **kwargs: Any):
    """Attach a Doc to a view and pass it the parsed query parameters and headers as keyword arguments,
    and the parsed body as `body` when the Doc declares one."""
    doc = Doc(summary=summary, params=tuple(params), **kwargs)

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kw):
            req = to_request()
            values = parse_args(doc, req, settings())
            if doc.body is not None:
                values["body"] = doc.body.parse(req.body)
            return view(*args, **kw, **values)

        inner.api_doc = doc  # type: ignore[attr-defined]
        return inner

    return wrap
