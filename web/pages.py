"""HTML pages: /map (workers, mobile first), /embed (iframe for the union's site), /planner (coverage planning).

Maps come from `stationmap.maps.mapview` (folium); these views only pick stations and parameters, and set
the Content-Security-Policy: our own origin for scripts and styles, the configured tile hosts for
images, and frame-ancestors: on /embed the configured origins (`frame_origins`, by default * — any site,
as the embed is public and read-only), elsewhere ourselves only.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for

from stationmap.maps import basemaps
from stationmap.maps.words import LANGS, words
from stationmap.params import CENTER, DISTRICT, KIND, PLANNER_SITES, REACH, ZOOM
from stationmap.query import travel
from stationmap.query.nearest import select_stations

from . import settings, store
from .assets import asset_base, asset_url
from .params import Body, Param, Reply, documented

bp = Blueprint("pages", __name__)


LANG = Param("lang", "string", "Interface language: zh (简体中文, default) or en.", enum=LANGS)
BASEMAP = Param("basemap", "string", "Basemap: osm, amap (高德, GCJ-02) or tianditu (天地图, needs a configured key).",
                enum=tuple(basemaps.BASEMAPS))
VIEW = (CENTER, ZOOM)


def _common(lang: str | None, basemap: str | None) -> tuple[str, str]:
    cfg = settings()
    return lang or cfg["language"], basemaps.check_basemap(basemap or cfg["basemap"], cfg)


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


class RenderedPages:
    """Map pages already rendered, by registry version and every input of the page, with a stand-in for the
    CSP nonce that each response replaces with its own. The stand-in is random per process, so no station
    text can carry it."""

    def __init__(self, size: int = 32) -> None:
        self.size, self.stand_in = size, secrets.token_urlsafe(24)
        self._pages: OrderedDict[tuple, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, render: Callable[[Callable[[], str]], str]) -> str:
        """The page for `key` under this response's nonce, rendered by `render(nonce)` when not kept."""
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
        if page is None:
            page = render(lambda: self.stand_in)
            with self._lock:
                self._pages[key] = page
                while len(self._pages) > self.size:
                    self._pages.popitem(last=False)
        return page.replace(self.stand_in, csp_nonce()) if self.stand_in in page else page


def _rendered() -> RenderedPages:
    return current_app.extensions.setdefault("stationmap.pages", RenderedPages())


def map_html(lang: str | None, basemap: str | None, center=None, zoom=None, *, template: str = "map.html",
             **select: Any) -> str:
    """The worker map page (or the embed page), its map script inline under this response's CSP nonce."""
    lang, basemap = _common(lang, basemap)
    reg = store()
    worker = url_for("pages.service_worker") if template == "map.html" else None  # the embed stays out
    served = _served()
    key = (reg.version(), lang, basemap, center, zoom, template, worker, tuple(sorted(select.items())),
           tuple(sorted(served.items())))

    def render(nonce: Callable[[], str]) -> str:
        from stationmap.maps.pages import map_page as render_map_page  # folium: on the first page drawn

        stations = select_stations(reg.all(), **select) if select else reg.all()
        return render_map_page(stations, settings=settings(), lang=lang, basemap=basemap, center=center, zoom=zoom,
                               district=select.get("district"), template=template, nonce=nonce, worker=worker,
                               **served)[0]

    return _rendered().get(key, render)


@bp.get("/embed")
@documented("The map for an <iframe> on the union's site: no page chrome; framing only from configured origins.",
            params=(DISTRICT, KIND, LANG, BASEMAP, *VIEW), tag="pages", media=("text/html",))
def embed_page(district, kind, lang, basemap, center, zoom) -> str:
    return map_html(lang, basemap, center, zoom, template="embed.html", district=district, kind=kind)


@bp.get("/planner")
@documented("Coverage planning (HTML): coverage for a reach, gaps, district/township table, suggested sites, downloads.",
            params=(*REACH, PLANNER_SITES, LANG, BASEMAP), tag="pages", media=("text/html",))
