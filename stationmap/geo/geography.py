"""Jieyang's geography as shipped in geodata/: city, districts, townships; locating a point in them; and the
service area (the `service_area` setting: Jieyang, Guangdong, China or a polygon file) that stations must lie in.

All layers are WGS-84 (EPSG:4326). Metric geometry (buffers, areas, distances on the plane) is in
METRIC_CRS (CGCS2000 3-degree Gauss-Kruger, CM 117E), which fits Jieyang (115.6-116.6E); being
conformal, its areas are corrected by the point scale factor (`coverage.true_area_m2`). AREA_CRS, an
equal-area projection, gave the shipped districts' `area_km2` (geodata/build_boundaries.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely
from shapely.geometry import Point, shape

from .. import config
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
# Coarse outlines of the larger service areas (geodata/build_service_areas.py).
SERVICE_AREAS_FILE = "service_areas.geojson"


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


def _township_layer(name: str) -> gpd.GeoDataFrame:
    frame = _read(name).set_index("code", drop=False)
    for column in ("population_cited", "population_year"):  # whole numbers, absent where nothing is cited
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    return frame


@lru_cache(maxsize=None)
def townships() -> gpd.GeoDataFrame:
    """87 township seats (points): code, name, district, seat_source, seat_approximate, area_km2_approx, and where
    the population comes from: population_source ("modelled" or the published figure's year and kind), with
    population_cited and population_year where a figure is published."""
    return _township_layer("townships.geojson")


@lru_cache(maxsize=None)
def township_areas() -> gpd.GeoDataFrame:
    """Approximate township cells (Voronoi of seats clipped to districts): a model, not official polygons; the
    same population source fields as `townships`."""
    return _township_layer("township_areas.geojson")


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


# -- the service area: where stations may lie --------------------------------------------------------------

@dataclass(frozen=True)
class ServiceArea:
    """Where stations may lie (the `service_area` setting): Jieyang's outline, a coarse outline of Guangdong or
    China (reaching up to `beyond_km` past the real border), or a planner's own polygons. Only Jieyang has
    districts, townships and population in the shipped data; a station elsewhere in the area has none."""
    key: str  # jieyang, guangdong, china, or the file's path
    name: str
    name_en: str
    geometry: Any  # WGS-84 (x=lon, y=lat), prepared
    beyond_km: float = 0.0
    near: tuple[float, float] | None = None  # (lat, lon) named when a point looks swapped

    @property
    def is_jieyang(self) -> bool:
        return self.key == "jieyang"

    def covers(self, lats: Any, lons: Any) -> Any:
        """Whether each WGS-84 point is in the area (numpy arrays in, a boolean array out): one indexed pass."""
        import numpy as np

        return shapely.intersects_xy(self.geometry, np.asarray(lons, float), np.asarray(lats, float))

    def check(self, lat: float, lon: float) -> None:
        """Raise InvalidInput with an actionable reason if (lat, lon) is not in the area."""
        if self._has(lat, lon):
            return
        if self._has(lon, lat):
            raise InvalidInput(f"latitude and longitude look swapped ({lat}, {lon}); {self._near()}")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise InvalidInput(f"coordinates out of range: latitude {lat}, longitude {lon}")
        west, south, east, north = BBOX if self.is_jieyang else (round(v, 2) for v in self.geometry.bounds)
        raise InvalidInput(f"point ({lat:.6f}, {lon:.6f}) is outside {self.name_en} (latitude {south}-{north}, "
                           f"longitude {west}-{east}; service_area={self.key})")

    def _has(self, lat: float, lon: float) -> bool:
        return bool(shapely.intersects_xy(self.geometry, lon, lat))

    def _near(self) -> str:
        if self.near is None:
            inner = self.geometry.representative_point()
            lat, lon = inner.y, inner.x
        else:
            lat, lon = self.near
        return f"{self.name_en} is near {lat:.1f}N, {lon:.1f}E"


def service_area(value: str | None = None) -> ServiceArea:
    """The area named by `value`, or by the `service_area` setting (STATIONMAP_SERVICE_AREA, default jieyang)."""
    return _service_area(config.service_area(config.load_settings()["service_area"] if value is None else value))


@lru_cache(maxsize=8)
def _service_area(key: str) -> ServiceArea:
    if key == "jieyang":
        return ServiceArea(key, "揭阳市", "Jieyang", _city_geom(), 0.0, (23.5, 116.3))
    if key in config.SERVICE_AREAS:
        collection = json.loads((GEODATA_DIR / SERVICE_AREAS_FILE).read_text(encoding="utf-8"))
        (feature,) = [f for f in collection["features"] if f["properties"]["key"] == key]
        props = feature["properties"]
        geom = shape(feature["geometry"])
        shapely.prepare(geom)
        return ServiceArea(key, props["name"], props["name_en"], geom, float(props["beyond_km"]))
    return ServiceArea(key, Path(key).stem, Path(key).stem, _area_file(Path(key)))


def _area_file(path: Path) -> Any:
    """The union of the polygons in a GeoJSON file (WGS-84 lon/lat), prepared; InvalidInput saying what is wrong."""
    what = f"service area file {path}"
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{what} cannot be read as GeoJSON: {exc}") from None
    items = doc.get("features", [doc]) if isinstance(doc, dict) else []
    items = items if isinstance(items, list) else []
    geoms = [item.get("geometry", item) if isinstance(item, dict) and item.get("type") == "Feature" else item
             for item in items]
    try:
        polygons = [shape(g) for g in geoms if isinstance(g, dict) and g.get("type") in ("Polygon", "MultiPolygon")]
    except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException) as exc:
        raise InvalidInput(f"{what} has a polygon that cannot be read: {exc}") from None
    if not polygons:
        raise InvalidInput(f"{what} holds no Polygon or MultiPolygon: give the area as polygon(s) in WGS-84 lon/lat")
    geom = shapely.make_valid(shapely.union_all(polygons))
    west, south, east, north = geom.bounds
    if geom.is_empty or geom.area == 0 or not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInput(f"{what}: its polygons are empty or not in WGS-84 lon/lat degrees "
                           f"(bounds {west:g}, {south:g}, {east:g}, {north:g})")
    shapely.prepare(geom)
    return geom


def check_in_service_area(lat: float, lon: float) -> None:
    """Raise InvalidInput with an actionable reason if (lat, lon) is not in the configured service area."""
    service_area().check(lat, lon)


def in_jieyang_many(lats: Any, lons: Any) -> Any:
    """Whether each WGS-84 point lies in Jieyang, where the shipped data has districts and townships (vectorised)."""
    return _service_area("jieyang").covers(lats, lons)
