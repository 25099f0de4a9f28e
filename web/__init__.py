"""The stationmap web service: JSON API (/api), OGC API – Features (/ogcapi) and the map pages.

A thin adapter over the `stationmap` library: views parse parameters, call the library and shape
the answer. Production: `gunicorn -w 2 -b 0.0.0.0:8000 'web:create_app()'`.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from stationmap import config
from stationmap.errors import StationmapError
from stationmap.store import StationStore, open_store

log = logging.getLogger(__name__)
JSON_PREFIXES = ("/api", "/ogcapi", "/healthz")


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app from settings (defaults < STATIONMAP_* environment < `overrides`)."""
    settings = config.load_settings(overrides)
    from stationmap.maps import mapview

    mapview.check_basemap(settings["basemap"], settings)  # refuse a Tianditu default without a key, at start
    app = Flask(__name__)
    app.config["STATIONMAP"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.get("max_request_bytes")
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["stationmap_store"] = open_store(config.data_dir(settings), backend=settings["store"])

    if settings["cors_origins"]:
        from flask_cors import CORS

        origins = list(settings["cors_origins"])
        CORS(app, resources={r"/api/*": {"origins": origins}, r"/ogcapi/*": {"origins": origins}},
             expose_headers=["Content-Disposition"])

    from . import admin, api, guards, ogcapi, pages, questions

    app.register_blueprint(api.bp, url_prefix="/api")
    app.register_blueprint(api.health_bp)
    app.register_blueprint(ogcapi.bp, url_prefix="/ogcapi")
    app.register_blueprint(pages.bp)
    admin.init_app(app)  # accounts, editing, audit, telemetry, usage, rate limits
    questions.init_app(app)  # costly questions computed apart, answers shared between workers
    guards.init_app(app)  # Host check and bounded write bodies, after the rate limits
    app.register_error_handler(StationmapError, _problem)
    app.register_error_handler(HTTPException, _problem)
    app.register_error_handler(Exception, _unexpected)
    return app


def store() -> StationStore:
    return current_app.extensions["stationmap_store"]


def settings() -> dict[str, Any]:
    return current_app.config["STATIONMAP"]


def _wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES) or request.accept_mimetypes.best == "application/json"


def problem_response(status: int, title: str, detail: str, type_uri: str = "about:blank") -> Response:
    """An RFC 9457 problem document."""
    resp = jsonify(type=type_uri, title=title, status=status, detail=detail, instance=request.path)
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    return resp


def _problem(err: Exception) -> Response:
    """The one error handler: library errors and HTTP errors as problem+json (API) or a short page."""
    if isinstance(err, HTTPException):
        status, title, detail, type_uri = err.code or 500, err.name, _http_detail(err), "about:blank"
    else:
        assert isinstance(err, StationmapError)
        status, title, detail, type_uri = err.status, err.title, str(err), err.type_uri
    if _wants_json():
        resp = problem_response(status, title, detail, type_uri)
    else:
        resp = Response(render_template("error.html", status=status, title=title, detail=detail), status,
                        mimetype="text/html")
    if isinstance(err, HTTPException) and status == 405 and err.valid_methods:
        resp.headers["Allow"] = ", ".join(err.valid_methods)  # RFC 9110: a 405 lists what is allowed, page or API
    if isinstance(err, StationmapError) and getattr(err, "retry_after", None):
        resp.headers["Retry-After"] = str(err.retry_after)
    return resp


def _http_detail(err: HTTPException) -> str:
    """What to change, for the HTTP errors werkzeug and Flask-Limiter raise (their own texts are generic)."""
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
    """Anything else (HTTP and library errors have their own handler): logged, a 500 without a traceback."""
    log.exception("unexpected error on %s %s", request.method, request.path)
    if _wants_json():
        return problem_response(500, "Internal server error", "the server failed; the error was logged")
    return render_template("error.html", status=500, title="Internal server error",
                           detail="The server failed; the error was logged."), 500


__all__ = ["create_app", "store", "settings", "problem_response"]
