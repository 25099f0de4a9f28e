"""Start the real app on a free loopback port in a background thread (for API, OGC API and browser tests)."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import make_server


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
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="stationmap-live-server", daemon=True)
    thread.start()
    return LiveServer(f"http://127.0.0.1:{server.server_port}", app, server, thread)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
