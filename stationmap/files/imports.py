"""Importing a station list into the registry: every row validated through `model.make_station`,
all bad rows reported at once with their row numbers; if any row is bad nothing is written, and
re-importing the same file changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from .. import config
from ..errors import ImportRejected, InvalidInput, StationmapError
from ..geo import geography
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
    return distance_m(a.lat, a.lon, b.lat, b.lon)


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
