"""The stationmap web service: JSON API (/api), OGC API – Features (/ogcapi) and the map pages.

A thin Flask adapter: the API's routes are `stationmap.api`'s (one URL rule each, `web.api`); the map
pages and the admin page are Flask views over the library. Flask keeps what belongs to the transport:
routing, rate limits, CORS, proxies, the Host check, security headers and HTML error pages.
Production: `gunicorn -w 2 -b 0.0.0.0:8000 'web:create_app()'`.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from stationmap import config
from stationmap.api import Service
from stationmap.api.core import JSON_PREFIXES, Answer, problem_answer
from stationmap.api.service import refusal
from stationmap.errors import StationmapError
from stationmap.servers import unavailable
from stationmap.store import StationStore

log = logging.getLogger(__name__)


class App(Flask):
    """Flask, asking whether a hook or view is a coroutine once per function rather than on every request
    (`inspect.iscoroutinefunction` for each of a request's hooks cost more than some of the hooks)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._sync: dict[Any, Any] = {}

    def ensure_sync(self, func: Any) -> Any:
        sync = self._sync.get(func)
        if sync is None:
            sync = self._sync[func] = super().ensure_sync(func)
        return sync


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app from settings (defaults < STATIONMAP_* environment < `overrides`)."""
    settings = config.load_settings(overrides)
    from stationmap.maps import basemaps

    basemaps.check_basemap(settings["basemap"], settings)  # refuse a Tianditu default without a key, at start
    svc = Service(settings)
    app = App(__name__)
    app.config["STATIONMAP"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.get("max_request_bytes")
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["stationmap"] = svc

    if settings["cors_origins"]:
        from flask_cors import CORS

        origins = list(settings["cors_origins"])
        CORS(app, resources={r"/api/*": {"origins": origins}, r"/ogcapi/*": {"origins": origins}},
             expose_headers=["Content-Disposition"])

    from . import admin, api, assets, guards, pages

    api.register(app, svc)  # every route of stationmap.api
    app.register_blueprint(pages.bp)
    admin.init_app(app)  # rate limits, proxies, the admin page
    app.extensions["stationmap"].jobs  # noqa: B018  (opens the queue of costly questions now, not on the first)
    guards.init_app(app)  # Host check and bounded write bodies, after the rate limits
    assets.init_app(app)  # compression, fingerprinted static URLs, ETags and 304s
    api.document_pages(app, svc)  # the pages join the API document
    app.register_error_handler(StationmapError, _problem)
    app.register_error_handler(HTTPException, _problem)
    app.register_error_handler(Exception, _unexpected)
    return app


def service() -> Service:
    return current_app.extensions["stationmap"]


def store() -> StationStore:
    return service().store


def settings() -> dict[str, Any]:
    return service().settings


def _wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES) or request.accept_mimetypes.best == "application/json"


def problem_response(status: int, title: str, detail: str, type_uri: str = "about:blank") -> Response:
    """An RFC 9457 problem document."""
    from .api import to_response

    return to_response(problem_answer(status, title, detail, type_uri, request.path))


def _problem(err: Exception) -> Response:
    """The one error handler for what the API layer does not answer itself (routing, rate limits, the Host
    and body checks, the pages): problem+json under the JSON prefixes or when asked for, else a short page.
    An error on an API route carries that route's headers, as its own answers do."""
    from .api import route_named, to_response

    if isinstance(err, HTTPException):
        status, title, detail = err.code or 500, err.name, _http_detail(err)
        answer = problem_answer(status, title, detail, instance=request.path)
    else:
        assert isinstance(err, StationmapError)
        status, title, detail = err.status, err.title, str(err)
        answer = refusal(unavailable(err) or err, request.path)  # a server away is logged once per outage
    if not _wants_json():
        answer = Answer(status, render_template("error.html", status=status, title=title, detail=detail).encode(),
                        "text/html", {k: v for k, v in answer.headers.items() if k == "Retry-After"})
    if isinstance(err, HTTPException) and status == 405 and err.valid_methods:
        answer.headers["Allow"] = ", ".join(err.valid_methods)  # RFC 9110: a 405 lists what is allowed, page or API
    route = route_named(service(), request.endpoint)
    return to_response(route.finish(answer) if route else answer)


def _http_detail(err: HTTPException) -> str:
    """What to change, for the HTTP errors werkzeug and the rate limits raise (their own texts are generic)."""
    path = request.path[:100]
    if err.code == 404:
        where = "see /api/openapi.json for the routes" if path.startswith(JSON_PREFIXES) else "the map is at /map"
        return f"nothing at {path}; {where}"
    if err.code == 405:
        allowed = ", ".join(m for m in sorted(getattr(err, "valid_methods", None) or ()) if m not in ("HEAD", "OPTIONS"))
        return f"{request.method} is not allowed at {path}" + (f"; use {allowed}" if allowed else "")
    if err.code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        return "the request body is too large" + (f"; send at most {limit:,} bytes" if limit else "")
    if err.code == 429:
        return f"too many requests from this address ({err.description}); wait a minute and try again"
    return err.description or err.name


def _unexpected(err: Exception) -> Response | tuple[str, int]:
    """Anything else (HTTP and library errors have their own handler): a shared server away is a 503 (as the
    API answers it); the rest is logged, a 500 without a traceback."""
    away = unavailable(err)
    if away is not None:
        return _problem(away)
    log.exception("unexpected error on %s %s", request.method, request.path)
    if _wants_json():
        return problem_response(500, "Internal server error", "the server failed; the error was logged")
    return render_template("error.html", status=500, title="Internal server error",
                           detail="The server failed; the error was logged."), 500


__all__ = ["create_app", "service", "store", "settings", "problem_response"]