def planner_page(lang, basemap, n: int, **reach_args) -> Any:
    from stationmap.maps.pages import page_context

    from .planner import plan

    lang, basemap = _common(lang, basemap)
    if reach_args.get("reach_m") is None and reach_args.get("minutes") is None:
        reach_args.update(minutes=15.0, mode=reach_args.get("mode") or "ebike")
    elif reach_args.get("minutes") is None:
        reach_args["mode"] = None  # the form always sends its mode menu; a mode goes with minutes only
    stations = store().all()
    ctx = plan(stations, reach_args, n, basemap, lang, asset_base=asset_base())
    other = "zh" if lang == "en" else "en"
    return render_template("planner.html", **ctx, modes=travel.MODES, mode_zh=travel.MODE_ZH,
                           other_lang_url=url_for("pages.planner_page", **{**request.args.to_dict(), "lang": other}),
                           **page_context(lang, basemap, stations))


# -- installable and offline: the service worker ----------------------------------------------------
WORKER_SOURCE = Path(__file__).with_name("sw.js")
OFFLINE_PAGES = ("/map", "/s/")  # the pages the worker keeps for offline use: the map and the station pages
REGISTRY_HEADER = "X-Registry-Version"  # on those pages: the worker drops pages kept from an older registry


@bp.get("/sw.js")
@documented("The offline service worker (JavaScript): keeps the map and station pages and our static files "
            "for use without a network; leaves /embed alone.", tag="pages", media=("text/javascript",))
def service_worker() -> Response:
    """web/sw.js, told where the vendored Workbox is and which pages to keep. Served at the site's root so
    that its scope covers /map and /s/; revalidated on every visit (a new deploy is a new worker)."""
    root = request.script_root
    cfg = {"workbox": asset_base() + "vendor/workbox", "pages": [root + p for p in OFFLINE_PAGES],
           "shell": url_for("pages.map_page"), "skip": [url_for("pages.embed_page")],
           "static": url_for("static", filename="") + "v/"}
    body = f"var SM = {json.dumps(cfg)};\n{WORKER_SOURCE.read_text(encoding='utf-8')}"
    resp = Response(body, mimetype="text/javascript")
    resp.headers["Cache-Control"] = "no-cache"
    resp.set_etag(hashlib.sha256(body.encode()).hexdigest()[:24])
    return resp.make_conditional(request)


def registry_version(resp: Response) -> Response:
    """The pages the worker keeps say which registry they show (a hash of the store's version)."""
    path = request.path  # below the mount path, as OFFLINE_PAGES are
    if resp.mimetype == "text/html" and request.method in ("GET", "HEAD") and resp.status_code < 400 and any(
            path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in OFFLINE_PAGES):
        resp.headers[REGISTRY_HEADER] = hashlib.sha256(store().version().encode()).hexdigest()[:16]
    return resp


@bp.app_context_processor
def _nonce_helper() -> dict[str, Any]:
    return {"csp_nonce": csp_nonce}


