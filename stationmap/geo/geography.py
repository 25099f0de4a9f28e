"""Jieyang's geography as shipped in geodata/: city, districts, townships; locating a point in them.

All layers are WGS-84 (EPSG:4326). Metric geometry (buffers, areas, distances on the plane) is in
METRIC_CRS (CGCS2000 3-degree Gauss-Kruger, CM 117E), which fits Jieyang (115.6-116.6E); being
conformal, its areas are corrected by the point scale factor (`coverage.true_area_m2`). AREA_CRS, an
equal-area projection, gave the shipped districts' `area_km2` (geodata/build_boundaries.py).
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING

import shapely
from shapely.geometry import Point, shape

from ..config import GEODATA_DIR
from ..errors import InvalidInput

if TYPE_CHECKING:
    import geopandas as gpd

METRIC_CRS = "EPSG:4548"
# Areas: Albers equal-area fitted to Jieyang (a conformal projection is not: area scale drifts away from its meridian).
AREA_CRS = "+proj=aea +lat_0=23.3 +lat_1=23.0 +lat_2=23.7 +lon_0=116.1 +ellps=WGS84 +units=m +no_defs"
WGS84 = "EPSG:4326"
# A box around Jieyang for quick sanity checks of coordinates (the boundary decides).
BBOX = (115.55, 22.85, 116.68, 23.82)


def _read(name: str) -> gpd.GeoDataFrame:
    import geopandas as gpd  # here, not at the top: locating one point needs only the city outline

    return gpd.read_file(GEODATA_DIR / name)


@lru_cache(maxsize=None)
def city() -> gpd.GeoDataFrame:
    return _read("city.geojson")


@lru_cache(maxsize=None)
def districts() -> gpd.GeoDataFrame:
    """Five county-level districts: adcode, name, name_en, population_2020, area_km2, geometry."""
    return _read("districts.geojson").set_index("adcode", drop=False)


@lru_cache(maxsize=None)
def townships() -> gpd.GeoDataFrame:
    """87 township seats (points): code, name, district, seat_source, seat_approximate, area_km2_approx."""
    return _read("townships.geojson").set_index("code", drop=False)


@lru_cache(maxsize=None)
def township_areas() -> gpd.GeoDataFrame:
    """Approximate township cells (Voronoi of seats clipped to districts): a model, not official polygons."""
    return _read("township_areas.geojson").set_index("code", drop=False)


@lru_cache(maxsize=None)
def _city_geom() -> shapely.Geometry:
    """The city outline, prepared for point tests: read with json and shapely alone (the same geometry as
    `city()`'s, without importing geopandas for a command that only asks whether a point is in Jieyang)."""
    collection = json.loads((GEODATA_DIR / "city.geojson").read_text(encoding="utf-8"))
    (feature,) = collection["features"]
    geom = shape(feature["geometry"])
    shapely.prepare(geom)
    return geom


def district_code(name_or_code: str) -> str:
    """'普宁市', '普宁', 'Puning' or '445281' -> '445281'; raises InvalidInput listing the districts."""
    text = str(name_or_code).strip()
    d = districts()
    for code, row in d.iterrows():
        if text in (code, row["name"], row["name"][:-1]) or text.lower() == row["name_en"].lower():
            return code
    raise InvalidInput(f"unknown district {name_or_code!r}; use one of "
                       + ", ".join(f"{r['name']} ({c})" for c, r in d.iterrows()))


def in_jieyang(lat: float, lon: float) -> bool:
    return bool(_city_geom().covers(Point(lon, lat)))


def check_in_jieyang(lat: float, lon: float) -> None:
    """Raise InvalidInput with an actionable reason if (lat, lon) is not inside Jieyang."""
    if in_jieyang(lat, lon):
        return
    if in_jieyang(lon, lat):
        raise InvalidInput(f"latitude and longitude look swapped ({lat}, {lon}); Jieyang is near 23.5N, 116.3E")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput(f"coordinates out of range: latitude {lat}, longitude {lon}")
    west, south, east, north = BBOX
    raise InvalidInput(f"point ({lat:.6f}, {lon:.6f}) is outside Jieyang "
                       f"(latitude {south}-{north}, longitude {west}-{east})")
