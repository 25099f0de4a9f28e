"""The service's HTTP API without a web framework: request in, (status, headers, body) out.

- `core`: `Request`, `Answer` and the answers' shapes (JSON, GeoJSON, CSV, RFC 9457 problems);
- `routes`: the route table (`TABLE`), each route's documentation (`Doc`) and parameter parsing;
- `service`: `Service`, what handlers are given (settings, store, accounts, audit, telemetry, jobs) and
  the one place a request is answered (`Service.handle`, `Service.call`);
- the routes, by group: `stations` (stations, nearest, boundaries, health), `planning` (coverage,
  gaps, siting, jobs; `questions`: the 202 flow), `admin` (sign-in, edits, audit, telemetry, usage,
  live status), `reports` (workers' reports, last verified), `qr` (QR codes of the station pages), `ogc` (OGC API – Features), `openapi` (the document, built from the table).

The web app (`web/`) is a thin adapter over this package, and `stationmap render` calls it in process.
A new group module is added to the imports below; a new route is one decorated handler in its group.
"""
from __future__ import annotations

from . import admin, ogc, openapi, planning, qr, reports, stations  # noqa: F401  (each fills the route table)
from .core import Answer, Fields, Request
from .routes import TABLE, Body, Doc, Reply, Route, RouteTable
from .service import Service

__all__ = ["Answer", "Body", "Doc", "Fields", "Reply", "Request", "Route", "RouteTable", "Service", "TABLE"]