def csp_nonce() -> str:
    """This response's CSP nonce, made when a template first asks for one."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


PERMISSIONS_POLICY = "geolocation=(self), camera=(), microphone=(), payment=(), usb=()"
EMBED = "pages.embed_page"


class Policies:
    """The header values that follow from the settings alone, made once per app: the CSP less its nonce
    (for /embed and for every other page) and HSTS."""

    def __init__(self, cfg: dict[str, Any]):
        tiles = " ".join(sorted(f"https://{h}" for h in basemaps.tile_hosts(cfg)))
        self.after_own = (f"; img-src 'self' data: {tiles}; connect-src 'self'; font-src 'self'; base-uri 'self'; "
                          "form-action 'self'; frame-ancestors ")
        self.ancestors = {True: " ".join(("'self'", *cfg["frame_origins"])), False: "'self'"}
        max_age = int(cfg["hsts_max_age"])
        self.hsts = f"max-age={max_age}" if max_age > 0 else ""

    def csp(self, nonce: str | None, embed: bool) -> str:
        own = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
        return f"default-src 'self'; script-src {own}; style-src {own}{self.after_own}{self.ancestors[embed]}"


@bp.record_once
def _policies(state: Any) -> None:
    state.app.extensions["stationmap.policies"] = Policies(state.app.config["STATIONMAP"])


@bp.after_app_request
def response_headers(resp: Response) -> Response:
    """The headers every response carries, added where the response has none of its own.

    Transport and cross-origin: HSTS on HTTPS responses (`hsts_max_age`); CORP same-origin on everything but
    /embed (cross-origin, so a framing site that requires CORP can still show it; CORP binds only no-cors
    loads, so the API's CORS fetches from the configured origins still work); on HTML pages a
    Permissions-Policy (location for "locate me", nothing else) and COOP same-origin, except /embed, which
    lives in other sites' frames and windows.
    Security: nosniff and a referrer policy everywhere; on HTML the CSP: only our own script files and the
    one map script the page rendered under this response's nonce (no other inline script runs), styles from
    us, tiles from the configured hosts; framing by ourselves only (X-Frame-Options too), by the configured
    origins on /embed. Kept pages also say which registry they show (`registry_version`)."""
    req = request._get_current_object()  # type: ignore[attr-defined]
    policy: Policies = current_app.extensions["stationmap.policies"]
    h = resp.headers
    present = {k.lower() for k, _ in h}  # one pass, rather than a search of the headers per name
    html = resp.mimetype == "text/html"
    embed = req.endpoint == EMBED
    if policy.hsts and req.is_secure and "strict-transport-security" not in present:
        h.add("Strict-Transport-Security", policy.hsts)
    if "cross-origin-resource-policy" not in present:
        h.add("Cross-Origin-Resource-Policy", "cross-origin" if embed else "same-origin")
    if html:
        if "permissions-policy" not in present:
            h.add("Permissions-Policy", PERMISSIONS_POLICY)
        if not embed and "cross-origin-opener-policy" not in present:
            h.add("Cross-Origin-Opener-Policy", "same-origin")
    if "x-content-type-options" not in present:
        h.add("X-Content-Type-Options", "nosniff")
    if "referrer-policy" not in present:
        h.add("Referrer-Policy", "strict-origin-when-cross-origin")
    if not html:
        return resp
    if not embed:
        h["X-Frame-Options"] = "SAMEORIGIN"
    h["Content-Security-Policy"] = policy.csp(g.get("csp_nonce"), embed)
    return registry_version(resp)


# -- a page per station: /s/<id> -------------------------------------------------------------------
# Unknown query parameters are let through (strict=False): a shared link gains some on the way (chat apps
# append their own), and the page must open whatever they are.
STATION_ID = {"station_id": "Station id, e.g. st-e0a8117eb7 (in any letter case)."}
REPORT_FORM = Body(
    "The station page's report form: kind (closed, broken, location, other), the amenity for broken, a short text.",
    {"type": "object", "required": ["kind"],
     "properties": {"kind": {"type": "string", "enum": ["closed", "broken", "location", "other"]},
                    "amenity": {"type": "string"}, "text": {"type": "string", "maxLength": 280}}},
    media="application/x-www-form-urlencoded", raw=True)


def _page_lang(lang: str | None = None) -> str:
    return lang or settings()["language"]


def _base_url() -> str:
    """The service's absolute base for links that leave the site (share cards, QR codes): public_url,
    else the request's own, whose Host the guards checked."""
    return settings()["public_url"] or request.url_root.rstrip("/")


def _absolute(path: str) -> str:
    """An absolute URL for a path made by url_for (which starts with the mount path)."""
    return _base_url() + path[len(request.script_root):]


def _station_or_404(station_id: str, lang: str | None) -> Any:
    """(the station, None), or (None, the answer instead: a 404 page, or a redirect from another letter case)."""
    from stationmap.maps.pages import find_station, missing_station_page, station_path

    found = find_station(store().all(), station_id)
    if found is None:
        html = missing_station_page(station_id, lang=_page_lang(lang), asset_url=asset_url, root=request.script_root)
        return None, Response(html, 404, mimetype="text/html")
    if found.id != station_id:  # typed in another letter case: the one address of the page
        query = f"?{request.query_string.decode()}" if request.query_string else ""
        return None, redirect(request.script_root + station_path(found.id) + query, 301)
    return found, None


def _station_context(s: Any, lang: str) -> dict[str, Any]:
    from datetime import datetime

    from stationmap.api.stations import live_statuses
    from stationmap.hours import TZ
    from stationmap.maps.pages import station_context
    from stationmap.ops.telemetry import station_live

    from . import service

    svc = service()
    live = station_live(live_statuses(svc), s.id, s.kind) if s.kind == "smart" else None
    return station_context(s, settings=settings(), lang=lang, basemap=_common(lang, None)[1], base_url=_base_url(),
                           image_url=_absolute(asset_url("share-card.png")), now=datetime.now(TZ), live=live,
                           closed_reports=svc.reports.closed_flags().get(s.id, 0), root=request.script_root)


@bp.get("/s/<station_id>")
@documented("A station's own page (HTML), the address its QR code holds: open now, hours, amenities, navigation "
            "in every travel mode, share card, report form; readable without JavaScript.", params=(LANG,),
            tag="pages", media=("text/html",), strict=False, path_params=STATION_ID,
            responses=(Reply(301, "The id in another letter case: the page's one address.", ("Location",)),
                       Reply(404, "No such station: a page that leads to the map.")))
def station_page(station_id: str, lang: str | None) -> Any:
    """A station's own page: readable without JavaScript, with its share card, navigation and report form."""
    from stationmap.maps.pages import station_page as render_station

    s, other = _station_or_404(station_id, lang)
    if s is None:
        return other
    return render_station(asset_url=asset_url, **_station_context(s, _page_lang(lang)))


@bp.post("/s/<station_id>/report")
@documented("The station page's report form, posted without JavaScript (JSON goes to /api/stations/{station_id}/"
            "reports): filed with the same checks and limits; a page says thank you, or what to change.",
            params=(LANG,), tag="pages", media=("text/html",), strict=False, path_params=STATION_ID,
            body=REPORT_FORM, status=201,
            responses=(Reply(201, "Received: a thank-you page."), Reply(403, "Sent from another site's page."),
                       Reply(404, "No such station."),
                       Reply(409, "A 'closed' report about a station that is not shown as open."),
                       Reply(415, "Not the form (application/x-www-form-urlencoded)."),
                       Reply(429, "Too many reports from this network or about this station; try later.",
                             ("Retry-After",))))
def station_report_form(station_id: str, lang: str | None, body: bytes) -> Any:
    """The report form posted without JavaScript: the library files it as the API would (same checks and
    limits), and a page says thank you or what was wrong."""
    from urllib.parse import parse_qs

    from stationmap.errors import StationmapError
    from stationmap.maps.pages import station_page as render_station

    from . import problem_response, service

    if request.mimetype != "application/x-www-form-urlencoded":
        return problem_response(415, "Unsupported Media Type", "send the station page's report form "
                                "(application/x-www-form-urlencoded), or JSON to /api/stations/{id}/reports")
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return problem_response(403, "Forbidden", "the report form is sent from the station's own page")
    s, other = _station_or_404(station_id, lang)
    if s is None:
        return other
    lang = _page_lang(lang)
    t = words(lang)
    form = {k: v[0].strip() for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    kind = form.get("kind", "")
    report: dict[str, Any] = {"kind": kind}
    if kind == "broken":
        report["amenity"] = form.get("amenity", "")
    if form.get("text"):
        report["text"] = form["text"]
    status, headers, detail = 201, {}, ""
    missing = ("rk_pick" if kind not in ("closed", "broken", "location", "other") else
               "rk_need_amenity" if kind == "broken" and not report["amenity"] else
               "rk_need_text" if kind == "other" and not form.get("text") else "")
    if missing:
        status, message = 400, t[missing]
    else:
        try:
            service().reports.file(store(), s.id, report, request.remote_addr)
            message = t["rk_thanks"]
        except StationmapError as err:
            status, detail = err.status, str(err)
            message = t.get(f"rk_err_{status}", t["rk_err_other"])
            if getattr(err, "retry_after", None):
                headers["Retry-After"] = str(err.retry_after)
    ctx = _station_context(s, lang)
    html = render_station(template="station_report.html", asset_url=asset_url, ok=status == 201,
                          message=message, detail=detail, **ctx)
    return Response(html, status, headers, mimetype="text/html")
