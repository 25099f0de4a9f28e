"""The station map pages (the workers' map and the embed) and the page of each station, as HTML, with no web framework.

Rendered with Jinja from the templates in web/templates: the web app serves these pages (with its
CSP nonce), and the static export (`maps.render`) writes them to files, through the same function.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, Sequence
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape

from .. import present, vocab
from ..config import REPO_ROOT
from ..hours import TZ, Schedule, is_24_7, to_osm, to_zh
from ..model import Station
from ..ops import reports
from ..query import travel
from . import mapview
from .words import UI, words

TEMPLATES = REPO_ROOT / "web" / "templates"


@lru_cache(maxsize=None)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def page_context(lang: str, basemap: str, stations: Sequence[Station]) -> dict[str, Any]:
    """What every page template is told: language and its words, basemap, station count, sample flag."""
    return {"lang": lang, "t": words(lang), "ui": UI, "basemap": basemap, "sample": any(s.demo for s in stations),
            "count": len(stations), "basemaps": mapview.BASEMAPS}


def map_page(stations: Sequence[Station], *, settings: dict[str, Any], lang: str, basemap: str, asset_base: str,
             api_base: str | None, center: tuple[float, float] | None = None, zoom: int | None = None,
             district: str | None = None, template: str = "map.html", script_src: str | None = None,
             nonce: Callable[[], str] = lambda: "", worker: str | None = None) -> tuple[str, str]:
    """The page's HTML and its map script: inline under `nonce()` (served), or in `script_src` (files).
    `worker`: the offline worker's URL, for a served map page that registers it and links its manifest."""
    m = mapview.build_map(stations, basemap=basemap, settings=settings, lang=lang, center=center, zoom=zoom,
                          district=district, asset_base=asset_base, api_base=api_base)
    parts = mapview.render_parts(m)
    html = _env().get_template(template).render(parts=parts, script_src=script_src, csp_nonce=nonce, worker=worker,
                                                asset_url=lambda name: asset_base + name,
                                                **page_context(lang, basemap, stations))
    return html, parts["script"]


# -- a page per station -------------------------------------------------------------------------
STATION_PATH = "/s/"
MODE_ICONS = {"walk": "🚶", "ebike": "🛵", "car": "🚗"}


def station_path(station_id: str) -> str:
    """The station page's path, `/s/<id>`: short and stable, for links, shares and the QR code on its door."""
    return STATION_PATH + quote(station_id, safe="")


def qr_path(station_id: str, fmt: str) -> str:
    """Where the QR code of the station page is served (`stationmap.api.qr`), as SVG or PNG."""
    return f"/api/stations/{quote(station_id, safe='')}/qr.{fmt}"


def find_station(stations: Sequence[Station], station_id: str) -> Station | None:
    """The station with this id, or else the one whose id differs only in letter case (typed from a
    sticker); None if there is none, or two differ only in case."""
    folded = [s for s in stations if s.id.lower() == station_id.lower()]
    exact = [s for s in folded if s.id == station_id]
    return (exact or folded)[0] if len(exact or folded) == 1 else None


def next_change(schedule: Schedule | None, when: datetime) -> tuple[str, int, int] | None:
    """When the hours change next, on the Asia/Shanghai clock: ("closes", days ahead, minute of that day),
    ("opens", days ahead, minute), ("always", 0, 0) for 24/7, or None (unknown hours, or never open).
    A span ending at midnight that the next day continues from 00:00 runs on into that day."""
    if schedule is None:
        return None
    if is_24_7(schedule):
        return ("always", 0, 0)
    t = when.astimezone(TZ)
    day, minute = t.weekday(), t.hour * 60 + t.minute
    current = next((span for span in schedule[day] if span[0] <= minute < span[1]), None)
    if current is not None:
        ahead, end = 0, current[1]
        while end >= 1440 and ahead < 7:
            follow = next((b for a, b in schedule[(day + ahead + 1) % 7] if a == 0), None)
            if follow is None:
                break
            ahead, end = ahead + 1, follow
        return ("closes", ahead, end)
    for ahead in range(8):
        starts = sorted(a for a, _ in schedule[(day + ahead) % 7] if ahead or a > minute)
        if starts:
            return ("opens", ahead, starts[0])
    return None


