"""Stations in a bounding box, and grid clusters of them per map zoom, from indexes built once per registry version.

`BboxIndex` is an STR-tree (shapely.STRtree) over the station points: a box query visits the tree's
nodes that touch the box, not every station. `Clusters` groups the stations into square cells of the
Web-Mercator map at one zoom (`CELL_PX` screen pixels a side): each cell's station count, smart-station
count, mean position and extent. Both are kept on the registry's `StationSet` (its `memo`), so they are
built once per registry version (and per zoom), then shared by every request.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidInput

if TYPE_CHECKING:
    from .nearest import StationSet

Bbox = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat (WGS-84)
CELL_PX = 64  # a cluster cell's side in screen pixels (a 256 px tile holds 4 x 4)
MAX_CELLS = 4096  # grid cells one clusters question may cover: 64 x 64 cells, 4096 px square, more than a screen
MAX_LAT = 85.05112878  # Web Mercator's limit


class BboxIndex:
    """Positions of the points inside a box (edges included), by an STR-tree over the points."""

    def __init__(self, lats: np.ndarray, lons: np.ndarray):
        import shapely

        self.lats = np.asarray(lats, dtype=float)
        self.lons = np.asarray(lons, dtype=float)
        self._tree = shapely.STRtree(shapely.points(self.lons, self.lats))

    def query(self, bbox: Bbox) -> np.ndarray:
        """Positions (ascending: the registry's order) of the points with w <= lon <= e and s <= lat <= n."""
        import shapely

        w, s, e, n = bbox
        hits = self._tree.query(shapely.box(w, s, e, n))
        hits = np.sort(hits)
        # The tree answers by envelopes; a degenerate (zero-width) box's envelope needs the exact test too.
        keep = (self.lons[hits] >= w) & (self.lons[hits] <= e) & (self.lats[hits] >= s) & (self.lats[hits] <= n)
        return hits[keep]


def bbox_index(snapshot: "StationSet") -> BboxIndex:
    """The registry's box index, built on first use and kept with the registry version."""
    found = snapshot.memo.get("bbox_index")
    if found is None:
        found = snapshot.memo["bbox_index"] = BboxIndex(snapshot.index.lats, snapshot.index.lons)
    return found


def in_bbox(snapshot: "StationSet", bbox: Bbox) -> list[int]:
    """Positions of the registry's stations inside `bbox`, in registry order."""
    if not len(snapshot):
        return []
    return bbox_index(snapshot).query(bbox).tolist()


# -- grid clusters ------------------------------------------------------------------------------
def _cells_x(lons: np.ndarray | float, zoom: int) -> np.ndarray:
    scale = 256 * 2 ** zoom / CELL_PX
    return np.floor((np.asarray(lons, dtype=float) + 180.0) / 360.0 * scale).astype(np.int64)


def _cells_y(lats: np.ndarray | float, zoom: int) -> np.ndarray:
    scale = 256 * 2 ** zoom / CELL_PX
    phi = np.radians(np.clip(np.asarray(lats, dtype=float), -MAX_LAT, MAX_LAT))
    y = (1 - np.log(np.tan(phi) + 1 / np.cos(phi)) / math.pi) / 2
    return np.floor(y * scale).astype(np.int64)


@dataclass(frozen=True)
class Clusters:
    """The registry's stations grouped by grid cell at one zoom, as parallel arrays, one entry per non-empty cell."""

    zoom: int
    ix: np.ndarray
    iy: np.ndarray
    count: np.ndarray
    smart: np.ndarray
    lat: np.ndarray  # mean position of the cell's stations
    lon: np.ndarray
    extent: np.ndarray  # (cells, 4): w, s, e, n of the cell's stations
    members: np.ndarray  # station positions ordered by cell
    starts: np.ndarray  # cell i's stations are members[starts[i]:starts[i] + count[i]]

    @classmethod
    def build(cls, snapshot: "StationSet", zoom: int) -> "Clusters":
        lats, lons = snapshot.index.lats, snapshot.index.lons
        smart = np.fromiter((s.kind == "smart" for s in snapshot.stations), dtype=bool, count=len(snapshot))
        ix, iy = _cells_x(lons, zoom), _cells_y(lats, zoom)
        key = ix * (1 << 31) + iy
        cells, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        order = np.argsort(inverse, kind="stable")
        n = cells.size
        extent = np.empty((n, 4))
        extent[:, 0], extent[:, 1] = np.inf, np.inf
        extent[:, 2], extent[:, 3] = -np.inf, -np.inf
        np.minimum.at(extent[:, 0], inverse, lons)
        np.minimum.at(extent[:, 1], inverse, lats)
        np.maximum.at(extent[:, 2], inverse, lons)
        np.maximum.at(extent[:, 3], inverse, lats)
        return cls(zoom, cells // (1 << 31), cells % (1 << 31), counts,
                   np.bincount(inverse, weights=smart, minlength=n).astype(np.int64),
                   np.bincount(inverse, weights=lats, minlength=n) / counts,
                   np.bincount(inverse, weights=lons, minlength=n) / counts, extent,
                   order, np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64))

    def within(self, bbox: Bbox) -> np.ndarray:
        """Indexes of the cells inside the grid cells `bbox` touches (InvalidInput when that is more than
        MAX_CELLS: a box that large at this zoom is more than any screen shows)."""
        w, s, e, n = bbox
        x0, x1 = int(_cells_x(w, self.zoom)), int(_cells_x(e, self.zoom))
        y0, y1 = int(_cells_y(n, self.zoom)), int(_cells_y(s, self.zoom))
        if (x1 - x0 + 1) * (y1 - y0 + 1) > MAX_CELLS:
            raise InvalidInput(f"bbox covers {(x1 - x0 + 1) * (y1 - y0 + 1):,} cells of {CELL_PX} px at zoom "
                               f"{self.zoom}; at most {MAX_CELLS:,}: give the box the map shows, or a lower zoom")
        return np.flatnonzero((self.ix >= x0) & (self.ix <= x1) & (self.iy >= y0) & (self.iy <= y1))

    def stations_of(self, cell: int) -> np.ndarray:
        start = int(self.starts[cell])
        return self.members[start:start + int(self.count[cell])]


def clusters(snapshot: "StationSet", zoom: int) -> Clusters:
    """The registry's clusters at `zoom`, built on first use and kept with the registry version."""
    kept = snapshot.memo.setdefault("clusters", {})
    found = kept.get(zoom)
    if found is None:
        found = kept[zoom] = Clusters.build(snapshot, zoom)
    return found
