"""Importing the union's station lists (CSV, XLSX, GeoJSON) and exporting every layer.

Import reads the headers union spreadsheets really have (Chinese or English), validates every row
through `model.make_station`, and reports all bad rows at once with their row numbers. If any row is
bad nothing is written; re-importing the same file changes nothing.
"""
from __future__ import annotations

import csv
import io as _io
import json
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import geopandas as gpd
import pandas as pd
from geographiclib.geodesic import Geodesic

from . import config, geocode, geography, present
from .errors import ImportRejected, InvalidInput, StationmapError
from .geocode import Geocoder
from .model import Station, make_station, stable_id
from .sheets import CSV_LINE_END, plain_cell, safe_cell, write_xlsx
from .store import StationStore, to_frame

DUPLICATE_RADIUS_M = 30.0
MAX_ROWS = 20000

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
    # put before formula-like text (stationmap.sheets), or names with '"' beyond the sniffed sample.
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


# ---------------------------------------------------------------------------------------------
# importing
# ---------------------------------------------------------------------------------------------
@dataclass
class ImportResult:
    added: list[Station] = field(default_factory=list)
    updated: list[Station] = field(default_factory=list)
    removed: list[Station] = field(default_factory=list)
    unchanged: int = 0
    approximate: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False

    def summary(self) -> str:
        head = "dry run, nothing written: would " if self.dry_run else ("" if self.written else "no change: ")
        lines = [f"{head}add {len(self.added)}, update {len(self.updated)}, remove {len(self.removed)}, "
                 f"keep {self.unchanged} unchanged"]
        for label, items in (("add", self.added), ("update", self.updated), ("remove", self.removed)):
            lines += [f"  {label}: {s.id} {s.name}" for s in items[:50]]
        lines += [f"  approximate location (geocoded): {a}" for a in self.approximate]
        if self.ignored_columns:
            lines.append("  ignored columns: " + ", ".join(self.ignored_columns))
        return "\n".join(lines)


def _coords(rec: dict[str, Any]) -> None:
    """Split a combined '经度,纬度' cell into lon/lat."""
    if "coords" in rec and not ("lat" in rec and "lon" in rec):
        cell = str(rec.pop("coords"))
        parts = [p for p in cell.replace("，", ",").replace(" ", ",").split(",") if p]
        if len(parts) != 2:
            raise InvalidInput(f"coordinates cell {cell!r}: write 经度,纬度 such as 116.3728,23.5501")
        rec["lon"], rec["lat"] = parts
    rec.pop("coords", None)


def parse_rows(rows: list[Row], crs: str, geocoder: Geocoder) -> tuple[list[tuple[int, Station]], list[tuple[int, str]], list[str]]:
    """Validate rows into stations; every problem with its row number."""
    stations, problems, approximate = [], [], []
    for row in rows:
        rec = dict(row.record)
        try:
            if "_error" in rec:
                raise InvalidInput(rec["_error"])
            _coords(rec)
            given_district = geography.district_code(rec["district"]) if rec.get("district") else None
            row_crs = crs
            if "lat" not in rec and "lon" not in rec and rec.get("name"):
                hit = geocoder.geocode(" ".join(str(rec.get(k, "")) for k in ("address", "township", "district", "name")),
                                       given_district)
                rec.update(lat=hit.lat, lon=hit.lon, location_source=hit.source)
                row_crs = "wgs84"
                approximate.append(f"row {row.number} {rec.get('name')}: {hit.source}")
            station = make_station(rec, crs=row_crs)
            if given_district and given_district != station.district:
                names = geography.districts()["name"]
                raise InvalidInput(f"所属县区 says {names[given_district]} but the point lies in "
                                   f"{names[station.district]}: check the coordinates and --crs")
            stations.append((row.number, station))
        except StationmapError as exc:
            problems.append((row.number, str(exc)))
    return stations, problems, approximate


def _distance_m(a: Station, b: Station) -> float:
    return Geodesic.WGS84.Inverse(a.lat, a.lon, b.lat, b.lon)["s12"]


def check_duplicates(new: list[tuple[int, Station]], existing: Iterable[Station]) -> list[tuple[int, str]]:
    """The same name within 30 m of another station (a duplicate), and ids given to two rows."""
    problems = []
    seen: dict[str, tuple[int, Station]] = {}
    others = [(None, s) for s in existing]
    for number, s in new:
        twin = next(((n, o) for n, o in others + list(seen.values())
                     if o.name == s.name and _distance_m(s, o) <= DUPLICATE_RADIUS_M and (n is not None or o.id != s.id)),
                    None)
        if twin:
            where = f"row {twin[0]}" if twin[0] is not None else f"station {twin[1].id}"
            problems.append((number, f"same name as {where}, only {_distance_m(s, twin[1]):.0f} m away: a duplicate"
                             + (" (give its id to update it)" if twin[0] is None else "")))
        elif s.id in seen:
            problems.append((number, f"id {s.id} is also used by row {seen[s.id][0]}"
                             + (" (same name in the same district: give each row its own 编号/id)"
                                if s.id == stable_id(s.name, s.district) else "")))
        seen.setdefault(s.id, (number, s))
    return problems


