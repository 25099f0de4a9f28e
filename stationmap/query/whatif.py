"""What-if on the planner's map: the change in 1- and 2-station coverage when sites are added and
stations removed, from per-person station counts (no geometry), fast enough to answer while a
request waits.

The registry's counts (how many open stations reach each demand point) are kept per station set,
reach and demand layer; a what-if adds the counts of the added sites and subtracts those of the
removed stations, both a handful of k-d tree queries. The figures equal `coverage.coverage(...,
add=..., remove=...)` for the same inputs (same geometry: geodesic reach through the metric CRS's
point scale factor), which computes the covered land as well and is too slow to answer per tap.

Inputs are bounded (`MAX_ADD`, `MAX_REMOVE`) so that every what-if stays a few milliseconds of work.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from ..cache import LruCache
from ..errors import InvalidInput
from ..geo.metric import assign_units, metric_layers, to_metric
from ..model import Station
from . import travel

if TYPE_CHECKING:
    from .demand import Demand

MAX_ADD = 20  # candidate sites per what-if
MAX_REMOVE = 50  # stations closed per what-if
_BASE: LruCache[np.ndarray] = LruCache(16)


def _counts(demand: Demand, lats: np.ndarray, lons: np.ndarray, reach: float) -> np.ndarray:
    from .coverage import reach_counts, scale_factor

    x, y = to_metric(lons, lats)
    return reach_counts(demand, x, y, reach * scale_factor(lons, lats))


def base_counts(stations: Sequence[Station], reach: float, demand: Demand) -> np.ndarray:
    """Open stations reaching each demand point (kept per station set, reach and demand layer); stations that
    cannot reach into the city (a larger service area) are left out: they change no count."""
    from .coverage import may_reach_city

    used = [s for s in stations if s.status == "open" and may_reach_city(s, reach)]
    key = (round(reach, 3), demand.key, tuple((s.id, s.lat, s.lon) for s in used))
    return _BASE.get_or_compute(key, lambda: _counts(demand, np.array([s.lat for s in used], float),
                                                     np.array([s.lon for s in used], float), reach))


@dataclass(frozen=True)
class Level:
    """People reached by at least `k` stations, before and after."""

    k: int
    before: float
    after: float
    gained: float  # reach k stations now, did not before
    lost: float  # reached k stations before, not now
    total: float

    def to_dict(self) -> dict[str, Any]:
        share = (lambda v: round(v / self.total, 6) if self.total else 0.0)
        return {"min_stations": self.k, "before": round(self.before, 1), "after": round(self.after, 1),
                "change": round(self.after - self.before, 1), "gained": round(self.gained, 1),
                "lost": round(self.lost, 1), "share_before": share(self.before), "share_after": share(self.after)}


@dataclass(frozen=True)
class WhatIfDelta:
    reach_m: float
    added: list[dict[str, Any]]  # lat, lon, district, township, gain_1, gain_2 (each site alone)
    removed: list[dict[str, Any]]  # id, name, lost_1, lost_2 (each station alone)
    levels: tuple[Level, Level]  # 1 station, 2 stations (双15 cross coverage)
    population_modelled: bool
    demand_label_zh: str

    def to_dict(self) -> dict[str, Any]:
        return {"reach_m": round(self.reach_m, 1), "added": self.added, "removed": self.removed,
                "coverage": {str(lv.k): lv.to_dict() for lv in self.levels},
                "population_modelled": self.population_modelled, "population_label_zh": self.demand_label_zh}


def _check_sizes(add: list, remove: list) -> None:
    if len(add) > MAX_ADD:
        raise InvalidInput(f"{len(add)} added sites; at most {MAX_ADD} per what-if")
    if len(remove) > MAX_REMOVE:
        raise InvalidInput(f"{len(remove)} removed stations; at most {MAX_REMOVE} per what-if")


def what_if(stations: Sequence[Station], reach_m: float, add: Iterable[Any] = (), remove: Iterable[str] = (),
            demand: Demand | None = None, crs: str = "wgs84") -> WhatIfDelta:
    """Coverage by 1 and by 2 stations before and after adding sites ((lat, lon) in `crs`) and removing
    stations (ids), over the open stations; per site the people it alone would bring to each level."""
    from .coverage import check_point
    from .demand import default_demand

    reach = travel.check_reach_m(reach_m)
    add, remove = list(add), [str(r) for r in remove]
    _check_sizes(add, remove)
    by_id = {s.id: s for s in stations}
    unknown = [r for r in remove if r not in by_id]
    if unknown:
        raise InvalidInput(f"no station with id {unknown[0][:40]!r} to remove")
    if len(set(remove)) != len(remove):
        raise InvalidInput("a station is listed twice in remove")
    points = []
    for i, p in enumerate(add, 1):
        try:
            points.append(check_point(p, crs))
        except InvalidInput as exc:
            raise InvalidInput(f"added site {i}: {exc}") from None
    demand = demand or default_demand()
    w = demand.weight
    before = base_counts(stations, reach, demand)
    plat = np.array([p[0] for p in points], float)
    plon = np.array([p[1] for p in points], float)
    per_add = [_counts(demand, plat[i:i + 1], plon[i:i + 1], reach) for i in range(len(points))]
    gone = [by_id[r] for r in remove]
    per_rem = [_counts(demand, np.array([s.lat]), np.array([s.lon]), reach) if s.status == "open"
               else np.zeros_like(before) for s in gone]
    after = before + sum(per_add, np.zeros_like(before)) - sum(per_rem, np.zeros_like(before))
    total = float(w.sum())
    levels = tuple(Level(k, float(w[before >= k].sum()), float(w[after >= k].sum()),
                         float(w[(after >= k) & (before < k)].sum()), float(w[(before >= k) & (after < k)].sum()),
                         total) for k in (1, 2))
    layers = metric_layers()
    added = []
    if points:
        x, y = to_metric(plon, plat)
        district, township = assign_units(x, y)
        for i, (la, lo) in enumerate(points):
            c = per_add[i]
            added.append({"lat": round(la, 6), "lon": round(lo, 6), "district": str(district[i]),
                          "district_name": layers.district_names.get(str(district[i]), ""),
                          "township": str(township[i]), "township_name": layers.township_names.get(str(township[i]), ""),
                          **{f"gain_{k}": round(float(w[(before < k) & (before + c >= k)].sum()), 1) for k in (1, 2)}})
    removed = [{"id": s.id, "name": s.name, "lat": s.lat, "lon": s.lon, "status": s.status,
                **{f"lost_{k}": round(float(w[(before >= k) & (before - c < k)].sum()), 1) for k in (1, 2)}}
               for s, c in zip(gone, per_rem)]
    return WhatIfDelta(reach, added, removed, levels, demand.modelled, demand.label_zh)  # type: ignore[arg-type]
