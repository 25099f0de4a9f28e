"""Tables in: the union's station lists (CSV in UTF-8 or GBK, XLSX, GeoJSON) as numbered rows of
record keys, from the headers union spreadsheets really have (Chinese or English); and planners'
tables (demand, candidates) as frames.
"""
from __future__ import annotations

import csv
import io as _io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from ..errors import InvalidInput
from ..geo import geography
from .sheets import plain_cell

MAX_ROWS = 250_000  # a national registry (184,200 stations) with room to spare

# Column headers seen in union lists -> record keys. Matching ignores case, spaces and brackets.
HEADERS: dict[str, tuple[str, ...]] = {
    "id": ("id", "编号", "驿站编号", "站点编号", "stationid"),
    "name": ("name", "驿站名称", "站点名称", "名称", "驿站名", "服务站点名称", "站点名", "stationname"),
    "district": ("district", "所属县区", "县区", "区县", "所属区县", "所在县区", "县(市、区)", "所属县(市、区)", "districtname"),
    "township": ("township", "所属镇街", "镇街", "镇(街道)", "所属镇(街道)", "街道", "乡镇", "townshipname"),
    "address": ("address", "详细地址", "地址", "站点地址", "驿站地址"),
    "lon": ("lon", "lng", "longitude", "经度", "x"),
    "lat": ("lat", "latitude", "纬度", "y"),
    "coords": ("坐标", "经纬度", "coordinates", "lnglat"),
    "hours": ("hours", "openinghours", "opening_hours", "开放时间", "服务时间", "营业时间", "开放时段"),
    "phone": ("phone", "tel", "telephone", "联系电话", "电话", "联系方式", "服务电话"),
    "amenities": ("amenities", "服务设施", "设施", "配套设施", "服务项目", "服务内容", "功能"),
    "kind": ("kind", "type", "类型", "驿站类型", "站点类型"),
    "status": ("status", "状态", "运营状态"),
    "host": ("host", "依托单位", "建设单位", "承建单位", "主办单位", "运营单位", "所在单位"),
    "honours": ("honours", "honors", "荣誉", "所获荣誉"),
    "year_opened": ("yearopened", "year_opened", "建成年份", "建成时间", "开放年份", "启用年份"),
    "features": ("features", "智能功能", "智能化功能", "智能设备"),
    "demo": ("demo", "示例数据", "示例"),
    "location_source": ("locationsource", "location_source", "坐标来源"),
    "last_verified": ("lastverified", "last_verified", "verified", "核实日期", "最近核实", "最近核实日期", "最后核实日期"),
    "_seq": ("序号", "no", "no.", "#"),
}


def _norm_header(text: Any) -> str:
    return "".join(str(text).split()).lower().replace("（", "(").replace("）", ")")


_HEADER_INDEX = {_norm_header(w): key for key, words in HEADERS.items() for w in words}


# ---------------------------------------------------------------------------------------------
# reading files into rows
# ---------------------------------------------------------------------------------------------
@dataclass
class Row:
    number: int  # as the user sees it: spreadsheet/CSV line, or GeoJSON feature number
    record: dict[str, Any]


def read_rows(path: Path, sheet: str | None = None) -> tuple[list[Row], list[str]]:
    """Rows of a CSV, XLSX or GeoJSON file as records with our keys; also the ignored column names."""
    suffix = path.suffix.lower()
    if suffix not in (".geojson", ".json", ".csv", ".xlsx", ".xlsm"):
        raise InvalidInput(f"cannot import {path.name}: use a .csv, .xlsx or .geojson file")
    if sheet is not None and suffix not in (".xlsx", ".xlsm"):
        raise InvalidInput(f"--sheet {sheet!r} applies to .xlsx workbooks; {path.name} has no sheets")
    if suffix in (".geojson", ".json"):
        return _read_geojson(path), []
    table = _read_csv(path) if suffix == ".csv" else _read_xlsx(path, sheet)
    return _table_rows(table, path.name)


def _read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK by default
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidInput(f"{path.name} is neither UTF-8 nor GBK text; save it as 'CSV UTF-8' from Excel")
    try:
        sniffed = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        delimiter, skip_space = sniffed.delimiter, sniffed.skipinitialspace
    except csv.Error:
        delimiter, skip_space = ",", False
    # Only the delimiter and spacing are guessed: quoting is always Excel's ("" inside "..."). A
    # guessed quote character or escaping misreads cells holding quotes, such as the "'" that exports
    # put before formula-like text (stationmap.files.sheets), or names with '"' beyond the sniffed sample.
    reader = csv.reader(_io.StringIO(text, newline=""), csv.excel, delimiter=delimiter, skipinitialspace=skip_space)
    return [[c.strip() for c in r] for r in reader]


