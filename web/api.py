"""The Flask side of `stationmap.api`: one URL rule per route of the table, each a view that turns
`flask.request` into a `Request`, lets the service answer it, and turns the `Answer` into a response.

Routing, rate limits, CORS, proxies, security headers and the Host check stay Flask's (web/); what a
route takes and answers is the API layer's alone.
"""
from __future__ import annotations

import re
from typing import Any, Callable
from urllib.parse import parse_qsl

from flask import Flask, Response, request

from stationmap.api import Answer, Fields, Request, Route, Service
from stationmap.api.core import WRITE_METHODS

from .guards import request_body

_ARG = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PLAIN_HOST = re.compile(r"[A-Za-z0-9.\-]+(?::[0-9]+)?|\[[0-9A-Fa-f:.]+\](?::[0-9]+)?")


def flask_rule(path: str) -> str:
    """'/api/stations/{station_id}' -> '/api/stations/<station_id>'."""
    return _ARG.sub(r"<\1>", path)


def to_request() -> Request:
    """The current Flask request as the API layer sees it (a write's body read bounded by web.guards). The
    query is parsed from the environ as werkzeug parses `request.args`; headers are read only if a handler
    asks for one."""
    req = request._get_current_object()  # type: ignore[attr-defined]  (one lookup, not one per attribute)
    env = req.environ
    query = parse_qsl(env.get("QUERY_STRING", "").encode("latin1").decode(), keep_blank_values=True,
                      errors="werkzeug.url_quote")
    return Request(req.method, req.path, Fields(query), Fields(req.headers.items(), folded=True),
                   request_body() if req.method in WRITE_METHODS else b"",
                   req.remote_addr or "unknown", _base_url(req), req.root_path)


_BASES: dict[tuple[str, str, str], str] = {}
MAX_BASES = 256  # distinct (scheme, Host, mount) triples kept; a flood of forged Hosts only empties the table


def _base_url(req: Any) -> str:
    """scheme://host plus the mount path, as `request.url_root` less its slash, kept per scheme, Host header
    and mount path. Built directly for a plain (not IDNA) host at the root: werkzeug's way round-trips the URL
    through IRI and URI quoting, which costs more than the rest of this adapter."""
    env = req.environ
    key = (req.scheme, env.get("HTTP_HOST") or f"{env.get('SERVER_NAME')}:{env.get('SERVER_PORT')}", req.root_path)
    base = _BASES.get(key)
    if base is None:
        host = req.host.lower()
        if not req.root_path and "xn--" not in host and _PLAIN_HOST.fullmatch(host):
            base = f"{req.scheme}://{host}"
        else:
            base = req.url_root.rstrip("/")
        if len(_BASES) >= MAX_BASES:
            _BASES.clear()
        _BASES[key] = base
    return base


def to_response(answer: Answer) -> Response:
    return Response(answer.body, answer.status, answer.headers, content_type=answer.content_type)


def _view(svc: Service, route: Route) -> Callable[..., Response]:
    def view(**values: Any) -> Response:
        return to_response(svc.call(route, to_request(), values))

    view.__name__ = view.__qualname__ = route.name.replace(".", "_")  # rate limits tell views apart by name
    return view


def register(app: Flask, svc: Service) -> None:
    """One URL rule per route the service answers, named as the route (url_for('api.stations') works)."""
    for route in svc.routes:
        if route.handler is not None:
            app.add_url_rule(flask_rule(route.path), endpoint=route.name, view_func=_view(svc, route),
                             methods=[route.method], strict_slashes=route.strict_slashes)


def document_pages(app: Flask, svc: Service) -> None:
    """Add the app's own documented views (the HTML pages) to the service's route table, so that the API
    document, built from the table alone, describes them too."""
    served = {r.name for r in svc.routes}
    for rule in app.url_map.iter_rules():
        doc = getattr(app.view_functions.get(rule.endpoint), "api_doc", None)
        if doc is None or rule.endpoint in served:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            svc.document(method, path, rule.endpoint, doc)


def route_named(svc: Service, endpoint: str | None) -> Route | None:
    """The API route behind a Flask endpoint, if it is one."""
    return next((r for r in svc.routes if r.name == endpoint and r.handler is not None), None)
