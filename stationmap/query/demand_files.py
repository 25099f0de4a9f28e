"""A planner's own demand layer, sent from the planner page: checked like a station import, then built by
`demand.load_demand`.

Accepted: CSV (UTF-8 or GBK, as Excel saves it) of points, with latitude/longitude columns (lat/lon,
纬度/经度), an optional weight column (weight, 人数, 权重 ...; 1 per row without one) and an optional
datum column (坐标系/datum: wgs84, gcj02 (高德), bd09 (百度)) that overrides the file's datum per row;
or GeoJSON of points, lines or polygons with a weight property (and optionally a datum property).
Every problem is reported with its row (CSV line) or feature number, in Chinese and English, and a file
with any problem is refused whole. The file is read in a temporary directory that is removed whatever
happens: nothing of a refused file is kept. Sizes are bounded (bytes, rows, and the points that polygons
and lines are spread into), so a layer never costs more than the modelled grid.
"""
from __future__ import annotations

import json
import math
import re
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import shapely
from shapely.geometry import mapping, shape

from ..errors import InvalidInput, PayloadTooLarge
from ..geo import datums
from ..geo.metric import SNAP_M, assign_units, geometry_to_metric, metric_layers, to_metric
from ..hours import TZ

if TYPE_CHECKING:
    from .demand import Demand

MAX_BYTES = 1_000_000  # within the service's request body bound (max_request_bytes)
MAX_ROWS = 20_000  # rows or features
MAX_POINTS = 200_000  # demand points after spreading polygons (250 m cells) and lines (every 250 m)
LISTED = 10  # problems named in the refusal
DATUM_COLUMNS = ("datum", "crs", "坐标系", "坐标系统", "坐标类型")
_DATUM_WORDS = {"高德": "gcj02", "腾讯": "gcj02", "微信": "gcj02", "火星": "gcj02", "百度": "bd09", "gps": "wgs84",
                "wgs84": "wgs84", "天地图": "wgs84", "cgcs2000": "wgs84"}
_GEOMETRIES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")


class _Problems:
    """Row-numbered problems in Chinese and English; `refuse` raises them all as one InvalidInput."""

    def __init__(self, name: str, unit: str):
        self.name, self.unit = name, unit  # unit: "row" (CSV line) or "feature"
        self.items: list[tuple[str, str]] = []

    def add(self, number: int | None, zh: str, en: str) -> None:
        if number is None:
            self.items.append((zh, en))
        else:
            where_zh = f"第 {number} 行" if self.unit == "row" else f"第 {number} 个要素"
            self.items.append((f"{where_zh}：{zh}", f"{self.unit} {number}: {en}"))

    def refuse(self) -> None:
        if not self.items:
            return
        n, shown = len(self.items), self.items[:LISTED]
        more_zh, more_en = (f"；另有 {n - LISTED} 处", f"; and {n - LISTED} more") if n > LISTED else ("", "")
        raise InvalidInput(f"需求图层“{self.name}”有 {n} 处问题，未采用，服务器未保存任何内容："
                           + "；".join(zh for zh, _ in shown) + more_zh
                           + f" · Demand layer {self.name!r}: {n} problem(s); not used, nothing kept: "
                           + "; ".join(en for _, en in shown) + more_en)


def safe_name(name: str) -> str:
    """The file's own name for labels: no folders, no control characters, at most 60 characters."""
    base = re.split(r"[\\/]", str(name or ""))[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:60] or "需求图层"


def check_datum(value: Any, default: str) -> str:
    """A datum cell: wgs84, gcj02, bd09 or their usual names (高德, 百度, GPS); blank takes the file's datum."""
    text = str(value or "").strip()
    if not text:
        return default
    key = text.lower().replace("-", "").replace("_", "").replace(" ", "")
    for word, crs in _DATUM_WORDS.items():
        if word in key:
            return crs
    return datums.check_crs(text)


