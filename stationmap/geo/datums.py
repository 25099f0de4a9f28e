"""The one place where coordinates change datum: WGS-84 <-> GCJ-02 (Amap, Tencent) <-> BD-09 (Baidu).

Built on `prcoords` (public domain), whose inverse transforms iterate to a fixed point
(millimetre error in Jieyang) instead of the one-step inverse most snippets use (1-2 m off).
Everything stored or computed is WGS-84; other datums exist only at the edges.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import prcoords

from ..errors import InvalidInput

if TYPE_CHECKING:  # numpy and shapely load with the geometry functions: a point needs neither
    from shapely.geometry.base import BaseGeometry

CRS_NAMES = ("wgs84", "gcj02", "bd09")

_TO_WGS = {
    "wgs84": lambda p: p,
    "gcj02": lambda p: prcoords.gcj_wgs_bored(p, False),
    "bd09": lambda p: prcoords.bd_wgs_bored(p, False),
}
_FROM_WGS = {
    "wgs84": lambda p: p,
    "gcj02": lambda p: prcoords.wgs_gcj(p, False),
    "bd09": lambda p: prcoords.wgs_bd(p, False),
}


def check_crs(crs: str) -> str:
    """Normalise a datum name ('WGS84', 'gcj-02' ...) or raise InvalidInput naming the allowed ones."""
    key = str(crs).strip().lower().replace("-", "").replace("_", "")
    aliases = {"wgs": "wgs84", "epsg4326": "wgs84", "gcj": "gcj02", "amap": "gcj02", "bd": "bd09", "baidu": "bd09"}
    key = aliases.get(key, key)
    if key not in CRS_NAMES:
        raise InvalidInput(f"unknown datum {crs!r}; use one of {', '.join(CRS_NAMES)}")
    return key


def to_wgs84(lat: float, lon: float, crs: str) -> tuple[float, float]:
    """(lat, lon) in `crs` -> (lat, lon) in WGS-84.

    GCJ-02 and BD-09 exist only in China: elsewhere the inverse transforms do not converge (they end
    in a math error), so such a point is refused with InvalidInput.
    """
    crs = check_crs(crs)
    point = prcoords.Coords(lat, lon)
    if crs != "wgs84" and not prcoords.sanity_in_china_p(point):
        raise InvalidInput(f"({lat:g}, {lon:g}) is not in China, where {crs} coordinates exist; "
                           "give points outside China in wgs84")
    p = _TO_WGS[crs](point)
    return float(p[0]), float(p[1])


def from_wgs84(lat: float, lon: float, crs: str) -> tuple[float, float]:
    """(lat, lon) in WGS-84 -> (lat, lon) in `crs`."""
    p = _FROM_WGS[check_crs(crs)](prcoords.Coords(lat, lon))
    return float(p[0]), float(p[1])


def to_gcj02_bd09(lat: float, lon: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """A WGS-84 (lat, lon) in GCJ-02 and in BD-09 at once: the BD-09 point is made from the GCJ-02 one, as
    `from_wgs84(..., "bd09")` makes it, so the costly GCJ-02 step runs once for both (a nearest answer's origin
    goes to both apps' links)."""
    gcj = prcoords.wgs_gcj(prcoords.Coords(lat, lon), False)
    bd = prcoords.gcj_bd(gcj)
    return (float(gcj[0]), float(gcj[1])), (float(bd[0]), float(bd[1]))


def _vertices(fn: Callable[[float, float, str], tuple[float, float]], crs: str):
    import numpy as np

    def xy(coords: np.ndarray) -> np.ndarray:
        return np.array([fn(lat, lon, crs)[::-1] for lon, lat in coords], dtype=float).reshape(-1, 2)

    return xy


def geometry_to_wgs84(geom: BaseGeometry, crs: str) -> BaseGeometry:
    """Every vertex of a shapely geometry (x=lon, y=lat) from `crs` to WGS-84."""
    import shapely

    return shapely.transform(geom, _vertices(to_wgs84, check_crs(crs)))


def geometry_from_wgs84(geom: BaseGeometry, crs: str) -> BaseGeometry:
    """Every vertex of a shapely geometry from WGS-84 to `crs`, e.g. for drawing on an Amap basemap."""
    import shapely

    return shapely.transform(geom, _vertices(from_wgs84, check_crs(crs)))