def _read_xlsx(path: Path, sheet: str | None) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged or mislabelled file
        raise InvalidInput(f"{path.name} is not a readable .xlsx workbook ({exc.__class__.__name__})") from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise InvalidInput(f"no sheet {sheet!r} in {path.name}; sheets: {', '.join(wb.sheetnames)}")
        ws = wb[sheet] if sheet else wb.worksheets[0]
        return [["" if v is None else v for v in r] for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def _table_rows(table: list[list[Any]], name: str) -> tuple[list[Row], list[str]]:
    """Find the header row (union sheets often have a title row above it) and map columns."""
    for h, header in enumerate(table[:15]):
        keys = [_HEADER_INDEX.get(_norm_header(c)) for c in header]
        if "name" in keys and (("lat" in keys and "lon" in keys) or "coords" in keys or "address" in keys):
            break
    else:
        known = [next((w for w in words if not w.isascii()), words[0]) + "/" + key
                 for key, words in HEADERS.items() if not key.startswith("_")]
        raise InvalidInput(f"no header row found in {name}: the sheet needs a name column (驿站名称) and either "
                           "经度 and 纬度 or 详细地址; known headers: " + ", ".join(known))
    ignored = [str(c) for c, k in zip(header, keys) if k is None and str(c).strip()]
    rows = []
    for i, values in enumerate(table[h + 1:], start=h + 2):
        if len(rows) >= MAX_ROWS:
            raise InvalidInput(f"more than {MAX_ROWS} rows; split the file")
        if all(str(v).strip() == "" for v in values):
            continue
        rec = {k: plain_cell(v) for k, v in zip(keys, values) if k and k != "_seq" and str(v).strip() != ""}
        rows.append(Row(i, rec))
    return rows, ignored


def _read_geojson(path: Path) -> list[Row]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name} is not UTF-8 text, so not GeoJSON") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path.name} is not valid GeoJSON: {exc}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
        raise InvalidInput(f"{path.name} is not a GeoJSON FeatureCollection")
    return [_feature_row(i, f) for i, f in enumerate(data["features"], start=1)]


def _feature_row(number: int, feature: Any) -> Row:
    """One GeoJSON feature as a row; what is wrong with it goes in `_error`, reported with its number."""
    if not isinstance(feature, dict) or not isinstance(feature.get("properties") or {}, dict):
        return Row(number, {"_error": "not a GeoJSON Feature with a properties object"})
    rec: dict[str, Any] = {}
    for k, v in (feature.get("properties") or {}).items():
        key = _HEADER_INDEX.get(_norm_header(k))
        if key and key != "_seq" and v not in (None, ""):
            rec[key] = v
    geom = feature.get("geometry")
    if geom:
        kind = geom.get("type") if isinstance(geom, dict) else None
        coords = geom.get("coordinates") if kind == "Point" else None
        if kind != "Point":
            rec["_error"] = f"geometry is {'a ' + str(kind) if kind else 'not a GeoJSON geometry'}; stations are Points"
        elif not isinstance(coords, list) or len(coords) < 2:
            rec["_error"] = f"Point coordinates {coords!r}: write [longitude, latitude]"
        else:
            rec["lon"], rec["lat"] = coords[:2]
    return Row(number, rec)


# -- planners' tables (demand, candidates) --------------------------------------------------
LAT_COLUMNS = ("lat", "latitude", "纬度", "y", "wgs84_lat")


LON_COLUMNS = ("lon", "lng", "long", "longitude", "经度", "x", "wgs84_lon")


WEIGHT_COLUMNS = ("weight", "population", "pop", "people", "count", "workers", "demand",
                "人口", "人数", "常住人口", "权重", "数量", "需求")


TOWNSHIP_COLUMNS = ("township", "township_code", "乡镇", "街道", "镇街", "乡镇街道")


DISTRICT_COLUMNS = ("district", "adcode", "区县", "县区", "区")


def find_column(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    norm = {re.sub(r"[\s_\-]", "", str(c)).lower(): c for c in columns}
    for w in wanted:
        hit = norm.get(re.sub(r"[\s_\-]", "", w).lower())
        if hit is not None:
            return hit
    return None


def read_table(path: Path, sheet: str | None = None) -> pd.DataFrame:
    """A CSV (UTF-8 or GBK) or XLSX table as text cells under its first non-empty row; InvalidInput if it
    cannot be read. The same readers as a station list (`read_rows`), so both accept the same files."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        table = [[None if v == "" else v for v in r] for r in _read_xlsx(path, sheet)]
    else:
        table = [[c or None for c in r] for r in _read_csv(path)]
    table = [r for r in table if any(v is not None for v in r)]
    if not table:
        raise InvalidInput(f"{path.name} is empty: it needs a header row and data rows")
    header = [str(c).strip() if c is not None else f"column {i + 1}" for i, c in enumerate(table[0])]
    width = len(header)
    rows = [(r + [None] * width)[:width] for r in table[1:]]
    return pd.DataFrame([[plain_cell(v) for v in r] for r in rows], columns=header, dtype=object)


def read_geo(path: Path, what: str = "features") -> gpd.GeoDataFrame:
    """A GeoJSON or GeoPackage file as WGS-84 (lon/lat) features; InvalidInput if it cannot be read."""
    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except Exception:  # pyogrio raises its own types for missing drivers, broken files, no layers
        raise InvalidInput(f"cannot read {path.name}: it is not a valid GeoJSON or GeoPackage file") from None
    if frame.empty or frame.geometry.isna().all():
        raise InvalidInput(f"{path.name}: no {what} with geometry")
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(geography.WGS84)
    return frame
