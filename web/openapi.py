"""OpenAPI 3.0 document built from the routes themselves (url_map + each view's `api_doc`)."""
from __future__ import annotations

import re
from typing import Any

from flask import current_app

PROBLEM = {"type": "object", "description": "RFC 9457 problem details",
           "properties": {k: {"type": t} for k, t in (("type", "string"), ("title", "string"), ("status", "integer"),
                                                         ("detail", "string"), ("instance", "string"))}}


def documented_rules() -> list[tuple[str, str, Any, Any]]:
    """(OpenAPI path, method, werkzeug rule, Doc) for every route method that carries documentation."""
    out = []
    for rule in current_app.url_map.iter_rules():
        view = current_app.view_functions.get(rule.endpoint)
        doc = getattr(view, "api_doc", None)
        if doc is None:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((path, method.lower(), rule, doc))
    return sorted(out, key=lambda t: (t[0], t[1]))


def build() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, method, rule, doc in documented_rules():
        params = [p.openapi() for p in doc.params]
        params += [{"name": name, "in": "path", "required": True, "description": help_, "schema": {"type": "string"}}
                   for name, help_ in doc.path_params.items()]
        for arg in sorted(rule.arguments - set(doc.path_params)):  # every path parameter is declared
            params.append({"name": arg, "in": "path", "required": True, "schema": {"type": "string"}})
        responses: dict[str, Any] = {"200": {"description": "OK", "content": {m: {} for m in doc.media}}}
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        responses["400"] = {"description": "Bad request: the detail says which parameter and what is allowed",
                            "content": problem}
        if rule.arguments:
            responses["404"] = {"description": "Not found", "content": problem}
        paths.setdefault(path, {})[method] = {
            "summary": doc.summary, "description": doc.description or doc.summary,
            "operationId": f"{rule.endpoint.replace('.', '_')}_{method}", "tags": [doc.tag],
            "parameters": params, "responses": responses}
    return {
        "openapi": "3.0.3",
        "info": {"title": "揭阳市总工会 工会驿站地图 API — Jieyang union rest-station map", "version": "1",
                 "description": "Stations, nearest search, coverage planning and boundaries. Geometry is WGS-84 "
                                "(RFC 7946); stations also carry GCJ-02 and BD-09 coordinates. Population figures "
                                "are modelled. Errors are application/problem+json (RFC 9457).",
                 "license": {"name": "MIT"}},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": {"Problem": PROBLEM}},
    }
