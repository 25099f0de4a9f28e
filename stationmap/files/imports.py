"""Importing a station list into the registry: every row validated through `model.make_station`,
all bad rows reported at once with their row numbers; if any row is bad nothing is written, and
re-importing the same file changes nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import config
from ..errors import ImportRejected, InvalidInput, StationmapError
from ..geo import datums, geography, metric
from ..geo.geodesic import distance_m
from ..model import Station, make_station, stable_id
from ..store import StationStore
from . import geocode
from .geocode import Geocoder
from .tables import Row, read_rows

DUPLICATE_RADIUS_M = 30.0




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


def _plain_point(rec: dict[str, Any], crs: str) -> tuple[float, float] | None:
    """The WGS-84 point a record gives as plain numbers (what `make_station` will locate), else None."""
    try:
        lat, lon = float(rec["lat"]), float(rec["lon"])
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            return None
        return datums.to_wgs84(lat, lon, crs)
    except (KeyError, TypeError, ValueError, StationmapError):
        return None


def locator(points: list[tuple[float, float]]) -> Callable[[float, float], metric.Place]:
    """`metric.locate` for many points at once: the service area checked for all of them in one indexed pass, and
    those inside Jieyang assigned to districts and townships in one more (those elsewhere in the area have none);
    any other point goes to `metric.locate` itself, which says why it is refused."""
    import numpy as np

    found: dict[tuple[float, float], metric.Place] = {}
    if points:
        lats = np.array([p[0] for p in points])
        lons = np.array([p[1] for p in points])
        area = geography.service_area()
        inside = area.covers(lats, lons)
        city = inside.copy() if area.is_jieyang else inside & geography.in_jieyang_many(lats, lons)
        for lat, lon in zip(lats[inside & ~city].tolist(), lons[inside & ~city].tolist()):
            found[(lat, lon)] = metric.OUTSIDE
        if city.any():
            x, y = metric.to_metric(lons[city], lats[city])
            districts, townships = metric.assign_units(x, y)
            layers = metric.metric_layers()
            for lat, lon, d, t in zip(lats[city].tolist(), lons[city].tolist(), districts.tolist(), townships.tolist()):
                found[(lat, lon)] = metric.Place(d, layers.district_names[d], t, layers.township_names[t])

    def locate(lat: float, lon: float) -> metric.Place:
        hit = found.get((lat, lon))
        return hit if hit is not None else metric.locate(lat, lon)

    return locate


@lru_cache(maxsize=4096)
def known_district(text: str) -> str | None:
    """The Jieyang district a 所属县区 cell names, or None: a station beyond Jieyang (a larger service area) names
    a district the shipped data does not have, and only a point inside Jieyang can be held to its cell."""
    try:
        return geography.district_code(text)
    except InvalidInput:
        return None


def parse_rows(rows: list[Row], crs: str, geocoder: Geocoder) -> tuple[list[tuple[int, Station]], list[tuple[int, str]], list[str]]:
    """Validate rows into stations; every problem with its row number."""
    stations, problems, approximate = [], [], []
    records: list[tuple[Row, dict[str, Any], str | None]] = []
    for row in rows:  # coordinates first, so that every given point is located in one pass
        rec = dict(row.record)
        try:
            if "_error" not in rec:
                _coords(rec)
        except StationmapError as exc:
            records.append((row, rec, str(exc)))
            continue
        records.append((row, rec, None))
    located = locator([p for _, rec, err in records if err is None and (p := _plain_point(rec, crs)) is not None])
    for row, rec, error in records:
        try:
            if error is not None:
                raise InvalidInput(error)
            if "_error" in rec:
                raise InvalidInput(rec["_error"])
            district_text = str(rec.get("district") or "").strip()
            given_district = known_district(district_text) if district_text else None
            row_crs = crs
            if "lat" not in rec and "lon" not in rec and rec.get("name"):
                hit = geocoder.geocode(" ".join(str(rec.get(k, "")) for k in ("address", "township", "district", "name")),
                                       given_district)
                rec.update(lat=hit.lat, lon=hit.lon, location_source=hit.source)
                row_crs = "wgs84"
                approximate.append(f"row {row.number} {rec.get('name')}: {hit.source}")
            station = make_station(rec, crs=row_crs, locate=located)
            if district_text and station.district and given_district != station.district:
                if given_district is None:
                    geography.district_code(district_text)  # raises: unknown district, listing Jieyang's
                names = geography.districts()["name"]
                raise InvalidInput(f"所属县区 says {names[given_district]} but the point lies in "
                                   f"{names[station.district]}: check the coordinates and --crs")
            stations.append((row.number, station))
        except StationmapError as exc:
            problems.append((row.number, str(exc)))
    return stations, problems, approximate


def _distance_m(a: Station, b: Station) -> float:
    return distance_m(a.lat, a.lon, b.lat, b.lon)


_CELL_DEG = 0.001  # grid cell for the duplicate search: over 30 m on both axes up to 60 degrees of latitude


def _cell(s: Station) -> tuple[int, int]:
    return math.floor(s.lat / _CELL_DEG), math.floor(s.lon / _CELL_DEG)


class _Near:
    """Stations by name and grid cell, in the order added: the ones of a name within 30 m of a point are
    in its cell or the eight around it, so a search looks at those alone."""

    def __init__(self) -> None:
        self._cells: dict[tuple[str, int, int], list[tuple[int, int | None, Station]]] = {}
        self._count = 0

    def add(self, number: int | None, s: Station) -> None:
        self._cells.setdefault((s.name, *_cell(s)), []).append((self._count, number, s))
        self._count += 1

    def first(self, s: Station, ok: Callable[[int | None, Station], bool]) -> tuple[int | None, Station] | None:
        """The first added station of the same name within DUPLICATE_RADIUS_M of `s` for which `ok` holds."""
        i, j = _cell(s)
        near = [e for di in (-1, 0, 1) for dj in (-1, 0, 1) for e in self._cells.get((s.name, i + di, j + dj), ())]
        for _order, n, o in sorted(near, key=lambda e: e[0]):
            if _distance_m(s, o) <= DUPLICATE_RADIUS_M and ok(n, o):
                return n, o
        return None


def check_duplicates(new: list[tuple[int, Station]], existing: Iterable[Station]) -> list[tuple[int, str]]:
    """The same name within 30 m of another station (a duplicate), and ids given to two rows."""
    problems = []
    seen: dict[str, tuple[int, Station]] = {}
    others, rows_seen = _Near(), _Near()
    for s in existing:
        others.add(None, s)
    for number, s in new:
        twin = (others.first(s, lambda n, o: o.id != s.id)  # the registry's stations come first, then earlier rows
                or rows_seen.first(s, lambda n, o: True))
        if twin:
            where = f"row {twin[0]}" if twin[0] is not None else f"station {twin[1].id}"
            problems.append((number, f"same name as {where}, only {_distance_m(s, twin[1]):.0f} m away: a duplicate"
                             + (" (give its id to update it)" if twin[0] is None else "")))
        elif s.id in seen:
            problems.append((number, f"id {s.id} is also used by row {seen[s.id][0]}"
                             + (" (same name in the same district: give each row its own 编号/id)"
                                if s.id == stable_id(s.name, s.district) else "")))
        if s.id not in seen:
            seen[s.id] = (number, s)
            rows_seen.add(number, s)
    return problems


def plan_import(old: list[Station], parsed: list[tuple[int, Station]], merge: bool) -> list[Station]:
    """The registry after the import: the file alone, or the file merged over the old registry by id.

    A row without a last-verified day keeps the registry's for the same id: a list that does not say
    (the union's own sheet) does not unsay an editor's check."""
    kept = {s.id: s.last_verified for s in old if s.last_verified}
    rows = [replace(s, last_verified=kept[s.id]) if not s.last_verified and s.id in kept else s for _, s in parsed]
    if not merge:
        return rows
    by_id = {s.id: s for s in old}
    by_id.update({s.id: s for s in rows})
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
