"""Start the real app on a free loopback port in a background thread (for API, OGC API and browser tests)."""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    """No access log line per request (thousands in the contract runs); errors are still logged."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class LiveServer:
    url: str
    app: Any
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


def start(overrides: dict[str, Any]) -> LiveServer:
    """The app from `web.create_app(overrides)` served threaded on 127.0.0.1:<free port>."""
    from web import create_app

    app = create_app(overrides)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="stationmap-live-server", daemon=True)
    thread.start()
    return LiveServer(f"http://127.0.0.1:{server.server_port}", app, server, thread)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}


def answered(fetch, wait_s: float = 180.0):
    """The response to a costly question: `fetch()` again after each 202 until the answer is in.

    The 202 itself is checked on the way: it names the job to poll (Location) and a Retry-After.
    """
    import time

    deadline = time.monotonic() + wait_s
    resp = fetch()
    while resp.status_code == 202:
        assert resp.headers["Location"].startswith("/api/jobs/") and int(resp.headers["Retry-After"]) >= 1
        assert time.monotonic() < deadline, "the question was not answered in time"
        time.sleep(0.1)
        resp = fetch()
    return resp


def loopback_page(browser, **ctx_args):
    """(context, page) of a phone-sized zh-CN page that may reach only loopback: every other request is aborted
    and listed in `page.external`; loopback ones in `page.local`; script errors in `page.errors`.

    The offline worker is blocked unless `service_workers="allow"` is passed: every new context would install it
    afresh (the worker and its Workbox modules, then the page's files fetched again to keep), and it changes
    nothing while online (pages and answers network-first, versioned files by content); test_offline_e2e
    covers it."""
    ctx_args.setdefault("viewport", PHONE)
    ctx_args.setdefault("service_workers", "block")
    ctx = browser.new_context(device_scale_factor=1, locale="zh-CN", timezone_id="Asia/Shanghai", **ctx_args)
    page = ctx.new_page()
    page.external, page.local, page.errors = [], [], []

    def outside(r):
        page.external.append(r.request.url)
        r.abort()

    # matched by Playwright itself: loopback requests go on without a round trip through this process
    ctx.route(re.compile(r"^(?!(?:http://127\.0\.0\.1[:/]|file:|data:|about:))"), outside)
    page.on("request", lambda r: page.local.append(r.url) if r.url.startswith("http://127.0.0.1") else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return ctx, page
