"""QR codes of the station pages, for a sticker on each station's door: SVG to print at any size, PNG to
send in a chat. Made with segno (ISO/IEC 18004); each encodes the page's absolute URL, `/s/<id>` on the
service's public URL (or on the request's checked host when none is configured)."""
from __future__ import annotations

import io
from typing import TYPE_CHECKING

import segno

from .core import Answer, Request
from .routes import TABLE, Reply

if TYPE_CHECKING:
    from .service import Service

route = TABLE.group("api")
STATION_ID = {"station_id": "Station id, e.g. st-e0a8117eb7."}
SCALE = 10  # pixels per module in the PNG (~370 px for a typical page URL): sharp in a chat, small to send
BORDER = 4  # the quiet zone the standard asks for, in modules
CACHE = "public, max-age=86400"  # the URL a code holds changes only with the station's id or the public URL


def station_url(svc: "Service", req: Request, station_id: str) -> str:
    """The station page's absolute URL, as a shared link or a QR code holds it."""
    from ..maps.pages import station_path

    return (svc.settings["public_url"] or req.base_url) + station_path(station_id)


def station_qr(svc: "Service", req: Request, station_id: str, kind: str) -> Answer:
    station = svc.store.get(station_id[:100])
    code = segno.make(station_url(svc, req, station.id), error="m", micro=False)
    out = io.BytesIO()
    if kind == "svg":  # drawn in modules (a viewBox, to print at any size), shown at the PNG's size
        code.save(out, kind="svg", border=BORDER, xmldecl=False, omitsize=True, nl=False)
        side = code.symbol_size(scale=SCALE, border=BORDER)[0]
        out = io.BytesIO(out.getvalue().replace(b"<svg ", f'<svg width="{side}" height="{side}" '.encode(), 1))
    else:
        code.save(out, kind="png", scale=SCALE, border=BORDER)
    media = "image/svg+xml" if kind == "svg" else "image/png"
    return Answer(200, out.getvalue(), media, {"Cache-Control": CACHE, "Content-Disposition":
                                               f'inline; filename="{station.id}-qr.{kind}"'})


ANSWERS = (Reply(404, "No such station."),)


@route.get("/api/stations/{station_id}/qr.svg", "The QR code of the station's page (SVG, for printing on its door).",
           tag="stations", media=("image/svg+xml",), path_params=STATION_ID, responses=ANSWERS)
def qr_svg(svc: "Service", req: Request, station_id: str) -> Answer:
    return station_qr(svc, req, station_id, "svg")


@route.get("/api/stations/{station_id}/qr.png", "The QR code of the station's page (PNG).",
           tag="stations", media=("image/png",), path_params=STATION_ID, responses=ANSWERS)
def qr_png(svc: "Service", req: Request, station_id: str) -> Answer:
    return station_qr(svc, req, station_id, "png")
