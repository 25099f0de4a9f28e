"""The route table: every operation of the API once, with what it takes and what it answers.

A route is a method, a path template (`/api/stations/{station_id}`), a name, its documentation (`Doc`:
parameters from `stationmap.params`, body, security, answers) and its handler. The web app registers
one view per route, the static export and the tests call the routes in process, and /api/openapi.json
is built from this table, so the three cannot drift. Adding a route is one decorated function in a
group module:

    route = TABLE.group("api")

    @route.get("/api/things/{thing_id}", "One thing.", params=(KIND,), tag="stations")
    def thing(svc: Service, req: Request, thing_id: str, kind: str | None) -> Answer: ...

The handler gets the service (settings, store, accounts ...), the request, the path's values and the
declared parameters parsed (`parse_args`), and the parsed body as `body` when the Doc declares one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterator
from urllib.parse import quote, urlencode

from ..checks import json_document
from ..errors import InvalidInput
from ..params import Param
from .core import Answer, Request

Handler = Callable[..., Answer]
_ARG = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Body:
    """A request body: the JSON schema the document shows, and how the handler receives it (`body=`)."""

    help: str
    schema: dict[str, Any]
    media: str = "application/json"
    raw: bool = False  # the handler gets the bytes as sent (a signature is computed over them), not the JSON

    def openapi(self) -> dict[str, Any]:
        return {"required": True, "description": self.help, "content": {self.media: {"schema": self.schema}}}

    def parse(self, data: bytes) -> Any:
        """The body as bytes, or as the JSON value the schema's top level says; else InvalidInput."""
        if self.raw:
            return data
        value = json_document(data)
        if self.schema.get("type") == "object" and not isinstance(value, dict):
            raise InvalidInput(f"send a JSON object ({self.media}): {self.help}")
        return value


@dataclass(frozen=True)
class Reply:
    """An answer a route gives besides those every route can give (stationmap.api.openapi adds 400, 404, 413,
    429 ...), or a better description of one of those or of the route's success (`Doc.status`).

    An error (status >= 400) is a problem document. `headers` name response headers described once in
    stationmap.api.openapi.HEADERS; `schema` is a success body's JSON schema.
    """

    status: int
    help: str
    headers: tuple[str, ...] = ()
    media: tuple[str, ...] | None = None  # successes: the route's `media` unless given
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Doc:
    """What /api/openapi.json says about one route, and the inputs the route is given parsed."""

    summary: str
    params: tuple[Param, ...] = ()
    description: str = ""
    tag: str = "api"
    media: tuple[str, ...] = ("application/json",)
    strict: bool = True  # refuse unknown query parameters
    path_params: dict[str, str] = field(default_factory=dict)
    status: int = 200  # the success
    body: Body | None = None
    auth: str | None = None  # the security scheme a caller needs (openapi.SECURITY_SCHEMES), e.g. "bearer"
    responses: tuple[Reply, ...] = ()


@lru_cache(maxsize=None)
def _pattern(path: str) -> re.Pattern[str]:
    """The regular expression of a path template, made once: every request tries the routes in turn."""
    return re.compile("^" + _ARG.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(path).replace(r"\{", "{")
                                     .replace(r"\}", "}")) + "$")


@dataclass(frozen=True)
class Route:
    """One operation. `handler` is None for a route another layer serves (the web app's HTML pages), which
    the table lists only so that the document describes it.

    `challenge`: a 401 names the Bearer scheme (WWW-Authenticate); `private`: answers are never cached.
    """

    method: str
    path: str
    name: str
    doc: Doc
    handler: Handler | None = None
    strict_slashes: bool = True
    challenge: bool = False
    private: bool = False

    @property
    def arguments(self) -> tuple[str, ...]:
        """The path's parameter names, in order."""
        return tuple(_ARG.findall(self.path))

    def match(self, path: str) -> dict[str, str] | None:
        """The path's values if `path` is this route's (percent-decoded by the caller), else None."""
        pattern = _pattern(self.path)
        found = pattern.match(path)
        if found is None and not self.strict_slashes:
            found = pattern.match(path.rstrip("/") + "/")
        return found.groupdict() if found else None

    def build(self, **values: Any) -> str:
        """The path with its parameters filled in (percent-encoded as web servers route them)."""
        return _ARG.sub(lambda m: quote(str(values[m.group(1)]), safe="!$&'()*+,/:;=@"), self.path)

    def finish(self, answer: Answer) -> Answer:
        """The headers every answer of this route carries, errors included."""
        if self.challenge and answer.status == 401:
            answer.headers["WWW-Authenticate"] = 'Bearer realm="stationmap"'
        if self.private:
            answer.headers["Cache-Control"] = "no-store"
        return answer


