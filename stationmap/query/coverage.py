"""Coverage: which land and which people are within reach of enough stations; the gaps; what-if.

A station reaches every point within `reach_m` straight-line (geodesic) metres. Geometry is metric,
in geography.METRIC_CRS: circles are buffered there with their radius multiplied by the projection's
point scale factor at the station (so a circle on the map is the true geodesic circle to ~1e-6), and
areas measured there are divided by the areal scale factor (k²) to give areas on the ellipsoid. Population within reach is counted exactly per demand point with a
k-d tree (same scale correction). `min_stations=2` asks for cross coverage (双15 交叉覆盖): at least
two stations within reach.

Station-independent work (metric layers, the demand grid and its k-d tree) is cached, and so are the
last few results, so the web planner can call `coverage` per request.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Iterable, Sequence

import numpy as np
import shapely
from pyproj import Proj
from scipy.spatial import cKDTree
from shapely.geometry import mapping
from shapely.ops import nearest_points

from ..cache import LruCache
from ..checks import choices, lat_lon
from ..errors import InvalidInput
from ..geo import datums, geography
from ..geo.metric import geometry_to_wgs84, metric_layers, to_metric, to_wgs84
from ..model import STATUSES, Station
from . import travel
from .demand import Demand, default_demand

QUAD_SEGS = 32  # 128 vertices per circle: polygon area within 0.04 % of the circle's
CELLS_M = 1000.0  # uncovered people are drawn in 1 km squares: visible at the whole city's zoom
_CACHE: LruCache["CoverageResult"] = LruCache(32)


@lru_cache(maxsize=None)
def _proj() -> Proj:
    return Proj(geography.METRIC_CRS)


def scale_factor(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Point scale factor of METRIC_CRS (conformal: same in every direction) at WGS-84 points."""
    if np.size(lon) == 0:
        return np.zeros(0)
    return np.asarray(_proj().get_factors(np.asarray(lon, float), np.asarray(lat, float)).meridional_scale, float)


def true_area_m2(geoms: Any) -> np.ndarray:
    """Ellipsoidal area (m²) of METRIC_CRS geometries: planar area / k² at each one's centroid.

    The projection is conformal, so areas scale by k² (k = point scale factor, 1.00002-1.0003
    in Jieyang for EPSG:4548); k varies slowly enough that the centroid's k leaves errors near 1e-5.
    """
    geoms = np.atleast_1d(np.asarray(geoms, dtype=object))
    area = shapely.area(geoms)
    out = np.zeros(area.shape)
    ok = area > 0
    if ok.any():
        c = shapely.centroid(geoms[ok])
        lon, lat = to_wgs84(shapely.get_x(c), shapely.get_y(c))
        out[ok] = area[ok] / scale_factor(lon, lat) ** 2
    return out


def check_min_stations(min_stations: Any) -> int:
    if str(min_stations).strip() not in ("1", "2"):
        raise InvalidInput(f"min_stations {min_stations!r} is not allowed; use 1 (covered) or 2 (cross coverage, 双15)")
    return int(str(min_stations).strip())


def check_point(point: Any, crs: str = "wgs84") -> tuple[float, float]:
    """(lat, lon) from a pair or a {'lat', 'lon'} mapping in `crs`, inside Jieyang, as WGS-84."""
    if isinstance(point, dict):
        lat, lon = point.get("lat"), point.get("lon", point.get("lng"))
    else:
        try:
            lat, lon = point
        except (TypeError, ValueError):
            raise InvalidInput(f"a site must be a (lat, lon) pair, not {point!r}") from None
    lat, lon = datums.to_wgs84(*lat_lon(lat, lon), crs)
    geography.check_in_jieyang(lat, lon)
    return lat, lon


def may_reach_city(s: Station, reach_m: float) -> bool:
    """Whether a station can reach into Jieyang: one inside it, or one beyond it (a larger service area) within
    the city's box widened by `reach_m`. The others change no figure and, at a nation's size, would only cost time."""
    if s.district:
        return True
    west, south, east, north = geography.BBOX
    pad = reach_m / 90_000.0  # degrees: one of latitude, or of longitude below 34N, is over 90 km
    return south - pad <= s.lat <= north + pad and west - pad <= s.lon <= east + pad


