"""Nearest stations by true geodesic distance on the WGS-84 ellipsoid.

`NearestIndex` works over any points. Candidates come from a k-d tree (scipy cKDTree) over the
points' earth-centred (ECEF) coordinates on the ellipsoid surface, ranked by the straight chord
between them. A chord is never longer than the geodesic over the surface, and on the scale of a
city the two differ by well under a millimetre, so the tree's order is nearly the true one. The tree
over-fetches a few candidates, each is measured exactly (Karney's geodesic algorithm, the C
implementation of GeographicLib shipped in PROJ, via pyproj.Geod: nanometre accuracy), and the
answer is proven complete: if the farthest fetched chord is not beyond the k-th exact distance,
every point whose chord is within that distance is fetched and measured too.

`nearest` adds the station layer: datum of the query point (WGS-84, GCJ-02, BD-09), filters
(kind, amenities, open now in Asia/Shanghai, status) and travel minutes per mode.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable, Sequence

import numpy as np
from scipy.spatial import cKDTree

from ..cache import LruCache
from ..checks import choices
from ..checks import lat_lon as check_lat_lon
from ..checks import whole_number
from ..errors import InvalidInput
from ..geo import datums
from ..geo.geodesic import GEOD
from ..hours import is_open
from ..model import KIND_ZH, KINDS, STATUSES, Station
from ..vocab import amenity_key
from . import travel

_A = 6378137.0
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)
_PAD = 4  # extra candidates fetched beyond k before the completeness check
_COMPASS_EN = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
_COMPASS_ZH = ("北", "东北", "东", "东南", "南", "西南", "西", "西北")


def ecef(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """(n, 3) earth-centred coordinates (m) of WGS-84 points on the ellipsoid surface."""
    phi, lam = np.radians(lats), np.radians(lons)
    sin_phi = np.sin(phi)
    n = _A / np.sqrt(1 - _E2 * sin_phi * sin_phi)
    return np.column_stack((n * np.cos(phi) * np.cos(lam), n * np.cos(phi) * np.sin(lam), n * (1 - _E2) * sin_phi))


def _ecef1(lat: float, lon: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lon)
    sp = math.sin(phi)
    n = _A / math.sqrt(1 - _E2 * sp * sp)
    return (n * math.cos(phi) * math.cos(lam), n * math.cos(phi) * math.sin(lam), n * (1 - _E2) * sp)


def check_k(k: Any) -> int:
    """k as a whole number of at least 1, or InvalidInput (entry points bound it by the max_results setting)."""
    return whole_number(k, "k", 1)


class NearestIndex:
    """k nearest of a fixed set of WGS-84 points, by exact geodesic distance (to well under 0.1 m)."""

    def __init__(self, lats: Sequence[float], lons: Sequence[float]):
        self.lats = np.asarray(lats, dtype=float).ravel()
        self.lons = np.asarray(lons, dtype=float).ravel()
        if self.lats.shape != self.lons.shape:
            raise InvalidInput(f"{self.lats.size} latitudes but {self.lons.size} longitudes")
        if not (np.isfinite(self.lats).all() and np.isfinite(self.lons).all()
                and (np.abs(self.lats) <= 90).all() and (np.abs(self.lons) <= 180).all()):
            raise InvalidInput("index points must be finite latitudes (-90..90) and longitudes (-180..180)")
        self._lat_list = self.lats.tolist()
        self._lon_list = self.lons.tolist()
        self._tree = cKDTree(ecef(self.lats, self.lons)) if self.lats.size else None

    def __len__(self) -> int:
        return int(self.lats.size)

    def query(self, lat: float, lon: float, k: int = 5) -> list[tuple[int, float]]:
        """[(position, distance_m)] of the k nearest points, nearest first (ties by position)."""
        return [(i, d) for i, d, _az in self.query_with_bearing(lat, lon, k)]

    def query_with_bearing(self, lat: float, lon: float, k: int = 5) -> list[tuple[int, float, float]]:
        """[(position, distance_m, bearing_deg)]; bearing is the forward azimuth from the query point, 0-360."""
        lat, lon = check_lat_lon(lat, lon)
        k = check_k(k)
        n = len(self)
        if n == 0:
            return []
        k = min(k, n)
        k0 = min(n, k + _PAD)
        point = _ecef1(lat, lon)
        chords, idx = self._tree.query(point, k=k0)
        if k0 == 1:
            chords, idx = [chords], [idx]
        else:
            chords, idx = chords.tolist(), idx.tolist()
        found = self._measure(lat, lon, idx)
        kth = found[k - 1][1]
        if k0 < n and chords[-1] <= kth:
            # Some unfetched point may have a chord <= kth and so possibly a geodesic <= kth: fetch them all.
            idx = self._tree.query_ball_point(point, kth * (1 + 1e-12) + 1e-6)
            found = self._measure(lat, lon, idx)
        return found[:k]

    def _measure(self, lat: float, lon: float, idx: Iterable[int]) -> list[tuple[int, float, float]]:
        out = []
        inv, la, lo = GEOD.inv, self._lat_list, self._lon_list
        for i in idx:
            az, _back, dist = inv(lon, lat, lo[i], la[i])
            out.append((int(i), float(dist), float(az) % 360.0))
        out.sort(key=lambda t: (t[1], t[0]))
        return out


# -- the station layer ---------------------------------------------------------------------------

def compass(bearing_deg: float, lang: str = "en") -> str:
    """8-point compass name of a bearing: 'NE' / '东北'."""
    names = _COMPASS_ZH if lang == "zh" else _COMPASS_EN
    return names[int(((bearing_deg % 360) + 22.5) // 45) % 8]


@dataclass(frozen=True)
class NearestResult:
    """One station found near a point; `stationmap.present.nearest_result` gives its outward shape."""

    station: Station
    distance_m: float  # geodesic, WGS-84 ellipsoid
    bearing_deg: float  # forward azimuth from the query point to the station, clockwise from north
    minutes: dict[str, float] = field(default_factory=dict)  # estimated, per mode (see stationmap.query.travel)
    open_now: bool | None = None  # at the query time; None when hours are unknown


def filter_stations(stations: Iterable[Station], kind: str | Iterable[str] | None = None,
                    amenities: Iterable[str] = (), open_now: bool = False,
                    status: str | Iterable[str] | None = None, when: datetime | None = None) -> list[Station]:
    """Stations passing every filter: kind, all `amenities`, open at `when` (unknown hours fail), status."""
    kinds = choices(kind, KINDS, "kind", {v: k for k, v in KIND_ZH.items()})
    statuses = choices(status, STATUSES, "status")
    wanted = {amenity_key(a) for a in ([amenities] if isinstance(amenities, str) else amenities or ())}
    out = []
    for s in stations:
        if kinds and s.kind not in kinds:
            continue
        if statuses and s.status not in statuses:
            continue
        if wanted and not wanted.issubset(s.amenities):
            continue
        if open_now and (s.status != "open" or is_open(s.hours, when) is not True):
            continue
        out.append(s)
    return out


_INDEXES: LruCache[NearestIndex] = LruCache(16)


def station_index(stations: Sequence[Station]) -> NearestIndex:
    """A NearestIndex over the stations' locations, cached on those locations (a few recent sets)."""
    key = tuple((s.lat, s.lon) for s in stations)
    return _INDEXES.get_or_compute(key, lambda: NearestIndex([s.lat for s in stations], [s.lon for s in stations]))


