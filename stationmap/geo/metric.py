"""Metric geometry for Jieyang: WGS-84 to and from the metric CRS (geography.METRIC_CRS), the
district and township layers prepared in it, and the one place that assigns metric points to
districts and townships.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

from . import geography

SNAP_M = 500.0  # user points this close outside the city outline are taken as inside (coast, border)


@lru_cache(maxsize=None)
def _to_metric() -> Transformer:
    return Transformer.from_crs(geography.WGS84, geography.METRIC_CRS, always_xy=True)


@lru_cache(maxsize=None)
def _to_wgs() -> Transformer:
    return Transformer.from_crs(geography.METRIC_CRS, geography.WGS84, always_xy=True)


def to_metric(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 lon/lat arrays -> METRIC_CRS x/y metres."""
    x, y = _to_metric().transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x, float), np.asarray(y, float)


def to_wgs84(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """METRIC_CRS x/y arrays -> WGS-84 lon/lat."""
    lon, lat = _to_wgs().transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon, float), np.asarray(lat, float)


def geometry_to_wgs84(geom):
    """A shapely geometry from METRIC_CRS to WGS-84 (x=lon, y=lat)."""
    return shapely.transform(geom, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1])))


def geometry_to_metric(geom):
    return shapely.transform(geom, lambda xy: np.column_stack(to_metric(xy[:, 0], xy[:, 1])))


@dataclass(frozen=True)
class MetricLayers:
    """The city, districts and township cells in METRIC_CRS, prepared; station-independent, built once."""
    city: Any
    district_codes: tuple[str, ...]
    district_geoms: np.ndarray
    district_names: dict[str, str]
    township_codes: tuple[str, ...]
    township_geoms: np.ndarray
    township_names: dict[str, str]
    township_district: dict[str, str]


@lru_cache(maxsize=None)
def metric_layers() -> MetricLayers:
    d = geography.districts().to_crs(geography.METRIC_CRS)
    t = geography.township_areas().to_crs(geography.METRIC_CRS)
    city = shapely.make_valid(geography.city().to_crs(geography.METRIC_CRS).geometry.union_all())
    dg = shapely.make_valid(np.asarray(d.geometry.values))
    tg = shapely.make_valid(np.asarray(t.geometry.values))
    for g in (city, *dg, *tg):
        shapely.prepare(g)
    return MetricLayers(city, tuple(d.index), dg, d["name"].to_dict(), tuple(t.index), tg,
                        t["name"].to_dict(), t["district"].to_dict())


def assign_units(x: np.ndarray, y: np.ndarray, snap_m: float = SNAP_M) -> tuple[np.ndarray, np.ndarray]:
    """District adcode and township code of metric points; '' where farther than `snap_m` outside the city.

    A point on no district polygon (coast, slivers between districts) within `snap_m` takes the nearest
    district; a point on no township cell of its district takes the nearest cell.
    """
    layers = metric_layers()
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = x.size
    district = np.full(n, "", dtype=object)
    for code, geom in zip(layers.district_codes, layers.district_geoms):
        todo = np.flatnonzero(district == "")
        if not todo.size:
            break
        district[todo[shapely.contains_xy(geom, x[todo], y[todo])]] = code
    missing = np.flatnonzero(district == "")
    if missing.size:
        pts = shapely.points(x[missing], y[missing])
        tree = shapely.STRtree(layers.district_geoms)
        mi, gi = tree.query_nearest(pts, max_distance=snap_m, all_matches=False)
        district[missing[mi]] = np.array(layers.district_codes, dtype=object)[gi]
    township = np.full(n, "", dtype=object)
    tcodes = np.array(layers.township_codes, dtype=object)
    tdist = np.array([layers.township_district[c] for c in layers.township_codes], dtype=object)
    for code in layers.district_codes:
        sel = np.flatnonzero(district == code)
        if not sel.size:
            continue
        cand = np.flatnonzero(tdist == code)
        for j in cand:
            todo = sel[township[sel] == ""]
            if not todo.size:
                break
            township[todo[shapely.contains_xy(layers.township_geoms[j], x[todo], y[todo])]] = tcodes[j]
        rest = sel[township[sel] == ""]
        if rest.size:
            sub = shapely.STRtree(layers.township_geoms[cand])
            ri, gi = sub.query_nearest(shapely.points(x[rest], y[rest]), all_matches=False)
            township[rest[ri]] = tcodes[cand[gi]]
    return district.astype(str), township.astype(str)


@dataclass(frozen=True)
class Place:
    district: str
    district_name: str
    township: str
    township_name: str


OUTSIDE = Place("", "", "", "")  # a point of the service area beyond Jieyang, where the data has no districts


def locate(lat: float, lon: float) -> Place:
    """District and (approximate) township of a WGS-84 point inside the service area (the one point locator:
    `assign_units` for a single point); OUTSIDE for one beyond Jieyang."""
    geography.check_in_service_area(lat, lon)
    if not geography.in_jieyang(lat, lon):
        return OUTSIDE
    x, y = to_metric(np.array([lon]), np.array([lat]))
    district, township = (str(codes[0]) for codes in assign_units(x, y))
    layers = metric_layers()
    return Place(district, layers.district_names[district], township, layers.township_names[township])
