"""The OpenAPI 3.0 document, built from the route table (`stationmap.api.routes`), and the route that serves it.

Each operation lists its query parameters and headers, its request body, the security it needs and
every answer it can give: its success (`Doc.status`), the errors every route can give (400 bad
parameters or Host; 404 under a path with parameters; 401 with a token scheme; 413 on writes, whose
bodies are read bounded; 429 rate limit), and the route's own answers (`Doc.responses`: 403, 409, 428,
202 for a queued computation ...). Errors are application/problem+json under the JSON prefixes; pages
answer HTML unless JSON is asked for.
"""
from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Iterable

from .core import JSON_PREFIXES, PROBLEM_MEDIA, WRITE_METHODS, Answer, Request, json_answer
from .routes import TABLE, Doc, Reply, Route

if TYPE_CHECKING:
    from .service import Service

OPENAPI_MEDIA = "application/vnd.oai.openapi+json;version=3.0"

PROBLEM = {"type": "object", "description": "RFC 9457 problem details; `detail` says what to change",
           "required": ["type", "title", "status", "detail"],
           "properties": {k: {"type": t} for k, t in (("type", "string"), ("title", "string"), ("status", "integer"),
                                                         ("detail", "string"), ("instance", "string"))}}
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "An API token: `stationmap user token NAME`, or the token POST /api/auth/login returns."},
}
# response header: (description, always sent with the answers that list it)
HEADERS: dict[str, tuple[str, bool]] = {
    "Location": ("Where the new resource (or the queued job) is.", True),
    "ETag": ("The station's version: send it back as If-Match to change the station.", True),
    "Retry-After": ("Seconds to wait before trying again.", False),
    "WWW-Authenticate": ("The token scheme to use: Bearer.", True),
}
ERRORS = {
    400: "Bad request: the detail says which parameter, header or field and what is allowed",
    401: "No valid credentials: a missing, unknown, expired or revoked token",
    403: "Forbidden: the account may not touch this station (another district)",
    404: "Not found",
    409: "Conflict",
    413: "The request body is too large",
    428: "Precondition required",
    429: "Too many requests: wait (Retry-After) and try again",
    503: "Service unavailable: try again later (Retry-After)",
}


def _problem_content(path: str) -> dict[str, Any]:
    problem = {PROBLEM_MEDIA: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    if path.startswith(JSON_PREFIXES):
        return problem
    return {"text/html": {"schema": {"type": "string"}}, **problem}  # a page's error, or JSON when asked for


def _headers(names: tuple[str, ...]) -> dict[str, Any]:
    return {n: {"description": HEADERS[n][0], "required": HEADERS[n][1], "schema": {"type": "string"}} for n in names}


def _reply(path: str, doc: Doc, reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.help}
    if reply.status >= 400:
        out["content"] = _problem_content(path)
    elif reply.status != 204:
        out["content"] = {m: {"schema": reply.schema} if reply.schema else {} for m in reply.media or doc.media}
    if reply.headers:
        out["headers"] = _headers(reply.headers)
    return out


def default_replies(route: Route) -> list[Reply]:
    """The answers a route gives whatever its handler does: its success, bad input, rate limit, and by its kind
    unknown resources, missing credentials and oversized bodies."""
    doc = route.doc
    replies = [Reply(doc.status, HTTPStatus(doc.status).phrase), Reply(400, ERRORS[400]),
               Reply(429, ERRORS[429], ("Retry-After",))]
    if route.arguments:
        replies.append(Reply(404, ERRORS[404]))
    if doc.auth:
        replies.append(Reply(401, ERRORS[401], ("WWW-Authenticate",)))
    if route.method in WRITE_METHODS:
        replies.append(Reply(413, ERRORS[413]))
    return replies


def responses(route: Route) -> dict[str, Any]:
    """Every status the operation can answer with: the defaults, overridden and extended by the route's own
    (a Reply without help text takes the generic description of its status)."""
    chosen = {r.status: r for r in default_replies(route)}
    chosen.update({r.status: r if r.help else Reply(r.status, ERRORS[r.status], r.headers, r.media, r.schema)
                   for r in route.doc.responses})
    return {str(s): _reply(route.path, route.doc, chosen[s]) for s in sorted(chosen)}


def operation(route: Route, settings: dict[str, Any]) -> dict[str, Any]:
    """One OpenAPI operation: parameters (query, header, path), body, security and responses."""
    doc = route.doc
    params = [p.bounded(settings).openapi() for p in doc.params]
    params += [{"name": name, "in": "path", "required": True, "description": help_, "schema": {"type": "string"}}
               for name, help_ in doc.path_params.items()]
    for arg in sorted(set(route.arguments) - set(doc.path_params)):  # every path parameter is declared
        params.append({"name": arg, "in": "path", "required": True, "schema": {"type": "string"}})
    op: dict[str, Any] = {
        "summary": doc.summary, "description": doc.description or doc.summary,
        "operationId": f"{route.name.replace('.', '_')}_{route.method.lower()}", "tags": [doc.tag],
        "parameters": params}
    if doc.body is not None:
        op["requestBody"] = doc.body.openapi()
    if doc.auth:
        op["security"] = [{doc.auth: []}]
    op["responses"] = responses(route)
    return op


def build(routes: Iterable[Route], settings: dict[str, Any]) -> dict[str, Any]:
    """The document for `routes` (bounds that are settings filled in from `settings`)."""
    paths: dict[str, Any] = {}
    for route in sorted(routes, key=lambda r: (r.path, r.method.lower())):
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route, settings)
    return {
        "openapi": "3.0.3",
        "info": {"title": "揭阳市总工会 工会驿站地图 API — Jieyang union rest-station map", "version": "1",
                 "description": "Stations, nearest search, coverage planning and boundaries. Geometry is WGS-84 "
                                "(RFC 7946); stations also carry GCJ-02 and BD-09 coordinates. Population figures "
                                "are modelled. Errors are application/problem+json (RFC 9457).",
                 "license": {"name": "MIT"}},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": {"Problem": PROBLEM}, "securitySchemes": SECURITY_SCHEMES},
    }


@TABLE.group("api").get("/api/openapi.json", "This document: OpenAPI 3 description of every route of the service.",
                        tag="service", media=(OPENAPI_MEDIA,))
def openapi_view(svc: "Service", req: Request) -> Answer:
    return json_answer(build(svc.routes, svc.settings), media=OPENAPI_MEDIA)