def _number(value: Any) -> float:
    """A cell as a finite number (',' thousands separators allowed), else NaN."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        x = float(str(value).strip().replace(",", ""))
    except ValueError:
        return math.nan
    return x if math.isfinite(x) else math.nan


def read_upload(data: bytes, name: str, crs: str = "wgs84", media: str = "") -> Demand:
    """The demand layer in an uploaded file (bytes, its file name, its datum); InvalidInput naming every
    problem by row or feature, PayloadTooLarge beyond `MAX_BYTES`."""
    name = safe_name(name)
    crs = datums.check_crs(crs)
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(f"需求文件 {len(data):,} 字节，最多 {MAX_BYTES:,} 字节 · the demand file is {len(data):,} "
                              f"bytes; at most {MAX_BYTES:,}: send points, or fewer polygons")
    if not data.strip():
        raise InvalidInput("需求文件是空的 · the demand file is empty")
    suffix = Path(name).suffix.lower()
    geo = (suffix in (".geojson", ".json") or (suffix not in (".csv", ".txt") and
           ("json" in media or data.lstrip()[:1] == b"{")))
    with tempfile.TemporaryDirectory(prefix="stationmap-demand-") as tmp:
        demand = _geojson(data, name, crs, Path(tmp)) if geo else _csv(data, name, crs, Path(tmp))
    stamp = datetime.now(TZ).strftime("%Y-%m-%d %H:%M")
    return replace(demand, label=f"uploaded demand layer {name}", label_zh=f"上传的需求图层：{name}",
                   source=f"上传于规划页面 {stamp} · uploaded on the planner page")


def from_points(rows: Iterable[dict[str, Any]], name: str, label: str, label_zh: str, source: str) -> Demand | None:
    """A demand layer from WGS-84 points with weights ({lat, lon, weight}), or None when there is no weight."""
    from .demand import load_demand

    rows = [r for r in rows if float(r.get("weight") or 0) > 0]
    if not rows:
        return None
    with tempfile.TemporaryDirectory(prefix="stationmap-demand-") as tmp:
        path = Path(tmp) / f"{safe_name(name)}.csv"
        _write_points(path, [r["lat"] for r in rows], [r["lon"] for r in rows], [r["weight"] for r in rows])
        demand = load_demand(path, "wgs84", "weight")
    return replace(demand, label=label, label_zh=label_zh, source=source)


def _write_points(path: Path, lat: Iterable[float], lon: Iterable[float], weight: Iterable[float]) -> None:
    lines = ["lat,lon,weight"] + [f"{a!r},{b!r},{w!r}" for a, b, w in zip(lat, lon, weight)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _load(path: Path, name: str) -> Demand:
    """The checked, normalised file through the library's loader (its refusals in both languages)."""
    from .demand import load_demand

    try:
        return load_demand(path, "wgs84", "weight")
    except InvalidInput as exc:
        raise InvalidInput(f"需求图层“{name}”无法使用：{exc} · demand layer {name!r} cannot be used: {exc}") from None


