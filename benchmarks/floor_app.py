"""A peer for the HTTP benchmark: this app with `GET /api/nearest` answered from a stored copy of its answer
(the same bytes, computed once at start), so that a run shows what the web layer itself costs beside what
the answer costs (`gunicorn -w 2 'floor_app:create_app()'`, from the benchmarks folder)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stationmap.api import Request  # noqa: E402
from stationmap.api.core import Answer  # noqa: E402

NEAREST = "/api/nearest?lat=23.548&lon=116.372&k=5"


def create_app() -> Any:
    import web

    app = web.create_app()
    svc = app.extensions["stationmap"]
    route = next(r for r in svc.routes if r.path == "/api/nearest")
    stored = svc.call(route, Request.make("GET", NEAREST), {})

    def stored_answer(svc_: Any, req: Request, **_args: Any) -> Answer:
        return Answer(stored.status, stored.body, stored.media, dict(stored.headers))

    object.__setattr__(route, "handler", stored_answer)
    return app
