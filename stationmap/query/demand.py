"""The demand layer: where the people (or whatever a planner weighs) are, as weighted points.

Every coverage, gap and siting answer counts demand points within reach. The default is a modelled
population grid; a planner may load their own points, lines or polygons with weights instead.

Default model (documented in geodata/SOURCES.md, "Demand layer"): 250 m cells on land (cell centres
inside the city outline, METRIC_CRS). Inside each district a cell's weight is

    FLOOR + sum over the district's township seats t of  u_t * exp(-d_t / L_t)

with u = 3, L = 1.5 km for urban subdistricts (街道) and u = 1, L = 2 km for towns (镇, 乡). A township
with a published figure (geodata/township_population.csv, carried by the townships layer as
`population_cited`) holds that figure exactly, spread over its cells by weight; the rest of its
district's 2020 census total is split over the district's other cells in proportion to weight. Both
are rounded to whole people by largest remainder, so each district holds its census total exactly.
Finer than a district this is a model except where a figure is cited: every figure from it is
labelled "modelled", and each township says where its number comes from (`population_source`).
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from ..errors import InvalidInput
from ..files.tables import (DISTRICT_COLUMNS, LAT_COLUMNS, LON_COLUMNS, TOWNSHIP_COLUMNS, WEIGHT_COLUMNS, find_column,
                            read_geo, read_table)
from ..geo import datums, geography
from ..geo.metric import SNAP_M, assign_units, geometry_to_metric, metric_layers, to_metric, to_wgs84

CELL_M = 250.0


FLOOR = 0.1


URBAN_WEIGHT, URBAN_SCALE_M = 3.0, 1500.0


TOWN_WEIGHT, TOWN_SCALE_M = 1.0, 2000.0


DEFAULT_LABEL = ("modelled population: 2020 census district totals spread on a 250 m grid, held to published "
                 "township figures where cited (geodata/SOURCES.md)")


DEFAULT_LABEL_ZH = "模型估算人口（按2020年人口普查区县总数推算，有公开数字的镇街按其数字，250米网格）"


@dataclass(frozen=True, eq=False)
class Demand:
    """Weighted demand points: WGS-84 and METRIC_CRS coordinates, weights, district and township of each."""
    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    district: np.ndarray
    township: np.ndarray
    modelled: bool
    label: str
    label_zh: str = ""
    source: str = ""
    key: str = ""
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.weight.size)

    @cached_property
    def xy(self) -> np.ndarray:
        return np.column_stack((self.x, self.y))

    @cached_property
    def tree(self) -> cKDTree:
        """k-d tree over the metric points (built once per demand layer)."""
        return cKDTree(self.xy)

    @property
    def total(self) -> float:
        return float(self.weight.sum())

    def totals(self, by: str) -> dict[str, float]:
        """Total weight per 'district' or 'township' code."""
        codes = self.district if by == "district" else self.township
        frame = pd.Series(self.weight).groupby(codes).sum()
        return {str(k): float(v) for k, v in frame.items()}

    def meta(self) -> dict[str, Any]:
        return {"modelled": self.modelled, "label": self.label, "label_zh": self.label_zh,
                "source": self.source, "points": len(self), "total": round(self.total, 1),
                "notes": list(self.notes)}


def _make(x, y, weight, modelled, label, label_zh, source, key="", notes=(), units=None) -> Demand:
    x, y, weight = np.asarray(x, float), np.asarray(y, float), np.asarray(weight, float)
    district, township = units if units is not None else assign_units(x, y)
    lon, lat = to_wgs84(x, y)
    if not key:
        h = hashlib.sha1()
        for arr in (x, y, weight):
            h.update(np.ascontiguousarray(arr).tobytes())
        key = "demand-" + h.hexdigest()[:16]
    return Demand(lon, lat, x, y, weight, np.asarray(district, str), np.asarray(township, str), modelled,
                  label, label_zh, source, key, tuple(notes))


def grid_points(geom, cell_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the cell_m cells (aligned to multiples of cell_m in METRIC_CRS) inside a metric geometry."""
    minx, miny, maxx, maxy = geom.bounds
    xs = np.arange(math.floor(minx / cell_m) * cell_m + cell_m / 2, maxx, cell_m)
    ys = np.arange(math.floor(miny / cell_m) * cell_m + cell_m / 2, maxy, cell_m)
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    inside = shapely.contains_xy(geom, gx, gy)
    return gx[inside], gy[inside]