# -- CSV -------------------------------------------------------------------------------------------
def _csv(data: bytes, name: str, crs: str, tmp: Path) -> Demand:
    from ..files.tables import LAT_COLUMNS, LON_COLUMNS, WEIGHT_COLUMNS, find_column, read_table

    raw = tmp / "upload.csv"
    raw.write_bytes(data)
    try:
        frame = read_table(raw).dropna(how="all")
    except InvalidInput as exc:
        raise InvalidInput(f"无法读取 CSV 文件“{name}”（请用 UTF-8 或 GBK 编码、逗号分隔）· cannot read {name!r} as CSV: "
                           f"{str(exc).replace('upload.csv', name)}") from None
    cols = [str(c) for c in frame.columns]
    frame.columns = cols
    problems = _Problems(name, "row")
    lat_c, lon_c = find_column(cols, LAT_COLUMNS), find_column(cols, LON_COLUMNS)
    if not (lat_c and lon_c):
        problems.add(None, f"缺少纬度、经度列（lat/lon 或 纬度/经度）；现有的列：{'、'.join(cols)[:200]}",
                     f"need latitude and longitude columns (lat/lon or 纬度/经度); columns are {', '.join(cols)[:200]}")
        problems.refuse()
    if frame.empty:
        problems.add(None, "没有数据行", "no data rows")
    if len(frame) > MAX_ROWS:
        problems.add(None, f"{len(frame):,} 行，最多 {MAX_ROWS:,} 行", f"{len(frame):,} rows; at most {MAX_ROWS:,}")
    problems.refuse()
    w_c, d_c = find_column(cols, WEIGHT_COLUMNS), find_column(cols, DATUM_COLUMNS)
    lats, lons, weights, numbers = [], [], [], []
    for index, rec in zip(frame.index, frame.to_dict("records")):
        row = int(index) + 2  # the header is line 1
        lat, lon = _number(rec[lat_c]), _number(rec[lon_c])
        w = _number(rec[w_c]) if w_c else 1.0
        bad = False
        if math.isnan(lat) or not -90 <= lat <= 90:
            problems.add(row, f"纬度“{str(rec[lat_c])[:30]}”不是 -90 到 90 之间的数字",
                         f"latitude {str(rec[lat_c])[:30]!r} is not a number from -90 to 90")
            bad = True
        if math.isnan(lon) or not -180 <= lon <= 180:
            problems.add(row, f"经度“{str(rec[lon_c])[:30]}”不是 -180 到 180 之间的数字",
                         f"longitude {str(rec[lon_c])[:30]!r} is not a number from -180 to 180")
            bad = True
        if math.isnan(w) or w < 0:
            problems.add(row, f"权重“{str(rec[w_c])[:30]}”不是大于等于 0 的数字",
                         f"weight {str(rec[w_c])[:30]!r} is not a number >= 0")
            bad = True
        try:
            row_crs = check_datum(rec[d_c], crs) if d_c else crs
        except InvalidInput:
            problems.add(row, f"坐标系“{str(rec[d_c])[:20]}”未知，请写 wgs84、gcj02（高德）或 bd09（百度）",
                         f"datum {str(rec[d_c])[:20]!r} is unknown; write wgs84, gcj02 (Amap) or bd09 (Baidu)")
            continue
        if bad:
            continue
        if row_crs != "wgs84":
            try:
                lat, lon = datums.to_wgs84(lat, lon, row_crs)
            except InvalidInput:
                problems.add(row, f"（{lat}, {lon}）不在中国境内，无法从 {row_crs} 换算",
                             f"({lat}, {lon}) is outside China: it cannot be converted from {row_crs}")
                continue
        lats.append(lat), lons.append(lon), weights.append(w), numbers.append(row)
    _outside(problems, lats, lons, numbers)
    if numbers and not any(w > 0 for w in weights):
        problems.add(None, "所有权重都是 0", "every weight is 0")
    problems.refuse()
    path = tmp / f"{Path(name).stem or 'demand'}.csv"
    _write_points(path, lats, lons, weights)
    return _load(path, name)


def _outside(problems: _Problems, lats: list[float], lons: list[float], numbers: list[int]) -> None:
    """Name the points outside Jieyang (beyond the outline's SNAP_M margin)."""
    if not lats:
        return
    x, y = to_metric(np.asarray(lons, float), np.asarray(lats, float))
    district, _ = assign_units(x, y)
    for number, d, la, lo in zip(numbers, district, lats, lons):
        if not d:
            problems.add(number, f"（纬度 {la:.5f}，经度 {lo:.5f}）在揭阳市范围外，请检查坐标和坐标系",
                         f"({la:.5f}, {lo:.5f}) lies outside Jieyang; check the coordinates and their datum")