class RouteTable:
    """The routes, in the order declared; names are unique."""

    def __init__(self, routes: list[Route] | None = None):
        self.routes: list[Route] = list(routes or [])

    def __iter__(self) -> Iterator[Route]:
        return iter(self.routes)

    def copy(self) -> "RouteTable":
        return RouteTable(self.routes)

    def add(self, route: Route) -> Route:
        if any(r.name == route.name and r.method == route.method for r in self.routes):
            raise ValueError(f"route {route.name} ({route.method}) is declared twice")
        self.routes.append(route)
        return route

    def named(self, name: str) -> Route:
        for r in self.routes:
            if r.name == name:
                return r
        raise KeyError(name)

    def url(self, name: str, query: dict[str, Any] | None = None, **values: Any) -> str:
        """The path of the named route with `values` filled in, and `query` as a query string."""
        path = self.named(name).build(**values)
        return f"{path}?{urlencode(query)}" if query else path

    def find(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """(route, path values, methods allowed at the path): route None when nothing matches `method`."""
        allowed: list[str] = []
        for r in self.routes:
            values = r.match(path)
            if values is None:
                continue
            if r.method == method or (method == "HEAD" and r.method == "GET"):
                return r, values, []
            allowed.append(r.method)
        return None, {}, allowed

    def group(self, prefix: str, **options: Any) -> "Group":
        return Group(self, prefix, options)


ROUTE_OPTIONS = ("strict_slashes", "challenge", "private")


@dataclass
class Group:
    """Routes named `<prefix>.<handler name>`, declared with decorators, sharing `options` (Route or Doc fields)."""

    table: RouteTable
    prefix: str
    options: dict[str, Any]

    def route(self, method: str, path: str, summary: str, params: tuple[Param, ...] | list[Param] = (),
              **options: Any) -> Callable[[Handler], Handler]:
        """Register the decorated handler; `options` are Route fields (`ROUTE_OPTIONS`) or Doc fields."""
        def register(handler: Handler) -> Handler:
            doc = {**self.options, **options}
            opts = {k: doc.pop(k) for k in ROUTE_OPTIONS if k in doc}
            self.table.add(Route(method, path, f"{self.prefix}.{handler.__name__}",
                                 Doc(summary, tuple(params), **doc), handler, **opts))
            return handler

        return register

    def get(self, path: str, summary: str, params: tuple[Param, ...] | list[Param] = (), **kw: Any):
        return self.route("GET", path, summary, params, **kw)

    def post(self, path: str, summary: str, params: tuple[Param, ...] | list[Param] = (), **kw: Any):
        return self.route("POST", path, summary, params, **kw)

    def patch(self, path: str, summary: str, params: tuple[Param, ...] | list[Param] = (), **kw: Any):
        return self.route("PATCH", path, summary, params, **kw)

    def delete(self, path: str, summary: str, params: tuple[Param, ...] | list[Param] = (), **kw: Any):
        return self.route("DELETE", path, summary, params, **kw)


@dataclass(frozen=True)
class _Plan:
    """What parsing a Doc's inputs needs that the Doc alone decides, made once per Doc."""

    known: frozenset[str]
    allowed: str
    params: tuple[tuple[Param, str, bool, Any], ...]  # (parameter, keyword, read from the headers, default)


_PLANS: dict[int, tuple[Doc, _Plan]] = {}
_BOUNDED: dict[tuple[int, Any], tuple[Param, Param]] = {}


def _plan(doc: Doc) -> _Plan:
    kept = _PLANS.get(id(doc))
    if kept is None or kept[0] is not doc:
        known = [p.name for p in doc.params if p.location == "query"]
        plan = _Plan(frozenset(known), ", ".join(dict.fromkeys(known)) or "none",
                     tuple((p, p.arg, p.location == "header", () if p.type == "array" and p.default is None
                            else p.default) for p in doc.params))
        kept = _PLANS[id(doc)] = (doc, plan)
    return kept[1]


def _bounded(p: Param, settings: dict[str, Any]) -> Param:
    """`p.bounded(settings)`, kept per parameter and setting value (a new Param per request cost more than the parse)."""
    if not p.limit:
        return p
    key = (id(p), settings[p.limit])
    kept = _BOUNDED.get(key)
    if kept is None or kept[0] is not p:
        kept = _BOUNDED[key] = (p, p.bounded(settings))
    return kept[1]


def parse_args(doc: Doc, req: Request, settings: dict[str, Any]) -> dict[str, Any]:
    """Query and header values -> {keyword: value} through the declarations; defaults filled in;
    InvalidInput on bad input, and on an unknown query parameter when the Doc is strict."""
    plan = _plan(doc)
    given = frozenset(req.query.keys())
    if doc.strict:
        unknown = sorted(given - plan.known)
        if unknown:
            raise InvalidInput(f"unknown parameter(s) {', '.join(repr(u[:40]) for u in unknown)}; "
                               f"allowed: {plan.allowed}")
    out: dict[str, Any] = {}
    for p, arg, header, default in plan.params:
        values = req.headers.peek(p.name) if header else req.query.peek(p.name) if p.name in given else None
        if values and p.type != "boolean":
            values = [v for v in values if v.strip()]  # an empty form field means "not given"
        if not values:
            if p.required:
                what = "header" if header else "parameter"
                raise InvalidInput(f"{what} {p.name!r} is required: {p.help}")
            out[arg] = default
        else:
            out[arg] = _bounded(p, settings).parse(values)
    return out


TABLE = RouteTable()  # filled by the group modules (stationmap.api imports them all)
