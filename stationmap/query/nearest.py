"""Nearest stations by true geodesic distance on the WGS-84 ellipsoid.

`NearestIndex` works over any points. Candidates come from a k-d tree (pykdtree) over the points'
earth-centred (ECEF) coordinates on the ellipsoid surface, in order of the straight chord between
them and the query point. A chord is never longer than the geodesic over the surface (a straight line
is the shortest path in space), which bounds the search: candidates are measured exactly (Karney's
geodesic algorithm, the C implementation of GeographicLib shipped in PROJ, via pyproj.Geod: nanometre
accuracy) in chord order, and the search stops at the first candidate whose chord exceeds the k-th
exact distance found so far (plus a micrometre for rounding). Every point not yet measured has a chord,
and so a geodesic, at least that long: the answer is exact, not a guess from chord order. When the
fetched candidates run out first, the tree is asked for more.

`query_many` answers a batch of points at once by the same bound (vectorised), for coverage and
planners' files. `StationSet` adds the station layer's filters to the same search: candidates that
fail a filter are skipped and the search goes on (with an index of the stations passing a rare filter
when skipping would take long). `nearest` adds the datum of the query point (WGS-84, GCJ-02, BD-09),
the filters (kind, amenities, open now in Asia/Shanghai, status) and travel minutes per mode.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ._onethread import KDTree

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
_PAD = 1  # extra candidates fetched beyond k at first: one more chord is what proves the k found (nearly always)
_GROW = 4  # each further fetch asks for this many times as many
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


def beyond(chord: float, kth: float) -> bool:
    """True when a chord this long proves its point (and every point with a longer chord) farther than
    `kth` metres along the ellipsoid: geodesic >= chord, with a micrometre and 1e-12 of slack for the
    rounding of either figure."""
    return chord > kth * (1 + 1e-12) + 1e-6


def check_k(k: Any) -> int:
    """k as a whole number of at least 1, or InvalidInput (entry points bound it by the max_results setting)."""
    return whole_number(k, "k", 1)


Keep = Callable[[int], bool]


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
        self._xyz = ecef(self.lats, self.lons) if self.lats.size else None
        self._tree = KDTree(self._xyz) if self.lats.size else None

    def __len__(self) -> int:
        return int(self.lats.size)

    def query(self, lat: float, lon: float, k: int = 5) -> list[tuple[int, float]]:
        """[(position, distance_m)] of the k nearest points, nearest first (ties by position)."""
        lat, lon = check_lat_lon(lat, lon)
        return [(i, d) for i, d, _az in self.search(lat, lon, check_k(k))]

    def query_with_bearing(self, lat: float, lon: float, k: int = 5,
                           keep: Keep | None = None) -> list[tuple[int, float, float]]:
        """[(position, distance_m, bearing_deg)] of the k nearest points for which `keep(position)` is true
        (every point without `keep`), nearest first; bearing is the forward azimuth from the query point, 0-360."""
        lat, lon = check_lat_lon(lat, lon)
        return self.search(lat, lon, check_k(k), keep)

    def search(self, lat: float, lon: float, k: int, keep: Keep | None = None,
               limit: int | None = None) -> list[tuple[int, float, float]]:
        """`query_with_bearing` for checked arguments. With `limit`, gives up (returns None) rather than
        fetch more than `limit` candidates."""
        n = len(self)
        if n == 0:
            return []
        point = np.array([_ecef1(lat, lon)])
        inv, la, lo = GEOD.inv, self._lat_list, self._lon_list
        best: list[tuple[float, int, float]] = []  # (distance, position, azimuth), sorted, at most k
        seen = 0
        m = min(n, k + _PAD)
        while True:
            chords, idx = self._tree.query(point, k=m)
            chords, idx = chords.ravel().tolist(), idx.ravel().tolist()
            for c, i in zip(chords[seen:], idx[seen:]):  # chord order: what came before is settled
                if len(best) == k and beyond(c, best[-1][0]):
                    return [(i_, d, az) for d, i_, az in best]
                if keep is not None and not keep(i):
                    continue
                az, _back, d = inv(lon, lat, lo[i], la[i])
                bisect.insort(best, (d, i, az % 360.0))
                if len(best) > k:
                    best.pop()
            if m == n:
                return [(i_, d, az) for d, i_, az in best]
            if limit is not None and m >= limit:
                return None  # type: ignore[return-value]
            seen, m = m, min(n, m * _GROW)

    def query_many(self, lats: Sequence[float], lons: Sequence[float], k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest points to each of many WGS-84 points at once: (positions, distances_m), both of
        shape (queries, min(k, points)), each row nearest first (ties by position). Exact, by the same
        bound as `query`: a row whose fetched candidates do not prove it is answered by `search`."""
        qlat = np.asarray(lats, dtype=float).ravel()
        qlon = np.asarray(lons, dtype=float).ravel()
        if qlat.shape != qlon.shape:
            raise InvalidInput(f"{qlat.size} latitudes but {qlon.size} longitudes")
        if not (np.isfinite(qlat).all() and np.isfinite(qlon).all()
                and (np.abs(qlat) <= 90).all() and (np.abs(qlon) <= 180).all()):
            raise InvalidInput("query points must be finite latitudes (-90..90) and longitudes (-180..180)")
        k = min(check_k(k), len(self))
        q = qlat.size
        if q == 0 or k == 0:
            return np.zeros((q, k), dtype=np.int64), np.zeros((q, k))
        m = min(len(self), k + _PAD)
        chords, idx = self._tree.query(ecef(qlat, qlon), k=m, sqr_dists=True)
        chords = np.sqrt(chords)
        chords, idx = chords.reshape(q, m), idx.reshape(q, m).astype(np.int64)

        def measure(rows: np.ndarray, cols: np.ndarray | int) -> np.ndarray:
            pos = idx[rows, cols]
            return np.asarray(GEOD.inv(qlon[rows], qlat[rows], self.lons[pos], self.lats[pos])[2])

        rows = np.arange(q)
        pos = idx[:, :k].copy()
        dist = measure(np.repeat(rows, k), np.tile(np.arange(k), q)).reshape(q, k)
        for j in range(k, m):  # a later candidate matters only while its chord is not beyond the k-th distance
            worst = dist.max(axis=1)
            open_rows = np.flatnonzero(~(chords[:, j] > worst * (1 + 1e-12) + 1e-6))
            if open_rows.size == 0:
                break
            d = measure(open_rows, j)
            p = idx[open_rows, j]
            slot = np.argmax(dist[open_rows], axis=1)
            cur_d, cur_p = dist[open_rows, slot], pos[open_rows, slot]
            better = (d < cur_d) | ((d == cur_d) & (p < cur_p))
            dist[open_rows[better], slot[better]] = d[better]
            pos[open_rows[better], slot[better]] = p[better]
        if m == len(self):  # every point was a candidate
            unproven = np.array([], dtype=np.int64)
        else:
            unproven = np.flatnonzero(~(chords[:, -1] > dist.max(axis=1) * (1 + 1e-12) + 1e-6))
        for r in unproven.tolist():
            hits = self.search(float(qlat[r]), float(qlon[r]), k)
            pos[r] = [i for i, _d, _az in hits]
            dist[r] = [d for _i, d, _az in hits]
        order = np.lexsort((pos, dist), axis=-1)
        return np.take_along_axis(pos, order, axis=1), np.take_along_axis(dist, order, axis=1)


