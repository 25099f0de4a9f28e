"""HTML pages: /map (workers, mobile first), /embed (iframe for the union's site), /planner (coverage planning).

Maps come from `stationmap.maps.mapview` (folium); these views only pick stations and parameters, and set
the Content-Security-Policy: our own origin for scripts and styles, the configured tile hosts for
images, and frame-ancestors: on /embed the configured origins (`frame_origins`, by default * — any site,
as the embed is public and read-only), elsewhere ourselves only.
"""
from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for

from stationmap.maps import mapview
from stationmap.maps.pages import map_page as render_map_page
from stationmap.maps.pages import page_context
from stationmap.maps.words import LANGS, words
from stationmap.params import CENTER, DISTRICT, KIND, PLANNER_SITES, REACH, ZOOM
from stationmap.query import travel
from stationmap.query.nearest import select_stations

from . import settings, store
from .assets import asset_base
from .params import Param, Reply, documented
from .questions import COSTLY, Pending, status_json

bp = Blueprint("pages", __name__)


LANG = Param("lang", "string", "Interface language: zh (简体中文, default) or en.", enum=LANGS)
BASEMAP = Param("basemap", "string", "Basemap: osm, amap (高德, GCJ-02) or tianditu (天地图, needs a configured key).",
                enum=tuple(mapview.BASEMAPS))
VIEW = (CENTER, ZOOM)


def _common(lang: str | None, basemap: str | None) -> tuple[str, str]:
    cfg = settings()
    return lang or cfg["language"], mapview.check_basemap(basemap or cfg["basemap"], cfg)


@bp.get("/")
def index() -> Response:
    return redirect(url_for("pages.map_page"))


@bp.get("/map")
@documented("The workers' map (HTML): locate me, nearest stations, filters, navigation links.",
            params=(LANG, BASEMAP, *VIEW), tag="pages", media=("text/html",))
def map_page(lang, basemap, center, zoom) -> str:
    return map_html(lang, basemap, center, zoom)


def _served() -> dict[str, str]:
    """Where a served page finds its assets and the API (the static export has no API)."""
    return {"asset_base": asset_base(), "api_base": url_for("api.stations").rsplit("/", 1)[0]}


def map_html(lang: str | None, basemap: str | None, center=None, zoom=None, *, template: str = "map.html",
             **select: Any) -> str:
    """The worker map page (or the embed page), its map script inline under this response's CSP nonce."""
    lang, basemap = _common(lang, basemap)
    stations = select_stations(store().all(), **select) if select else store().all()
    return render_map_page(stations, settings=settings(), lang=lang, basemap=basemap, center=center, zoom=zoom,
                    district=select.get("district"), template=template, nonce=csp_nonce, **_served())[0]


@bp.get("/embed")
@documented("The map for an <iframe> on the union's site: no page chrome; framing only from configured origins.",
            params=(DISTRICT, KIND, LANG, BASEMAP, *VIEW), tag="pages", media=("text/html",))
def embed_page(district, kind, lang, basemap, center, zoom) -> str:
    return map_html(lang, basemap, center, zoom, template="embed.html", district=district, kind=kind)


@bp.get("/planner")
@documented("Coverage planning (HTML): coverage for a reach, gaps, district/township table, suggested sites, downloads.",
            params=(*REACH, PLANNER_SITES, LANG, BASEMAP), tag="pages", media=("text/html",),
            responses=(Reply(202, "The answers are being computed: a page that reloads itself until they are in."),
                       *COSTLY[1:]))
def planner_page(lang, basemap, n: int, **reach_args) -> Any:
    from .planner import plan

    lang, basemap = _common(lang, basemap)
    if reach_args.get("reach_m") is None and reach_args.get("minutes") is None:
        reach_args.update(minutes=15.0, mode=reach_args.get("mode") or "ebike")
    elif reach_args.get("minutes") is None:
        reach_args["mode"] = None  # the form always sends its mode menu; a mode goes with minutes only
    stations = store().all()
    try:
        ctx = plan(stations, reach_args, n, basemap, lang, asset_base=asset_base())
    except Pending as wait:  # the page refreshes itself (no script needed) until the answers are in
        return render_template("planner_wait.html", status=status_json(wait.status), lang=lang, t=words(lang),
                               sample=any(s.demo for s in stations)), 202, {"Cache-Control": "no-store"}
    other = "zh" if lang == "en" else "en"
    return render_template("planner.html", **ctx, modes=travel.MODES, mode_zh=travel.MODE_ZH,
                           other_lang_url=url_for("pages.planner_page", **{**request.args.to_dict(), "lang": other}),
                           **page_context(lang, basemap, stations))


@bp.app_context_processor
def _nonce_helper() -> dict[str, Any]:
    return {"csp_nonce": csp_nonce}


def csp_nonce() -> str:
    """This response's CSP nonce, made when a template first asks for one."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


@bp.after_app_request
def security_headers(resp: Response) -> Response:
    """Security headers for every response; for HTML, the CSP: only our own script files and the one
    map script the page rendered under this response's nonce (no other inline script runs),
    styles from us, tiles from the configured hosts."""
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if resp.mimetype != "text/html":
        return resp
    cfg = settings()
    tiles = " ".join(sorted(f"https://{h}" for h in mapview.tile_hosts(cfg)))
    if request.endpoint == "pages.embed_page":
        ancestors = " ".join(("'self'", *cfg["frame_origins"]))
    else:
        ancestors = "'self'"
        resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    nonce = g.get("csp_nonce")
    own = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
    resp.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src {own}; style-src {own}; "
        f"img-src 'self' data: {tiles}; connect-src 'self'; font-src 'self'; base-uri 'self'; "
        f"form-action 'self'; frame-ancestors {ancestors}")
    return resp


PERMISSIONS_POLICY = "geolocation=(self), camera=(), microphone=(), payment=(), usb=()"


@bp.after_app_request
def isolation_headers(resp: Response) -> Response:
    """Transport and cross-origin headers, beside the CSP: HSTS on HTTPS responses (`hsts_max_age`);
    on HTML pages a Permissions-Policy (location for "locate me", nothing else) and COOP same-origin,
    except /embed, which lives in other sites' frames and windows; CORP same-origin on everything
    but /embed (cross-origin, so a framing site that requires CORP can still show it). CORP binds
    only no-cors loads, so the API's CORS fetches from the configured origins still work."""
    max_age = int(settings()["hsts_max_age"])
    if request.is_secure and max_age > 0:
        resp.headers.setdefault("Strict-Transport-Security", f"max-age={max_age}")
    embed = request.endpoint == "pages.embed_page"
    resp.headers.setdefault("Cross-Origin-Resource-Policy", "cross-origin" if embed else "same-origin")
    if resp.mimetype == "text/html":
        resp.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if not embed:
            resp.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    return resp
