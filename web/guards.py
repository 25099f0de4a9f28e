"""What every request must pass before a view runs: a known Host, and a write's body within bounds.

- Host: absolute links (OGC API) name the service's address. With `public_url` set they are built on
  it; otherwise on the request's Host, which must then be one of `allowed_hosts` or a loopback name,
  so a forged Host header cannot put another site into the links (400).
- Body: the body of every write is read once, at most `max_request_bytes` (413 beyond), before the
  view runs, whether the view reads it or not. Werkzeug cuts a chunked body (no Content-Length) off
  silently at MAX_CONTENT_LENGTH, so an oversized body arrived truncated and failed as bad JSON (400);
  reading one byte past the limit tells the two apart.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, g, request

from stationmap.api.core import WRITE_METHODS, public_base
from stationmap.errors import InvalidInput, PayloadTooLarge

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
MAX_PASSED = 64  # Host values remembered as allowed (forgotten all at once beyond this)
__all__ = ["WRITE_METHODS", "allowed_hosts", "check_host", "host_name", "init_app", "public_base", "request_body"]


def init_app(app: Flask) -> None:
    """Check the Host of every request, then read the body of every write (`public_url` is checked at start
    by the service): one hook for both. Host values found allowed are remembered (a few, by the header as sent)."""
    cfg = app.config["STATIONMAP"]
    allowed = app.extensions["stationmap_hosts"] = allowed_hosts(cfg["public_url"], cfg["allowed_hosts"])
    passed: set[str] = set()

    def check_request() -> None:
        req = request._get_current_object()  # type: ignore[attr-defined]
        if allowed is not None:
            sent = req.environ.get("HTTP_HOST")
            if sent is None or sent not in passed:
                check_host()
                if sent is not None:
                    if len(passed) >= MAX_PASSED:
                        passed.clear()
                    passed.add(sent)
        if req.method in WRITE_METHODS:
            request_body()

    app.before_request(check_request)


# -- Host ----------------------------------------------------------------------------------------
def host_name(host: str) -> str:
    """The name in a Host value, lower case: 'Map.example.org:8000' -> 'map.example.org', '[::1]:80' -> '[::1]'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[:host.find("]") + 1]
    return host.partition(":")[0]


def allowed_hosts(public_url: str, names: tuple[str, ...]) -> frozenset[str] | None:
    """Host names the service answers to; None for any (links are built on `public_url`, the Host is unused)."""
    if public_url and not names:
        return None
    allowed = {*LOOPBACK_HOSTS, *(host_name(n) for n in names)}
    if public_url:
        allowed.add(host_name(urlsplit(public_url).netloc))
    return frozenset(allowed)


def check_host() -> None:
    """Refuse (400) a request whose Host is not one the service is configured for."""
    allowed = current_app.extensions["stationmap_hosts"]
    if allowed is not None and host_name(request.host) not in allowed:
        shown = request.headers.get("Host", "")[:100]
        raise InvalidInput(f"unknown host {shown!r}: this service answers only to the names it is configured "
                           "for (STATIONMAP_PUBLIC_URL, STATIONMAP_ALLOWED_HOSTS)")


# -- body ------------------------------------------------------------------------------------------
def read_write_body() -> None:
    """Read the body of every write now, so an oversized one is refused (413) on every write route."""
    if request.method in WRITE_METHODS:
        request_body()


def request_body() -> bytes:
    """The request's body, read once, at most `max_request_bytes` long; PayloadTooLarge if it is longer."""
    if "request_body" not in g:
        g.request_body = _read_body(int(current_app.config["STATIONMAP"]["max_request_bytes"]))
    return g.request_body


def _read_body(limit: int) -> bytes:
    too_large = PayloadTooLarge(f"the request body is too large; send at most {limit:,} bytes")
    if (request.content_length or 0) > limit:
        raise too_large
    env = request.environ
    # a server that ends the input itself (gunicorn; werkzeug for chunked bodies) is read directly, up to one
    # byte past the limit: werkzeug's wrapper stops at the limit without telling whether more was sent
    stream = env["wsgi.input"] if env.get("wsgi.input_terminated") else request.stream
    data = bytearray()
    while len(data) <= limit:
        chunk = stream.read(limit + 1 - len(data))
        if not chunk:
            break
        data += chunk
    if len(data) > limit:
        raise too_large
    return bytes(data)