# -- the station layer ---------------------------------------------------------------------------

def compass_point(bearing_deg: float) -> int:
    """Which of the 8 compass points a bearing is nearest to: 0 north, 1 north-east ... clockwise."""
    return int(((bearing_deg % 360) + 22.5) // 45) % 8


def compass(bearing_deg: float, lang: str = "en") -> str:
    """8-point compass name of a bearing: 'NE' / '东北'."""
    names = _COMPASS_ZH if lang == "zh" else _COMPASS_EN
    return names[compass_point(bearing_deg)]


@dataclass(frozen=True)
class NearestResult:
    """One station found near a point; `stationmap.present.nearest_result` gives its outward shape."""

    station: Station
    distance_m: float  # geodesic, WGS-84 ellipsoid
    bearing_deg: float  # forward azimuth from the query point to the station, clockwise from north
    minutes: dict[str, float] = field(default_factory=dict)  # estimated, per mode (see stationmap.query.travel)
    open_now: bool | None = None  # at the query time; None when hours are unknown


@dataclass(frozen=True)
class Filters:
    """The station filters, checked: kinds, statuses and amenities (what a station is) and open now
    (what it is at `when`)."""

    kinds: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    amenities: frozenset[str] = frozenset()
    open_now: bool = False
    when: datetime | None = None

    @classmethod
    def of(cls, kind: str | Iterable[str] | None = None, amenities: Iterable[str] = (), open_now: bool = False,
           status: str | Iterable[str] | None = None, when: datetime | None = None) -> "Filters":
        kinds = choices(kind, KINDS, "kind", {v: k for k, v in KIND_ZH.items()})
        statuses = choices(status, STATUSES, "status")
        wanted = {amenity_key(a) for a in ([amenities] if isinstance(amenities, str) else amenities or ())}
        return cls(frozenset(kinds or ()), frozenset(statuses or ()), frozenset(wanted), bool(open_now), when)

    def static_key(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        return self.kinds, self.statuses, self.amenities

    def fixed(self, s: Station) -> bool:
        """Passes the filters on what the station is."""
        return ((not self.kinds or s.kind in self.kinds) and (not self.statuses or s.status in self.statuses)
                and (not self.amenities or self.amenities.issubset(s.amenities)))

    def timed(self, s: Station) -> bool:
        """Passes the open-now filter (unknown hours fail it)."""
        return not self.open_now or (s.status == "open" and is_open(s.hours, self.when) is True)

    def __call__(self, s: Station) -> bool:
        return self.fixed(s) and self.timed(s)


NO_FILTERS = Filters()  # a question without filters (the open-now filter alone reads the time)


def filter_stations(stations: Iterable[Station], kind: str | Iterable[str] | None = None,
                    amenities: Iterable[str] = (), open_now: bool = False,
                    status: str | Iterable[str] | None = None, when: datetime | None = None) -> list[Station]:
    """Stations passing every filter: kind, all `amenities`, open at `when` (unknown hours fail), status."""
    passes = Filters.of(kind, amenities, open_now, status, when)
    return [s for s in stations if passes(s)]


class StationSet:
    """A registry's stations with their nearest index, built once per registry version and shared by the
    requests: a nearest question with filters walks the index and skips the stations that fail them, so
    it costs what the answer's neighbourhood holds, not the registry's size."""

    def __init__(self, stations: Sequence[Station], index: NearestIndex | None = None):
        self.stations = tuple(stations)
        self.index = index or NearestIndex([s.lat for s in self.stations], [s.lon for s in self.stations])
        self._subsets: LruCache[tuple[list[int], NearestIndex]] = LruCache(16)
        self.memo: dict[str, Any] = {}  # what other layers derive once per set (encoded stations)

    def __len__(self) -> int:
        return len(self.stations)

    def _subset(self, passes: Filters) -> tuple[list[int], NearestIndex]:
        """The stations passing the fixed filters, with their own index (kept for the next question)."""
        def build() -> tuple[list[int], NearestIndex]:
            pos = [i for i, s in enumerate(self.stations) if passes.fixed(s)]
            return pos, NearestIndex([self.stations[i].lat for i in pos], [self.stations[i].lon for i in pos])

        return self._subsets.get_or_compute(passes.static_key(), build)

    def search(self, lat: float, lon: float, k: int, passes: Filters) -> list[tuple[Station, float, float]]:
        """[(station, distance_m, bearing_deg)] of the k nearest stations passing the filters (WGS-84, checked)."""
        st = self.stations
        if not (passes.kinds or passes.statuses or passes.amenities or passes.open_now):
            return [(st[i], d, az) for i, d, az in self.index.search(lat, lon, k)]
        verdicts: dict[int, bool] = {}

        def keep(i: int) -> bool:
            if i not in verdicts:
                verdicts[i] = passes(st[i])
            return verdicts[i]

        fixed_only = passes.kinds or passes.statuses or passes.amenities
        # Skipping is cheap while passing stations are common; a rare filter gets its own index instead.
        hits = self.index.search(lat, lon, k, keep, limit=max(256, 32 * k) if fixed_only else None)
        if hits is not None:
            return [(st[i], d, az) for i, d, az in hits]
        pos, sub = self._subset(passes)
        timed = (lambda j: passes.timed(st[pos[j]])) if passes.open_now else None
        return [(st[pos[j]], d, az) for j, d, az in sub.search(lat, lon, k, timed)]


_SETS: LruCache[StationSet] = LruCache(8)
_INDEXES: LruCache[NearestIndex] = LruCache(16)


def station_set(stations: Sequence[Station]) -> StationSet:
    """A StationSet over these stations; its index is kept for a few recent sets of locations."""
    key = tuple((s.lat, s.lon) for s in stations)
    index = _INDEXES.get_or_compute(key, lambda: NearestIndex([s.lat for s in stations], [s.lon for s in stations]))
    return StationSet(stations, index)


def registry_set(store: Any) -> StationSet:
    """The StationSet of a store's registry as it is now, built once per store version (`store.version()`)."""
    key = (type(store).__name__, store.describe(), store.version())  # read before the stations: never stale
    return _SETS.get_or_compute(key, lambda: StationSet(store.all()))


def nearest(stations: Sequence[Station] | StationSet, lat: float, lon: float, k: int = 5, crs: str = "wgs84",
            kind: str | Iterable[str] | None = None, amenities: Iterable[str] = (), open_now: bool = False,
            status: str | Iterable[str] | None = None, when: datetime | None = None) -> list[NearestResult]:
    """The k stations nearest to (lat, lon) given in `crs`, after the filters, nearest first.

    `open_now` keeps stations whose status is open and whose hours say open at `when` (default now,
    Asia/Shanghai); stations with unknown hours are left out. Distances are geodesic on WGS-84.
    `stations` is a list, or a `StationSet` (`registry_set`) to answer many questions over one registry.
    """
    lat, lon = check_lat_lon(lat, lon)
    k = check_k(k)
    if crs != "wgs84":
        lat, lon = question_point(lat, lon, crs)
    if kind is None and not amenities and not open_now and status is None:
        passes = NO_FILTERS
    else:
        passes = Filters.of(kind, amenities, open_now, status, when)
    found = stations if isinstance(stations, StationSet) else station_set(stations)
    if not len(found):
        return []
    minutes = travel.all_minutes
    return [NearestResult(s, d, az, minutes(d), is_open(s.hours, when))
            for s, d, az in found.search(lat, lon, k, passes)]


@lru_cache(maxsize=64)
def question_point(lat: float, lon: float, crs: str) -> tuple[float, float]:
    """`datums.to_wgs84` of a question's point, kept for the latest few: its answer converts it again for the
    origin it shows, and the inverse transforms from GCJ-02 and BD-09 iterate."""
    return datums.to_wgs84(lat, lon, crs)


NEAR_CITY_M = 50_000.0  # within this of the city, `to_jieyang_m` is exact to its fine outline


def to_jieyang_m(lat: float, lon: float) -> float:
    """Geodesic metres from a WGS-84 point to the nearest point of Jieyang (0 inside the city): within ~100 m
    up to NEAR_CITY_M from it (where the far rule is decided), within ~2 km beyond.

    Both are distances to the nearest vertex of the outline cut into short pieces: ~150 m apart, found by the
    exact station index, near the city; ~2 km apart, all measured at once, farther away (where the chord
    order the index walks in strays from the geodesic one, and would have it measure most of the outline).
    """
    from ..geo import geography

    lat, lon = check_lat_lon(lat, lon)
    if geography.in_jieyang(lat, lon):
        return 0.0
    coarse_lats, coarse_lons = _outline(0.02, 0.01)
    n = coarse_lats.size
    far = float(GEOD.inv(np.full(n, lon), np.full(n, lat), coarse_lons, coarse_lats)[2].min())
    if far > NEAR_CITY_M:
        return far
    return float(_outline_index().query(lat, lon, 1)[0][1])


@lru_cache(maxsize=2)
def _outline(spacing_deg: float, simplify_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(lats, lons) of the city outline's vertices, generalised to `simplify_deg`, then cut into pieces of at
    most `spacing_deg`. The outline is the service area's geometry, read without geopandas (a worker answering
    nearest questions need not import it)."""
    import shapely

    from ..geo import geography

    outline = geography.service_area("jieyang").geometry.boundary.simplify(simplify_deg)
    xy = shapely.get_coordinates(shapely.segmentize(outline, spacing_deg))
    return xy[:, 1], xy[:, 0]


@lru_cache(maxsize=1)
def _outline_index() -> "NearestIndex":
    lats, lons = _outline(0.0015)
    return NearestIndex(lats, lons)


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