# -- GeoJSON ---------------------------------------------------------------------------------------
def _geojson(data: bytes, name: str, crs: str, tmp: Path) -> Demand:
    from ..files.tables import WEIGHT_COLUMNS, find_column
    from .demand import CELL_M

    problems = _Problems(name, "feature")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"“{name}”不是有效的 GeoJSON（UTF-8 编码的 JSON）· {name!r} is not valid GeoJSON "
                           f"(UTF-8 JSON): {str(exc)[:80]}") from None
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = {"type": "FeatureCollection", "features": [doc]}
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise InvalidInput(f"“{name}”需要是 GeoJSON 要素集（FeatureCollection）· {name!r} must be a GeoJSON "
                           "FeatureCollection")
    feats = doc["features"]
    if not feats:
        problems.add(None, "没有要素", "no features")
    if len(feats) > MAX_ROWS:
        problems.add(None, f"{len(feats):,} 个要素，最多 {MAX_ROWS:,} 个", f"{len(feats):,} features; at most {MAX_ROWS:,}")
    problems.refuse()
    keys = sorted({str(k) for f in feats if isinstance(f, dict) and isinstance(f.get("properties"), dict)
                   for k in f["properties"]})
    w_key, d_key = find_column(keys, WEIGHT_COLUMNS), find_column(keys, DATUM_COLUMNS)
    city = metric_layers().city
    out, points, cost = [], [], 0.0
    pt_lat, pt_lon, pt_numbers = [], [], []
    for number, feat in enumerate(feats, 1):
        props = feat.get("properties") if isinstance(feat, dict) else None
        props = props if isinstance(props, dict) else {}
        geom_doc = feat.get("geometry") if isinstance(feat, dict) else None
        if not isinstance(geom_doc, dict) or geom_doc.get("type") not in _GEOMETRIES:
            kind = geom_doc.get("type") if isinstance(geom_doc, dict) else None
            problems.add(number, f"几何类型“{str(kind)[:20]}”不可用，请用点、线或面",
                         f"geometry {str(kind)[:20]!r} cannot be used; use points, lines or polygons")
            continue
        w = _number(props.get(w_key)) if w_key else 1.0
        if math.isnan(w) or w < 0:
            problems.add(number, f"权重 {w_key}“{str(props.get(w_key))[:30]}”不是大于等于 0 的数字",
                         f"weight {w_key} {str(props.get(w_key))[:30]!r} is not a number >= 0")
            continue
        try:
            f_crs = check_datum(props.get(d_key), crs) if d_key else crs
        except InvalidInput:
            problems.add(number, f"坐标系“{str(props.get(d_key))[:20]}”未知", f"datum {str(props.get(d_key))[:20]!r} is unknown")
            continue
        try:
            geom = shape(geom_doc)
            xy = shapely.get_coordinates(geom)
        except Exception:  # shapely raises several types for malformed coordinates
            problems.add(number, "坐标格式错误", "malformed coordinates")
            continue
        if geom.is_empty or not np.isfinite(xy).all() or (np.abs(xy[:, 0]) > 180).any() or (np.abs(xy[:, 1]) > 90).any():
            problems.add(number, "坐标为空或超出经纬度范围", "empty coordinates, or beyond longitude/latitude range")
            continue
        try:
            if f_crs != "wgs84":
                geom = datums.geometry_to_wgs84(geom, f_crs)
        except InvalidInput:
            problems.add(number, f"坐标不在中国境内，无法从 {f_crs} 换算", f"outside China: cannot be converted from {f_crs}")
            continue
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        if geom.geom_type in ("Point", "MultiPoint"):
            for p in getattr(geom, "geoms", [geom]):
                pt_lat.append(p.y), pt_lon.append(p.x), pt_numbers.append(number)
        else:
            metric = geometry_to_metric(geom)
            if not shapely.dwithin(metric, city, SNAP_M):
                problems.add(number, "在揭阳市范围外，请检查坐标和坐标系", "lies outside Jieyang; check the coordinates and datum")
                continue
            cost += metric.area / (CELL_M * CELL_M) + metric.length / CELL_M + 1
        out.append({"type": "Feature", "geometry": mapping(geom), "properties": {"weight": w}})
        points.append(w)
    _outside(problems, pt_lat, pt_lon, pt_numbers)
    if cost + len(pt_lat) > MAX_POINTS:
        problems.add(None, f"面和线展开后约 {cost + len(pt_lat):,.0f} 个需求点，最多 {MAX_POINTS:,} 个；请用更少或更小的面",
                     f"polygons and lines spread into about {cost + len(pt_lat):,.0f} demand points; at most "
                     f"{MAX_POINTS:,}: send fewer or smaller polygons")
    if points and not any(w > 0 for w in points):
        problems.add(None, "所有权重都是 0", "every weight is 0")
    problems.refuse()
    path = tmp / f"{Path(name).stem or 'demand'}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": out}), encoding="utf-8")
    return _load(path, name)