def change_text(change: tuple[str, int, int] | None, when: datetime, t: dict[str, str]) -> str:
    """`next_change` in the page's words: "开放至 18:00", "明天 08:00 开放", "周一 08:00 开放", "24小时开放"."""
    if change is None:
        return ""
    what, ahead, minute = change
    if what == "always":
        return t["open_24h"]
    clock = f"{minute // 60:02d}:{minute % 60:02d}"
    if ahead == 1:
        clock = f"{t['tomorrow']} {clock}"
    elif ahead > 1:
        clock = f"{t['days'].split(',')[(when.astimezone(TZ).weekday() + ahead) % 7]} {clock}"
    return t["closes_at" if what == "closes" else "opens_at"].replace("{t}", clock)


def _terms(keys: Sequence[str], by_key: dict[str, Any], lang: str) -> list[dict[str, str]]:
    return [{"key": k, "icon": by_key[k].icon, "name": by_key[k].en if lang == "en" else by_key[k].zh}
            for k in keys if k in by_key]


def station_context(s: Station, *, settings: dict[str, Any], lang: str, basemap: str, base_url: str,
                    image_url: str, now: datetime, live: dict[str, Any] | None = None,
                    closed_reports: int = 0, root: str = "") -> dict[str, Any]:
    """What the station page shows, from the library's own shapes: the open state by the one rule
    (`present.open_state`), navigation links in every travel mode (`present.nav_links`), hours, amenities
    and smart features in words, live status, open "closed" reports (a count), the share card's fields.
    `base_url` is the service's absolute base (public_url, or the request's checked host); `image_url` the
    share card's absolute image URL; `root` the path the service is mounted under, for relative links."""
    t = words(lang)
    state = present.open_state(s, now, live)
    suspended = state["label"] in ("suspended", "planned")
    url = base_url + station_path(s.id)
    amenities = _terms(s.amenities, vocab.AMENITY_BY_KEY, lang)
    hours = (to_osm(s.hours) or t["hours_unknown"]) if lang == "en" else to_zh(s.hours)
    kind = t["smart" if s.kind == "smart" else "outdoor"]
    summary = " · ".join(x for x in (t["sample_short"] if s.demo else "", kind, s.address, f"{t['hours']} {hours}",
                                     "、".join(a["name"] for a in amenities[:8])) if x)
    dlat, dlon = mapview.to_display(s.lat, s.lon, basemap)
    return {
        "s": s, "t": t, "lang": lang, "root": root, "url": url, "path": station_path(s.id), "image_url": image_url,
        "qr_svg": root + qr_path(s.id, "svg"), "qr_png": root + qr_path(s.id, "png"),
        "title": f"{s.name} · {t['title']}", "description": summary[:200],
        "kind_label": kind, "state": {**state, "text": state["en" if lang == "en" else "zh"]},
        "when": "" if suspended else change_text(next_change(s.hours, now), now, t),
        "hours": hours, "amenities": amenities, "features": _terms(s.features, vocab.FEATURE_BY_KEY, lang),
        "live": live if s.kind == "smart" else None, "closed_reports": closed_reports,
        "nav": [{"mode": m, "icon": MODE_ICONS[m], "links": present.nav_links(s.lat, s.lon, s.name, m)}
                for m in travel.MODES],
        "map_url": "/map?" + urlencode({"center": f"{s.lat:.6f},{s.lon:.6f}", "zoom": 17, "lang": lang}),
        "other_lang": "zh" if lang == "en" else "en",
        "report_kinds": [k for k in reports.KINDS if k != "closed" or s.status == "open"],
        "text_limit": reports.MAX_TEXT,
        "page_data": mapview.script_json({
            "id": s.id, "name": s.name, "kind": s.kind, "status": s.status, "p": [dlat, dlon], "url": url,
            "report": root + "/api/stations/" + quote(s.id, safe="") + "/reports", "lang": lang,
            "basemap": mapview.basemap_choices(settings, lang)[basemap]}),
    }


def station_page(*, template: str = "station.html", asset_url: Callable[[str], str], **context: Any) -> str:
    """The station page (or its report answer, `template="station_report.html"`) from `station_context`, as
    HTML: no inline script or style, so it needs no nonce; the map and the share button come from station.js."""
    return _env().get_template(template).render(asset_url=asset_url, **context)


def missing_station_page(station_id: str, *, lang: str, asset_url: Callable[[str], str], root: str = "") -> str:
    """The 404 page for an unknown station id: says so, and leads to the map."""
    return _env().get_template("station_missing.html").render(
        station_id=station_id[:100], lang=lang, t=words(lang), asset_url=asset_url, root=root,
        other_lang="zh" if lang == "en" else "en")