def area_scope(stations: Sequence[Station]) -> dict[str, Any]:
    """Where population coverage is computed (Jieyang, the one area with boundaries and population in the shipped
    data) and how many stations of the registry lie outside it (beyond every boundary the data has)."""
    outside = sum(1 for s in stations if not s.district)
    area = geography.service_area()
    return {"coverage_area": "445200", "coverage_area_name": "揭阳市", "service_area": area.key,
            "service_area_name": area.name, "service_area_name_en": area.name_en, "stations_total": len(stations),
            "stations_outside_boundaries": outside}


def station_points(stations: Sequence[Station], add: Iterable[Any] = (), remove: Iterable[str] = (),
                   status: str | Iterable[str] | None = "open", crs: str = "wgs84", reach_m: float | None = None
                   ) -> tuple[np.ndarray, np.ndarray, list[str], list[tuple[float, float]], list[str]]:
    """(lats, lons, ids) of the stations counted: status filter, minus `remove` (ids), plus `add` sites; with
    `reach_m`, only those that may reach into the city."""
    wanted = choices(status, STATUSES, "status")
    removed = [str(r) for r in remove]
    known = {s.id for s in stations}
    unknown = [r for r in removed if r not in known]
    if unknown:
        raise InvalidInput(f"no station with id {unknown[0]!r} to remove" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
    drop = set(removed)
    used = [s for s in stations if s.id not in drop and (wanted is None or s.status in wanted)
            and (reach_m is None or may_reach_city(s, reach_m))]
    added = [check_point(p, crs) for p in add]
    lats = np.array([s.lat for s in used] + [p[0] for p in added], dtype=float)
    lons = np.array([s.lon for s in used] + [p[1] for p in added], dtype=float)
    ids = [s.id for s in used] + [f"new-{i + 1}" for i in range(len(added))]
    return lats, lons, ids, added, removed


def reach_counts(demand: Demand, x: np.ndarray, y: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """For each demand point, how many of the sites (metric x, y; per-site metric radius) reach it."""
    if x.size == 0:
        return np.zeros(len(demand), dtype=np.int64)
    lists = demand.tree.query_ball_point(np.column_stack((x, y)), radius, return_sorted=False)
    flat = np.fromiter((i for lst in lists for i in lst), dtype=np.int64) if len(lists) else np.zeros(0, np.int64)
    return np.bincount(flat, minlength=len(demand))


def covered_geometry(x: np.ndarray, y: np.ndarray, radius: np.ndarray, min_stations: int):
    """Metric area within reach of at least `min_stations` sites, clipped to the city."""
    city = metric_layers().city
    if x.size < min_stations:
        return shapely.Polygon()
    circles = shapely.buffer(shapely.points(x, y), radius, quad_segs=QUAD_SEGS)
    if min_stations == 1:
        union = shapely.union_all(circles)
    else:
        pairs = cKDTree(np.column_stack((x, y))).query_pairs(2 * float(radius.max()), output_type="ndarray")
        if len(pairs) == 0:
            return shapely.Polygon()
        lenses = shapely.intersection(circles[pairs[:, 0]], circles[pairs[:, 1]])
        union = shapely.union_all(lenses[~shapely.is_empty(lenses)])
    return shapely.intersection(union, city)


def _entry(code: str, name: str, area_m2: float, covered_m2: float, pop: float, covered_pop: float,
           modelled: bool) -> dict[str, Any]:
    return {
        "code": code, "name": name,
        "area_km2": round(float(area_m2) / 1e6, 3), "covered_area_km2": round(float(covered_m2) / 1e6, 3),
        "area_share": round(float(covered_m2 / area_m2), 6) if area_m2 else 0.0,
        "population": round(float(pop), 1), "covered_population": round(float(covered_pop), 1),
        "population_share": round(float(covered_pop / pop), 6) if pop else 0.0,
        "population_modelled": modelled,
    }


@dataclass(eq=False)
class CoverageResult:
    """Coverage of the city, each district (by adcode) and each township (by code)."""
    reach_m: float
    min_stations: int
    station_ids: list[str]
    demand: Demand
    counts: np.ndarray  # stations within reach, per demand point
    covered_metric: Any  # shapely, METRIC_CRS
    uncovered_metric: Any
    city: dict[str, Any]
    districts: dict[str, dict[str, Any]]
    townships: dict[str, dict[str, Any]]
    added: list[tuple[float, float]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    site_xy: np.ndarray | None = None  # metric x, y of the sites counted
    site_radius: np.ndarray | None = None

    @property
    def population_modelled(self) -> bool:
        return self.demand.modelled

    @cached_property
    def covered(self):
        """Covered land as a WGS-84 shapely geometry (x=lon, y=lat)."""
        return geometry_to_wgs84(self.covered_metric)

    @cached_property
    def uncovered(self):
        """Uncovered land as a WGS-84 shapely geometry."""
        return geometry_to_wgs84(self.uncovered_metric)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "reach_m": round(self.reach_m, 1), "min_stations": self.min_stations,
            "stations": len(self.station_ids),
            "population_modelled": self.demand.modelled,
            "population_label": self.demand.label, "population_label_zh": self.demand.label_zh,
            "demand": self.demand.meta(), "metric_crs": geography.METRIC_CRS,
            "city": self.city, "districts": self.districts, "townships": self.townships,
        }
        if self.added or self.removed:
            out["added"] = [{"lat": la, "lon": lo} for la, lo in self.added]
            out["removed"] = list(self.removed)
        return out

    def to_geojson(self, crs: str = "wgs84") -> dict[str, Any]:
        """FeatureCollection of the covered and uncovered land (coordinates in `crs`, default WGS-84)."""
        feats = []
        covered_km2 = self.city["covered_area_km2"]
        areas = {"covered": covered_km2, "uncovered": round(self.city["area_km2"] - covered_km2, 3)}
        for label, geom in (("covered", self.covered), ("uncovered", self.uncovered)):
            if crs != "wgs84":
                geom = datums.geometry_from_wgs84(geom, crs)
            feats.append({"type": "Feature", "geometry": mapping(geom), "properties": {
                "coverage": label, "reach_m": round(self.reach_m, 1), "min_stations": self.min_stations,
                "area_km2": areas[label]}})
        return {"type": "FeatureCollection", "features": feats}

    def gaps(self, limit: int | None = None) -> list["Gap"]:
        return _gaps(self, limit)

    def uncovered_cells(self, cell_m: float = CELLS_M) -> dict[str, Any]:
        """The people short of `min_stations` summed into square cells of `cell_m` (METRIC_CRS), so that
        a map shows where they are at every zoom: {"cell_m", "fields", "cells": [[south, west, north, east,
        people reached by no station, people reached by one], ...]} (WGS-84 corners to ~10 m: for drawing).

        With min_stations=1 the last figure is 0; with 2 it is those who lack only the second station."""
        d = self.demand
        short = np.flatnonzero((self.counts < self.min_stations) & (d.weight > 0))
        fields = ["south", "west", "north", "east", "none", "one"]
        if short.size == 0:
            return {"cell_m": cell_m, "fields": fields, "cells": []}
        gx = np.floor(d.x[short] / cell_m).astype(np.int64)
        gy = np.floor(d.y[short] / cell_m).astype(np.int64)
        uniq, inv = np.unique(np.column_stack((gx, gy)), axis=0, return_inverse=True)
        inv = inv.ravel()
        w = d.weight[short]
        none = np.bincount(inv, weights=w * (self.counts[short] == 0), minlength=len(uniq))
        one = np.bincount(inv, weights=w * (self.counts[short] == 1), minlength=len(uniq))
        west, south = to_wgs84(uniq[:, 0] * cell_m, uniq[:, 1] * cell_m)
        east, north = to_wgs84((uniq[:, 0] + 1) * cell_m, (uniq[:, 1] + 1) * cell_m)
        cells = [[round(float(a), 4), round(float(b), 4), round(float(c), 4), round(float(e), 4), round(float(n0)),
                  round(float(n1))] for a, b, c, e, n0, n1 in zip(south, west, north, east, none, one)]
        return {"cell_m": cell_m, "fields": fields, "cells": cells}


def coverage(stations: Sequence[Station], reach_m: float, min_stations: int = 1, demand: Demand | None = None,
             add: Iterable[Any] = (), remove: Iterable[str] = (), status: str | Iterable[str] | None = "open",
             crs: str = "wgs84") -> CoverageResult:
    """Share of land and of population within `reach_m` of >= `min_stations` stations.

    `status` chooses the stations counted (default: open ones; None counts all). What-if: `add` new
    sites ((lat, lon) pairs in `crs`) and `remove` station ids; the registry is not touched.
    """
    reach = travel.check_reach_m(reach_m)
    k = check_min_stations(min_stations)
    demand = demand or default_demand()
    lats, lons, ids, added, removed = station_points(stations, add, remove, status, crs, reach)
    key = (reach, k, demand.key, lats.round(7).tobytes(), lons.round(7).tobytes())
    hit = _CACHE.get(key)
    if hit is not None and hit.station_ids == ids and hit.added == added and hit.removed == removed:
        return hit
    return _CACHE.put(key, _compute(reach, k, demand, lats, lons, ids, added, removed))


def _compute(reach: float, k: int, demand: Demand, lats: np.ndarray, lons: np.ndarray, ids: list[str],
             added: list, removed: list) -> CoverageResult:
    layers = metric_layers()
    x, y = to_metric(lons, lats)
    radius = reach * scale_factor(lons, lats)
    counts = reach_counts(demand, x, y, radius)
    covered = covered_geometry(x, y, radius, k)
    uncovered = shapely.difference(layers.city, covered)
    ok = counts >= k
    w = demand.weight
    modelled = demand.modelled

    def pops(codes: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
        total: dict[str, float] = {}
        cov: dict[str, float] = {}
        uniq, inv = np.unique(codes, return_inverse=True)
        t = np.bincount(inv, weights=w, minlength=uniq.size)
        c = np.bincount(inv, weights=w * ok, minlength=uniq.size)
        for code, a, b in zip(uniq, t, c):
            total[str(code)], cov[str(code)] = float(a), float(b)
        return total, cov

    d_tot, d_cov = pops(demand.district)
    t_tot, t_cov = pops(demand.township)
    d_area, t_area, city_area = _unit_areas()
    d_cov_area = true_area_m2(shapely.intersection(layers.district_geoms, covered))
    t_cov_area = true_area_m2(shapely.intersection(layers.township_geoms, covered))
    districts = {}
    for code, a, ca in zip(layers.district_codes, d_area, d_cov_area):
        districts[code] = _entry(code, layers.district_names[code], a, ca, d_tot.get(code, 0.0), d_cov.get(code, 0.0), modelled)
    townships = {}
    for code, a, ca in zip(layers.township_codes, t_area, t_cov_area):
        entry = _entry(code, layers.township_names[code], a, ca, t_tot.get(code, 0.0), t_cov.get(code, 0.0), modelled)
        dcode = layers.township_district[code]
        townships[code] = {**entry, "district": dcode, "district_name": layers.district_names[dcode], "approximate": True}
    city = _entry("445200", "揭阳市", city_area, float(true_area_m2(covered)[0]), float(w.sum()), float(w[ok].sum()), modelled)
    return CoverageResult(reach, k, ids, demand, counts, covered, uncovered, city, districts, townships,
                          list(added), list(removed), np.column_stack((x, y)), radius)


@lru_cache(maxsize=None)
def _unit_areas() -> tuple[np.ndarray, np.ndarray, float]:
    layers = metric_layers()
    return true_area_m2(layers.district_geoms), true_area_m2(layers.township_geoms), float(true_area_m2(layers.city)[0])


# -- what-if ---------------------------------------------------------------------------------------

_CHANGE_KEYS = ("covered_area_km2", "area_share", "covered_population", "population_share")


@dataclass(eq=False)
class WhatIf:
    before: CoverageResult
    after: CoverageResult

    def change(self) -> dict[str, Any]:
        """after - before for the covered figures of the city, each district and each township."""
        def diff(a: dict, b: dict) -> dict:
            return {k: round(b[k] - a[k], 6) for k in _CHANGE_KEYS}
        return {"city": diff(self.before.city, self.after.city),
                "districts": {c: diff(self.before.districts[c], v) for c, v in self.after.districts.items()},
                "townships": {c: diff(self.before.townships[c], v) for c, v in self.after.townships.items()}}

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before.to_dict(), "after": self.after.to_dict(), "change": self.change(),
                "population_modelled": self.after.demand.modelled}


def what_if(stations: Sequence[Station], reach_m: float, add: Iterable[Any] = (), remove: Iterable[str] = (),
            min_stations: int = 1, demand: Demand | None = None, status: str | Iterable[str] | None = "open",
            crs: str = "wgs84") -> WhatIf:
    """Coverage before and after adding sites and removing stations (hypothetical; nothing is written)."""
    before = coverage(stations, reach_m, min_stations, demand, status=status)
    after = coverage(stations, reach_m, min_stations, demand, add=list(add), remove=list(remove), status=status, crs=crs)
    return WhatIf(before, after)


# -- gaps ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Gap:
    """A connected piece of uncovered land inside one township, with the people it holds."""
    rank: int
    lat: float  # population-weighted centre, moved inside the piece if it fell outside
    lon: float
    district: str
    district_name: str
    township: str
    township_name: str
    population: float
    area_km2: float
    modelled: bool
    geometry: Any = field(repr=False, compare=False, default=None)  # WGS-84 polygon

    def to_dict(self, geometry: bool = False) -> dict[str, Any]:
        out = {"rank": self.rank, "lat": round(self.lat, 6), "lon": round(self.lon, 6),
               "district": self.district, "district_name": self.district_name,
               "township": self.township, "township_name": self.township_name,
               "population": round(self.population, 1), "population_modelled": self.modelled,
               "area_km2": round(self.area_km2, 3)}
        if geometry:
            out["geometry"] = mapping(self.geometry)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Gap":
        """A gap back from `to_dict(geometry=True)` (answers are stored as JSON)."""
        from shapely.geometry import shape

        return cls(d["rank"], d["lat"], d["lon"], d["district"], d["district_name"], d["township"],
                   d["township_name"], d["population"], d["area_km2"], d["population_modelled"],
                   shape(d["geometry"]) if d.get("geometry") else None)


def gaps(stations: Sequence[Station], reach_m: float, min_stations: int = 1, demand: Demand | None = None,
         limit: int | None = None, add: Iterable[Any] = (), remove: Iterable[str] = (),
         status: str | Iterable[str] | None = "open") -> list[Gap]:
    """Uncovered demand in pieces (connected uncovered land within a township), most people first."""
    return coverage(stations, reach_m, min_stations, demand, add=add, remove=remove, status=status).gaps(limit)


def _gaps(result: CoverageResult, limit: int | None) -> list[Gap]:
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
            raise InvalidInput(f"limit {limit!r} must be a whole number of at least 1")
    layers = metric_layers()
    demand = result.demand
    pieces = shapely.difference(layers.township_geoms, result.covered_metric)
    parts, owner = shapely.get_parts(pieces, return_index=True)
    keep = shapely.area(parts) > 0
    parts, owner = parts[keep], owner[keep]
    todo = np.flatnonzero((result.counts < result.min_stations) & (demand.weight > 0))
    if todo.size == 0 or parts.size == 0:
        return []
    pts = shapely.points(demand.x[todo], demand.y[todo])
    tree = shapely.STRtree(parts)
    piece = np.full(todo.size, -1)
    pi, gi = tree.query(pts, predicate="intersects")
    tcodes = np.array(layers.township_codes)
    same = tcodes[owner[gi]] == demand.township[todo[pi]]
    piece[pi[same][::-1]] = gi[same][::-1]  # first match wins
    lost = np.flatnonzero(piece < 0)  # circle-polygon rounding or cell edges: nearest piece
    if lost.size:
        li, gi = tree.query_nearest(pts[lost], all_matches=False)
        piece[lost[li]] = gi
    w = demand.weight[todo]
    pop = np.bincount(piece, weights=w, minlength=parts.size)
    cx = np.bincount(piece, weights=w * demand.x[todo], minlength=parts.size)
    cy = np.bincount(piece, weights=w * demand.y[todo], minlength=parts.size)
    order = [int(i) for i in np.argsort(-pop, kind="stable") if pop[i] > 0]
    if limit is not None:
        order = order[:limit]
    areas_km2 = true_area_m2(parts[order]) / 1e6 if order else []
    out = []
    for rank, (i, area_km2) in enumerate(zip(order, areas_km2), 1):
        centre = shapely.Point(cx[i] / pop[i], cy[i] / pop[i])
        if not parts[i].covers(centre):
            centre = nearest_points(parts[i], centre)[0]
        lon, lat = to_wgs84(np.array([centre.x]), np.array([centre.y]))
        tcode = str(tcodes[owner[i]])
        dcode = layers.township_district[tcode]
        out.append(Gap(rank, float(lat[0]), float(lon[0]), dcode, layers.district_names[dcode], tcode,
                       layers.township_names[tcode], float(pop[i]), float(area_km2), demand.modelled,
                       geometry_to_wgs84(parts[i])))
    return out
