"""Changing one station: create, edit, close, reopen, verify, delete — validated, permitted, never lost.

Every function is one row change of the store (`change_rows`: the station's row and its audit entry,
whatever the registry's size), and runs its checks inside it, under the store's lock, so the
permission and version checks see the registry exactly as it is written over:
- validation is the import's (`make_station`, `with_changes`, duplicate check);
- an editor may only touch stations in their district, and may not move one out of it;
- edits and deletes name the version they start from (`if_match`, the station's ETag, or "*");
  if the station changed meanwhile the write is refused with Conflict (HTTP 409), so two
  concurrent edits cannot silently overwrite each other.
Each write carries the actor and action to the audit log (the store's journal).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any, Mapping

from ..checks import lat_lon
from ..errors import Conflict, InvalidInput, NotFound, PreconditionRequired
from ..geo import datums
from ..hours import TZ
from ..model import Station, etag, make_station, with_changes
from ..store import StationStore
from .accounts import User

EDITABLE = ("name", "kind", "status", "lat", "lon", "address", "hours", "amenities", "host", "phone",
            "honours", "year_opened", "demo", "features", "location_source")
DERIVED = ("district", "township")


def _check_keys(record: dict[str, Any], allowed: tuple[str, ...]) -> None:
    if not isinstance(record, dict):
        raise InvalidInput("expected an object of station fields")
    derived = sorted(k for k in record if k in DERIVED)
    if derived:
        raise InvalidInput(f"{', '.join(derived)} cannot be set: derived from the location")
    unknown = sorted(k for k in record if k not in allowed)
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)}; editable: {', '.join(allowed)}")


def _to_wgs84(changes: dict[str, Any], crs: str) -> dict[str, Any]:
    """Convert a GCJ-02/BD-09 point (picked on Amap/Baidu) to WGS-84 before validation."""
    if crs == "wgs84" or ("lat" not in changes and "lon" not in changes):
        return changes
    if "lat" not in changes or "lon" not in changes:
        raise InvalidInput("give both lat and lon when moving a station")
    lat, lon = datums.to_wgs84(*lat_lon(changes["lat"], changes["lon"]), crs)
    return {**changes, "lat": lat, "lon": lon}


def _check_duplicate(station: Station, current: Mapping[str, Station]) -> None:
    """The import's duplicate rule, asked only of the stations bearing the same name (a duplicate shares it)."""
    from ..files.imports import check_duplicates

    namesakes = [o for o in current.values() if o.name == station.name and o.id != station.id]
    problems = check_duplicates([(1, station)], namesakes) if namesakes else []
    if problems:
        raise InvalidInput(problems[0][1])


def _find(current: Mapping[str, Station], station_id: str) -> Station:
    found = current.get(station_id)
    if found is None:
        raise NotFound(f"no station with id {station_id!r}")
    return found


def _check_version(station: Station, if_match: str | None) -> None:
    if if_match is None:
        raise PreconditionRequired(f"say which version of {station.id} you edit: If-Match: \"{etag(station)}\" "
                                   "(its current ETag), or '*' to overwrite whatever is there")
    tags = {t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")}
    if "*" not in tags and etag(station) not in tags:
        raise Conflict(f"station {station.id} was changed by someone else since you loaded it; "
                       "reload it and apply your change again")


def _note(user: User, action: str) -> dict[str, str]:
    return {"actor": user.name, "role": user.role, "action": action}


def create_station(store: StationStore, user: User, record: dict[str, Any], crs: str = "wgs84") -> Station:
    """Add a station; Conflict if its id exists, Forbidden outside an editor's district."""
    _check_keys(record, EDITABLE + ("id",))
    station = make_station(_to_wgs84(dict(record), crs))
    user.check_district(station.district, f"the new station {station.name}")

    def change(current: Mapping[str, Station]) -> dict[str, Station | None]:
        if station.id in current:
            raise Conflict(f"a station with id {station.id} exists; edit it instead")
        _check_duplicate(station, current)
        return {station.id: station}

    store.change_rows(change, _note(user, "create"))
    return station


def edit_station(store: StationStore, user: User, station_id: str, changes: dict[str, Any],
                 if_match: str | None, crs: str = "wgs84", action: str = "edit") -> Station:
    """Change fields of a station; returns the station as written (unchanged if nothing differs)."""
    _check_keys(changes, EDITABLE)
    changes = _to_wgs84(dict(changes), crs)
    result: list[Station] = []

    def change(registry: Mapping[str, Station]) -> dict[str, Station | None]:
        current = _find(registry, station_id)
        user.check_district(current.district, f"station {station_id}")
        _check_version(current, if_match)
        new = with_changes(current, **changes)
        if new.district != current.district:
            user.check_district(new.district, f"the new location of station {station_id}")
        if new.name != current.name or (new.lat, new.lon) != (current.lat, current.lon):
            _check_duplicate(new, registry)
        result.append(new)
        return {station_id: new}

    store.change_rows(change, _note(user, action))
    return result[0]


def close_station(store: StationStore, user: User, station_id: str, if_match: str | None) -> Station:
    """Mark a station closed (暂停开放): it stays on the list, shown as closed."""
    return edit_station(store, user, station_id, {"status": "closed"}, if_match, action="close")


def reopen_station(store: StationStore, user: User, station_id: str, if_match: str | None) -> Station:
    return edit_station(store, user, station_id, {"status": "open"}, if_match, action="reopen")


def verify_station(store: StationStore, user: User, station_id: str, day: date | None = None) -> Station:
    """Confirm a station as checked on `day` (today, Asia/Shanghai) without changing its fields.

    No If-Match: nothing an editor typed is written, so there is nothing to overwrite. Verifying twice
    on one day writes (and logs) once; an earlier day never replaces a later one."""
    when = (day or datetime.now(TZ).date()).isoformat()
    result: list[Station] = []

    def change(registry: Mapping[str, Station]) -> dict[str, Station | None]:
        current = _find(registry, station_id)
        user.check_district(current.district, f"station {station_id}")
        new = replace(current, last_verified=max(current.last_verified, when))
        result.append(new)
        return {station_id: new}

    store.change_rows(change, _note(user, "verify"))
    return result[0]


def delete_station(store: StationStore, user: User, station_id: str, if_match: str | None) -> Station:
    """Remove a station from the registry; returns it as it was (the audit log keeps it too)."""
    removed: list[Station] = []

    def change(registry: Mapping[str, Station]) -> dict[str, Station | None]:
        current = _find(registry, station_id)
        user.check_district(current.district, f"station {station_id}")
        _check_version(current, if_match)
        removed.append(current)
        return {station_id: None}

    store.change_rows(change, _note(user, "delete"))
    return removed[0]
