"""The service: what every handler is given (settings, registry, accounts, audit log, telemetry, the queue of
costly questions and the route table), and the one place a request becomes an answer.

`Service.handle(request)` routes and answers a request built anywhere (the static export, tests);
`Service.call(route, request, values)` answers a request already routed (the web app routes with its own
URL map). Either way the declared parameters and body are parsed, and every library error becomes an
RFC 9457 problem document with the status the error carries.
"""
from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .. import config
from ..errors import StationmapError
from ..ops.accounts import Accounts, open_accounts
from ..ops.audit import AuditLog, open_audit
from ..ops.db import shared_database
from ..ops.reports import Reports, open_reports
from ..ops.telemetry import Telemetry, open_telemetry
from ..query.jobs import Jobs
from ..servers import unavailable
from ..store import StationStore, open_store
from .core import JSON_PREFIXES, Answer, NotYet, Request, problem_answer, public_base
from .routes import TABLE, Doc, Route, RouteTable, parse_args

if TYPE_CHECKING:
    from ..files.geocode import Geocoder

log = logging.getLogger(__name__)


class Service:
    """One running service over one data directory. Opened parts are shared by every request."""

    def __init__(self, settings: dict[str, Any], routes: RouteTable | None = None,
                 store: StationStore | None = None):
        settings["public_url"] = public_base(settings["public_url"])
        self.settings = settings
        self.data_dir = config.data_dir(settings)
        self.routes = (routes or TABLE).copy()
        self.store: StationStore = store or open_store(self.data_dir, backend=settings["store"])

    @classmethod
    def open(cls, overrides: dict[str, Any] | None = None) -> "Service":
        """A service from the settings (defaults < STATIONMAP_* environment < `overrides`)."""
        return cls(config.load_settings(overrides))

    @cached_property
    def accounts(self) -> Accounts:
        return open_accounts(self.data_dir, shared_database(self.settings))

    @cached_property
    def audit(self) -> AuditLog:
        return open_audit(self.data_dir, shared_database(self.settings))

    @cached_property
    def telemetry(self) -> Telemetry:
        return open_telemetry(self.data_dir, shared_database(self.settings))

    @cached_property
    def geocoder(self) -> Geocoder:
        from ..files import geocode

        return geocode.from_settings(self.settings)

    @cached_property
    def reports(self) -> Reports:
        cfg = self.settings
        return open_reports(self.data_dir, shared_database(cfg), self.audit, client_limit=cfg["report_client_limit"],
                            station_limit=cfg["report_station_limit"])

    @cached_property
    def jobs(self) -> Jobs:
        return Jobs.from_settings(self.data_dir, self.settings)

    # -- links ---------------------------------------------------------------------------------
    def link(self, req: Request, name: str, query: dict[str, Any] | None = None, **values: Any) -> str:
        """A link to the named route, relative to the host (as pages and Location headers use them)."""
        return req.root + self.routes.url(name, query, **values)

    def external_url(self, req: Request, name: str, query: dict[str, Any] | None = None, **values: Any) -> str:
        """An absolute link to the named route: on `public_url` when set, else on the request's (checked) base."""
        base = self.settings["public_url"] or req.base_url
        return base + self.routes.url(name, query, **values)

    # -- answering -------------------------------------------------------------------------------
    def document(self, method: str, path: str, name: str, doc: Doc) -> None:
        """List a route another layer serves (an HTML page) so that the API document describes it."""
        self.routes.add(Route(method, path, name, doc))

    def handle(self, req: Request) -> Answer:
        """Route and answer a request: 404 for an unknown path, 405 (with Allow) for a method not served there."""
        route, values, allowed = self.routes.find(req.method, req.path)
        if route is None or route.handler is None:
            if allowed:
                listed = ", ".join(sorted(allowed))
                return problem_answer(405, "Method Not Allowed", f"{req.method} is not allowed at {req.path[:100]}; "
                                      f"use {listed}", instance=req.path, headers={"Allow": listed})
            where = "see /api/openapi.json for the routes" if req.path.startswith(JSON_PREFIXES) else "nothing here"
            return problem_answer(404, "Not Found", f"nothing at {req.path[:100]}; {where}", instance=req.path)
        return self.call(route, req, values)

    def call(self, route: Route, req: Request, values: dict[str, str] | None = None) -> Answer:
        """The route's answer to the request: inputs parsed, errors as problem documents."""
        assert route.handler is not None, route.name
        try:
            args = parse_args(route.doc, req, self.settings)
            if route.doc.body is not None:
                args["body"] = route.doc.body.parse(req.body)
            answer = route.handler(self, req, **(values or {}), **args)
        except NotYet as wait:
            answer = wait.interim(self, req)
        except StationmapError as err:
            answer = refusal(unavailable(err) or err, req.path)  # a server away is logged once per outage
        except Exception as exc:  # a shared server away (503), or a bug: logged, a 500 without a traceback
            away = unavailable(exc)
            if away is not None:  # logged once per outage by `unavailable`
                answer = refusal(away, req.path)
            else:
                log.exception("unexpected error on %s %s", req.method, req.path)
                answer = problem_answer(500, "Internal server error", "the server failed; the error was logged",
                                        instance=req.path)
        return route.finish(answer)


def refusal(err: StationmapError, path: str) -> Answer:
    """A library error as a problem document (with Retry-After when the error says when to try again)."""
    retry = getattr(err, "retry_after", None)
    return problem_answer(err.status, err.title, str(err), err.type_uri, path,
                          {"Retry-After": str(retry)} if retry else None)
