"""A floor for the HTTP benchmark: the bytes and headers of this app's `GET /api/nearest` answer, fetched once
at start and served by a plain WSGI callable (no Flask, no rate limit, no header hooks), so that a run shows what
gunicorn itself costs for this answer beside what Flask, the web layer and the answer add
(`gunicorn -w 2 'plain_app:create_app()'`, from the benchmarks folder)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from floor_app import NEAREST  # noqa: E402


def create_app() -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    import web

    got = web.create_app().test_client().get(NEAREST)
    status, headers, body = got.status, list(got.headers.items()), got.get_data()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(status, headers)
        return [body]

    return app
