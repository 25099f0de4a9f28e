"""The station map pages (the workers' map and the embed) as HTML, with no web framework.

Rendered with Jinja from the templates in web/templates: the web app serves these pages (with its
CSP nonce), and the static export (`maps.render`) writes them to files, through the same function.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Sequence

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..config import REPO_ROOT
from ..model import Station
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
             nonce: Callable[[], str] = lambda: "") -> tuple[str, str]:
    """The page's HTML and its map script: inline under `nonce()` (served), or in `script_src` (files)."""
    m = mapview.build_map(stations, basemap=basemap, settings=settings, lang=lang, center=center, zoom=zoom,
                          district=district, asset_base=asset_base, api_base=api_base)
    parts = mapview.render_parts(m)
    html = _env().get_template(template).render(parts=parts, script_src=script_src, csp_nonce=nonce,
                                                asset_url=lambda name: asset_base + name,
                                                **page_context(lang, basemap, stations))
    return html, parts["script"]