def plan_import(old: list[Station], parsed: list[tuple[int, Station]], merge: bool) -> list[Station]:
    """The registry after the import: the file alone, or the file merged over the old registry by id."""
    if not merge:
        return [s for _, s in parsed]
    by_id = {s.id: s for s in old}
    by_id.update({s.id: s for _, s in parsed})
    return list(by_id.values())


def import_file(store: StationStore, path: Path, crs: str = "wgs84", merge: bool = False,
                dry_run: bool = False, sheet: str | None = None, geocoder: Geocoder | None = None,
                actor: str = "cli") -> ImportResult:
    """Validate `path` and replace (or, with merge, update) the registry. Raises ImportRejected on any bad row."""
    geocoder = geocoder or geocode.from_settings(config.load_settings())
    rows, ignored = read_rows(Path(path), sheet)
    if not rows:
        raise ImportRejected([(None, f"{Path(path).name} has no station rows")])
    parsed, problems, approximate = parse_rows(rows, crs, geocoder)
    result = ImportResult(approximate=approximate, ignored_columns=ignored, dry_run=dry_run)

    def change(old: list[Station]) -> list[Station]:
        ids = {s.id for _, s in parsed}
        existing = [s for s in old if s.id not in ids] if merge else []
        found = sorted(problems + check_duplicates(parsed, existing), key=lambda p: p[0])
        if found:
            raise ImportRejected(found)
        new = plan_import(old, parsed, merge)
        before = {s.id: s for s in old}
        after = {s.id: s for s in new}
        result.added = [s for i, s in after.items() if i not in before]
        result.updated = [s for i, s in after.items() if i in before and before[i] != s]
        result.removed = [s for i, s in before.items() if i not in after]
        result.unchanged = sum(1 for i, s in after.items() if before.get(i) == s)
        return new

    if dry_run:
        change(store.all())
    else:
        result.written = store.update(change, note={"actor": actor, "action": "import", "file": Path(path).name})
    return result


# ---------------------------------------------------------------------------------------------
# exporting
# ---------------------------------------------------------------------------------------------
def stations_geojson(stations: list[Station]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": s.id, "geometry": {"type": "Point", "coordinates": [s.lon, s.lat]},
         "properties": present.station_properties(s)} for s in stations]}


def _layer_frame(layer: str) -> gpd.GeoDataFrame:
    if layer == "districts":
        return geography.districts().reset_index(drop=True)
    if layer == "townships":
        t = geography.townships().reset_index(drop=True)
        t["district_name"] = t["district"].map(geography.districts()["name"])
        return t
    raise InvalidInput(f"unknown layer {layer!r}; use stations, townships or districts")


def export_layer(store: StationStore, layer: str, fmt: str, output: Path) -> int:
    """Write a layer to `output` ('-' = stdout for text formats); returns the number of features."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if str(output) == "-" and fmt in ("gpkg", "xlsx"):
        raise InvalidInput(f"{fmt} is a binary format: give a file name with -o")
    if layer == "stations":
        stations = store.all()
        n = len(stations)
        if fmt == "geojson":
            text = json.dumps(stations_geojson(stations), ensure_ascii=False, indent=1)
        elif fmt in ("csv", "xlsx"):
            frame = pd.DataFrame([present.station_table_row(s) for s in stations],
                                 columns=[c for c, _ in present.TABLE_COLUMNS])
        else:
            frame = to_frame(stations)
    else:
        frame = _layer_frame(layer)
        n = len(frame)
        if fmt == "geojson":
            text = frame.to_json(ensure_ascii=False, drop_id=True)
        elif fmt in ("csv", "xlsx"):
            plain = pd.DataFrame(frame.drop(columns="geometry"))
            if layer == "townships":
                plain["seat_lon"], plain["seat_lat"] = frame.geometry.x, frame.geometry.y
            frame = plain
    if fmt == "geojson":
        write_text(output, text + "\n")
    elif fmt == "csv":
        write_text(output, frame.map(safe_cell).to_csv(index=False, lineterminator=CSV_LINE_END), bom=True)
    else:
        with atomic_output(output) as tmp:
            if fmt == "xlsx":
                write_xlsx(tmp, list(frame.columns), frame.itertuples(index=False, name=None), sheet=layer)
            else:
                frame.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")
    return n


EXPORT_FORMATS = ("geojson", "csv", "xlsx", "gpkg")


# ---------------------------------------------------------------------------------------------
# writing output files
# ---------------------------------------------------------------------------------------------
@contextmanager
def atomic_output(output: Path | str) -> Iterator[Path]:
    """A temporary path beside `output`, renamed onto it when the block succeeds (removed otherwise),
    so a failed or killed export never leaves half a file. Unwritable places raise InvalidInput."""
    path = Path(output)
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory; give a file name")
    if not path.parent.is_dir():
        raise InvalidInput(f"cannot write {path}: there is no directory {path.parent}")
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_text(output: Path | str, text: str, bom: bool = False) -> None:
    """Write `text` to a file (atomically; UTF-8, with a BOM if `bom` so Excel reads CSV right) or, for '-', stdout."""
    if str(output) == "-":
        sys.stdout.write(text)
        return
    with atomic_output(output) as tmp:
        tmp.write_text(text, encoding="utf-8-sig" if bom else "utf-8", newline="")  # line ends as given (CSV: CRLF)