def land_grid(cell_m: float = CELL_M) -> tuple[np.ndarray, np.ndarray]:
    """Centres (METRIC_CRS) of cell_m cells, aligned to multiples of cell_m, that lie inside the city."""
    return grid_points(metric_layers().city, cell_m)


def largest_remainder(total: int, shares: np.ndarray) -> np.ndarray:
    """Whole numbers proportional to `shares` that add up to `total` exactly (Hamilton's method)."""
    exact = total * shares / shares.sum()
    out = np.floor(exact).astype(np.int64)
    short = int(total - out.sum())
    if short:
        out[np.argsort(-(exact - out), kind="stable")[:short]] += 1
    return out


def model_weights(x: np.ndarray, y: np.ndarray, district: np.ndarray) -> np.ndarray:
    """The model's relative weight of each metric point (see module docstring), from its district's seats."""
    seats = geography.townships().to_crs(geography.METRIC_CRS)
    w = np.full(x.size, FLOOR)
    for code in np.unique(district):
        sel = np.flatnonzero(district == code)
        group = seats[seats["district"] == code]
        for name, pt in zip(group["name"], group.geometry):
            urban = name.endswith("街道")
            u, scale = (URBAN_WEIGHT, URBAN_SCALE_M) if urban else (TOWN_WEIGHT, TOWN_SCALE_M)
            d = np.hypot(x[sel] - pt.x, y[sel] - pt.y)
            w[sel] += u * np.exp(-d / scale)
    return w


def cited_townships() -> dict[str, int]:
    """Published township figures (code -> people) carried by the townships layer, from
    geodata/township_population.csv."""
    frame = geography.townships()
    if "population_cited" not in frame:
        return {}
    return {str(code): int(v) for code, v in frame["population_cited"].dropna().items()}


def spread_census(district: np.ndarray, township: np.ndarray, w: np.ndarray, controls: bool = True) -> np.ndarray:
    """Whole people per point: each district's 2020 census total split by weight `w`, cited townships
    (if `controls`) holding their published figure and the remainder going to the district's other points."""
    pop = np.zeros(w.size)
    census = geography.districts()["population_2020"].to_dict()
    cited = cited_townships() if controls else {}
    for code, total in census.items():
        in_district = district == code
        rest = in_district.copy()
        held = {t: n for t, n in cited.items() if t.startswith(code)}
        remainder = int(total) - sum(held.values())
        if remainder < 0:
            raise ValueError(f"cited township figures exceed the census total of district {code}")
        for t, n in held.items():
            sel = np.flatnonzero(in_district & (township == t))
            if sel.size == 0:
                raise ValueError(f"township {t} has a cited figure but no land cell")
            pop[sel] = largest_remainder(n, w[sel])
            rest[sel] = False
        sel = np.flatnonzero(rest)
        pop[sel] = largest_remainder(remainder, w[sel])
    return pop


@lru_cache(maxsize=None)
def default_demand() -> Demand:
    """The modelled population grid (cached): 250 m land cells holding each district's 2020 census total,
    and each cited township's published figure."""
    x, y = land_grid()
    district, township = assign_units(x, y, snap_m=CELL_M)
    pop = spread_census(district, township, model_weights(x, y, district))
    return _make(x, y, pop, True, DEFAULT_LABEL, DEFAULT_LABEL_ZH, "model: geodata/SOURCES.md#demand-layer-modelled-population",
                 key="default-grid-v2", units=(district, township))


def _weights(values: pd.Series, rows: list[int], what: str, column: str = "weight", name: str = "") -> np.ndarray:
    """Numbers >= 0 from a column (',' thousands separators allowed), or InvalidInput naming the file and rows."""
    out = np.empty(len(values))
    bad = []
    for i, (v, row) in enumerate(zip(values.tolist(), rows)):
        try:
            x = float(str(v).replace(",", "")) if v is not None and str(v).strip() != "" else math.nan
        except ValueError:
            x = math.nan
        if not math.isfinite(x) or (x < 0 and column == "weight"):
            bad.append(f"{what} {row}: {v!r}")
        out[i] = x
    if bad:
        allowed = "numbers >= 0" if column == "weight" else "numbers"
        raise InvalidInput(f"{name + ': ' if name else ''}{len(bad)} {column} value(s) are not {allowed} "
                           f"({'; '.join(bad[:5])})")
    return out


