"""Station management on the web: the /admin page, and the transport around the management routes.

The management API itself (sign-in, edits, audit, telemetry, usage, live status) is `stationmap.api.admin`.
`init_app` sets up rate limits (`web.ratelimit`: public per client address, telemetry per station and address,
login per address; counted in Redis when `redis_url` is set, so that they hold across workers and machines) and
trusts X-Forwarded-For only from `proxy_count` proxies.
"""
from __future__ import annotations

from flask import Blueprint, Flask, Request, current_app, render_template

from stationmap.api.admin import district_names
from stationmap.ops.reports import page_words

from . import settings, store
from .params import documented

bp = Blueprint("admin", __name__)
TELEMETRY_ENDPOINT = "admin.telemetry_post"
LOGIN_ENDPOINT = "admin.login"


def init_app(app: Flask) -> None:
    """Proxies, rate limits, and the admin page."""
    cfg = app.config["STATIONMAP"]
    if cfg["proxy_count"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = int(cfg["proxy_count"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    from . import ratelimit

    ratelimit.init_app(app, _rate_limit, _rate_key, cfg["redis_url"])
    app.register_blueprint(bp)


def _rate_limit(endpoint: str) -> str:
    cfg = current_app.config["STATIONMAP"]
    if endpoint == TELEMETRY_ENDPOINT:
        return cfg["rate_limit_telemetry"]
    if endpoint == LOGIN_ENDPOINT:
        return cfg["rate_limit_login"]
    return cfg["rate_limit_public"]


def _rate_key(req: Request) -> str:
    addr = req.remote_addr or "unknown"
    if req.endpoint == TELEMETRY_ENDPOINT:  # per station and address: a flood from elsewhere does not mute the device
        return f"station:{str((req.view_args or {}).get('station_id', ''))[:100]}:{addr}"
    return addr


@bp.get("/admin")
@documented("Station management page (HTML; sign in with a name and password).", tag="pages", media=("text/html",))
def admin_page() -> str:
    d_names = district_names()
    return render_template("admin.html", districts=[(code, d_names[code]) for code in d_names.index],
                           stale_after_s=settings()["status_unknown_after_s"],
                           sample=any(s.demo for s in store().all()), words=page_words())