def nearest(stations: Sequence[Station], lat: float, lon: float, k: int = 5, crs: str = "wgs84",
            kind: str | Iterable[str] | None = None, amenities: Iterable[str] = (), open_now: bool = False,
            status: str | Iterable[str] | None = None, when: datetime | None = None) -> list[NearestResult]:
    """The k stations nearest to (lat, lon) given in `crs`, after the filters, nearest first.

    `open_now` keeps stations whose status is open and whose hours say open at `when` (default now,
    Asia/Shanghai); stations with unknown hours are left out. Distances are geodesic on WGS-84.
    """
    lat, lon = check_lat_lon(lat, lon)
    k = check_k(k)
    lat, lon = datums.to_wgs84(lat, lon, crs)
    chosen = filter_stations(stations, kind=kind, amenities=amenities, open_now=open_now, status=status, when=when)
    if not chosen:
        return []
    hits = station_index(chosen).query_with_bearing(lat, lon, k)
    return [NearestResult(chosen[i], d, az, travel.all_minutes(d), is_open(chosen[i].hours, when))
            for i, d, az in hits]


def to_jieyang_m(lat: float, lon: float) -> float:
    """Geodesic metres from a WGS-84 point to the nearest point of Jieyang (0 inside the city).

    The city outline (generalised to ~100 m) is projected azimuthal-equidistant about the point, which
    keeps every distance from the point true, so the plane distance to the outline is the distance on
    the ellipsoid (to the generalisation, well under a kilometre).
    """
    import shapely
    from pyproj import Transformer

    from ..geo import geography

    lat, lon = check_lat_lon(lat, lon)
    if geography.in_jieyang(lat, lon):
        return 0.0
    outline = _outline()
    aeqd = Transformer.from_crs("EPSG:4326", f"+proj=aeqd +lat_0={lat} +lon_0={lon} +ellps=WGS84 +units=m",
                                always_xy=True)
    projected = shapely.transform(outline, lambda xy: np.column_stack(aeqd.transform(xy[:, 0], xy[:, 1])))
    return float(projected.distance(shapely.Point(0, 0)))


@lru_cache(maxsize=1)
def _outline():
    from ..geo import geography

    return geography.city().geometry.iloc[0].simplify(0.001).boundary


def select_stations(stations: Iterable[Station], *, kind=None, district=None, amenity=(), open_now=False,
                    status=None, bbox=None, q=None, when: datetime | None = None) -> list[Station]:
    """The station filters of the station list and the map pages: `filter_stations`, and district,
    bounding box (w, s, e, n in WGS-84) and text in name, address, host or id."""
    chosen = filter_stations(stations, kind=kind, amenities=amenity, open_now=open_now, status=status, when=when)
    if district:
        chosen = [s for s in chosen if s.district == district]
    if bbox:
        w, s_, e, n = bbox
        chosen = [s for s in chosen if w <= s.lon <= e and s_ <= s.lat <= n]
    if q:
        needle = q.casefold()
        chosen = [s for s in chosen if any(needle in str(v).casefold() for v in (s.name, s.address, s.host, s.id))]
    return chosen