def load_demand(path: str | Path, crs: str = "wgs84", weight: str | None = None, sheet: str | None = None) -> Demand:
    """A planner's demand from CSV/XLSX (lat/lon columns, or a township/district census table) or
    GeoJSON/GeoPackage (points, lines or polygons), each with a weight column (default 1 per feature).

    Lines are spread evenly over points every 250 m along them, polygons over the 250 m grid cells
    inside them; a table of townships or districts with totals is spread over the default model's grid
    inside each unit. `crs` is the datum of the coordinates (wgs84, gcj02, bd09). Raises InvalidInput.
    """
    path = Path(path)
    crs = datums.check_crs(crs)
    if not path.is_file():
        raise InvalidInput(f"demand file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".xlsx", ".xlsm"):
        return _load_table(path, crs, weight, sheet)
    if suffix in (".geojson", ".json", ".gpkg", ".shp"):
        return _load_geo(path, crs, weight)
    raise InvalidInput(f"demand file {path.name!r}: unknown type {suffix or '(none)'}; use .csv, .xlsx, .geojson or .gpkg")


def _weight_column(columns: list[str], weight: str | None, name: str) -> str | None:
    if weight is None:
        return find_column(columns, WEIGHT_COLUMNS)
    if weight not in columns:
        raise InvalidInput(f"{name}: no column {weight!r}; columns are {', '.join(map(str, columns))}")
    return weight


def _load_table(path: Path, crs: str, weight: str | None, sheet: str | None) -> Demand:
    frame = read_table(path, sheet).dropna(how="all")
    if frame.empty:
        raise InvalidInput(f"{path.name}: no rows")
    cols = [str(c) for c in frame.columns]
    frame.columns = cols
    rows = [int(i) + 2 for i in frame.index]  # spreadsheet row numbers (header is row 1)
    wcol = _weight_column(cols, weight, path.name)
    lat_c, lon_c = find_column(cols, LAT_COLUMNS), find_column(cols, LON_COLUMNS)
    if lat_c and lon_c:
        w = _weights(frame[wcol], rows, "row", name=path.name) if wcol else np.ones(len(frame))
        lat = _weights(frame[lat_c], rows, "row", "latitude", path.name)
        lon = _weights(frame[lon_c], rows, "row", "longitude", path.name)
        return _points(path, lat, lon, w, rows, "row", crs, wcol)
    unit_c = find_column(cols, TOWNSHIP_COLUMNS) or find_column(cols, DISTRICT_COLUMNS)
    if unit_c and wcol:
        return _census_table(path, frame[unit_c].tolist(), _weights(frame[wcol], rows, "row", name=path.name), rows)
    raise InvalidInput(f"{path.name}: need latitude and longitude columns (lat/lon, 纬度/经度) or a township/district "
                       f"column with a population column; found {', '.join(cols)}")


def _points(path: Path, lat, lon, w, rows, what: str, crs: str, wcol: str | None) -> Demand:
    bad = [f"{what} {r}: ({la}, {lo})" for la, lo, r in zip(lat, lon, rows) if not (-90 <= la <= 90 and -180 <= lo <= 180)]
    if bad:
        raise InvalidInput(f"{path.name}: coordinates out of range ({'; '.join(bad[:5])})")
    if crs != "wgs84":
        pairs = [datums.to_wgs84(la, lo, crs) for la, lo in zip(lat, lon)]
        lat, lon = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    x, y = to_metric(lon, lat)
    district, township = assign_units(x, y)
    outside = [r for r, d in zip(rows, district) if not d]
    if outside:
        raise InvalidInput(f"{path.name}: {len(outside)} point(s) outside Jieyang ({what} "
                           f"{', '.join(map(str, outside[:5]))}); check the coordinates and their datum (--crs)")
    if not (w > 0).any():
        raise InvalidInput(f"{path.name}: every weight is 0")
    label = f"demand weight '{wcol}' from {path.name}" if wcol else f"demand points from {path.name} (1 each)"
    return _make(x, y, w, False, label, f"需求权重（{path.name}）", str(path), units=(district, township))


def _census_table(path: Path, units: list, totals: np.ndarray, rows: list[int]) -> Demand:
    """Totals per township or district, spread over the default grid inside each by the model's weights."""
    base = default_demand()
    layers = metric_layers()
    by_name: dict[str, list[str]] = {}
    for code, name in list(layers.township_names.items()) + list(layers.district_names.items()):
        for key in {code, name, re.sub(r"(街道|镇|乡|区|县|市)$", "", name)}:
            by_name.setdefault(key, []).append(code)
    w_model = model_weights(base.x, base.y, base.district)
    weight = np.zeros(len(base))
    seen: set[str] = set()
    for unit, total, row in zip(units, totals, rows):
        text = str(unit).strip()
        codes = by_name.get(text, [])
        if len(codes) != 1:
            why = "is ambiguous" if codes else "is not a township or district of Jieyang"
            raise InvalidInput(f"{path.name}: row {row}: {text!r} {why}; use the 9-digit township or 6-digit district code")
        code = codes[0]
        if code in seen:
            raise InvalidInput(f"{path.name}: row {row}: {text!r} appears twice")
        seen.add(code)
        sel = np.flatnonzero((base.township if len(code) == 9 else base.district) == code)
        weight[sel] += float(total) * w_model[sel] / w_model[sel].sum()
    if weight.sum() <= 0:
        raise InvalidInput(f"{path.name}: every total is 0")
    keep = weight > 0
    return _make(base.x[keep], base.y[keep], weight[keep], True,
                 f"modelled: totals from {path.name} spread on the 250 m grid by the default model",
                 f"模型估算（{path.name} 的总数按模型分布）", str(path),
                 units=(base.district[keep], base.township[keep]))


def _load_geo(path: Path, crs: str, weight: str | None) -> Demand:
    frame = read_geo(path)
    cols = [str(c) for c in frame.columns if c != frame.geometry.name]
    rows = [i + 1 for i in range(len(frame))]
    wcol = _weight_column(cols, weight, path.name)
    w = _weights(frame[wcol], rows, "feature", name=path.name) if wcol else np.ones(len(frame))
    geoms = np.asarray(frame.geometry.values)
    kinds = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)]))
    if kinds <= {0, 4}:  # points, multipoints: one demand point each (multipoints split evenly)
        parts, idx = shapely.get_parts(geoms, return_index=True)
        counts = np.bincount(idx, minlength=len(geoms))
        xy = shapely.get_coordinates(parts)
        return _points(path, xy[:, 1], xy[:, 0], w[idx] / counts[idx], [rows[i] for i in idx], "feature", crs, wcol)
    if crs != "wgs84":
        geoms = np.array([datums.geometry_to_wgs84(g, crs) if g is not None else None for g in geoms], dtype=object)
    metric = np.array([geometry_to_metric(g) if g is not None else None for g in geoms], dtype=object)
    layers = metric_layers()
    xs, ys, ws = [], [], []
    for g, weight_i, row in zip(metric, w, rows):
        if g is None or g.is_empty:
            continue
        px, py = _spread(g, layers.city)
        if px.size == 0:
            raise InvalidInput(f"{path.name}: feature {row} lies outside Jieyang; check its datum (--crs)")
        xs.append(px), ys.append(py), ws.append(np.full(px.size, weight_i / px.size))
    if not xs:
        raise InvalidInput(f"{path.name}: no features with geometry")
    x, y, weights = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
    if not (weights > 0).any():
        raise InvalidInput(f"{path.name}: every weight is 0")
    label = f"demand weight '{wcol}' from {path.name}" if wcol else f"demand features from {path.name} (1 each)"
    return _make(x, y, weights, False, label, f"需求权重（{path.name}）", str(path),
                 notes=("lines spread every 250 m, polygons over 250 m cells",))


def _spread(geom, city) -> tuple[np.ndarray, np.ndarray]:
    """Metric points standing for a line (every 250 m) or polygon (250 m grid cells inside it), in the city."""
    dim = shapely.get_dimensions(geom)
    if dim == 0:
        xy = shapely.get_coordinates(geom)
    elif dim == 1:
        xy = shapely.get_coordinates(shapely.segmentize(geom, CELL_M))
    else:
        xy = np.column_stack(grid_points(geom, CELL_M))
        if xy.size == 0:
            p = geom.representative_point()
            xy = np.array([[p.x, p.y]])
    keep = shapely.dwithin(shapely.points(xy), city, SNAP_M)
    return xy[keep, 0], xy[keep, 1]
