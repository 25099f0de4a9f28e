"""Exports out: every layer as GeoJSON, CSV, XLSX or GeoPackage, and the atomic writers every file
output goes through (a killed process leaves the old file or none).
"""
from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import geopandas as gpd
import pandas as pd

from .. import present
from ..errors import InvalidInput
from ..geo import geography
from ..model import Station
from ..query.coverage import Gap
from ..store import StationStore, to_frame
from .sheets import CSV_LINE_END, safe_cell, write_xlsx


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


def write_gaps(gaps_list: Sequence[Gap], path: str | Path, fmt: str = "csv", geometry: str = "area") -> None:
    """Write gaps to `path` ('-': standard output) as 'csv' (UTF-8 with BOM in a file, opens in Excel) or 'geojson'."""
    if fmt == "csv":
        write_text(path, present.gaps_csv(gaps_list), bom=True)
    elif fmt == "geojson":
        write_text(path, json.dumps(present.gaps_geojson(gaps_list, geometry), ensure_ascii=False))
    else:
        raise InvalidInput(f"unknown gaps format {fmt!r}; use csv or geojson")
