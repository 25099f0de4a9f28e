"""Geodesics on the WGS-84 ellipsoid: the one library for them (Karney's algorithm as shipped in PROJ,
via pyproj.Geod; nanometre accuracy)."""
from __future__ import annotations

from pyproj import Geod

GEOD = Geod(ellps="WGS84")


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance in metres between two WGS-84 points."""
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])
