"""Last verified: which stations no editor has confirmed on the ground for some days.

The day itself is a station field (`Station.last_verified`, set by `editing.verify_station`), so it
travels with the registry: the GeoPackage, exports and imports (核实日期), the public JSON.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Iterable

from ..checks import whole_number
from ..geo import geography
from ..hours import TZ
from ..model import Station

MAX_DAYS = 36500
COLUMNS = ("id", "name", "district", "district_name", "status", "last_verified", "days_since")


def days_since(station: Station, today: date) -> int | None:
    """Whole days since the station was last verified; None if it never was."""
    if not station.last_verified:
        return None
    return (today - date.fromisoformat(station.last_verified)).days


def unverified(stations: Iterable[Station], days: Any, today: date | None = None,
               district: str | None = None) -> list[Station]:
    """Stations not verified for `days` days or more (never verified ones first, then the oldest),
    optionally of one district (name or adcode). With days=1, every station not verified today."""
    n = whole_number(days, "days", 1, MAX_DAYS)
    today = today or datetime.now(TZ).date()
    code = geography.district_code(district) if district else None

    def stale(s: Station) -> bool:
        since = days_since(s, today)
        return since is None or since >= n

    out = [s for s in stations if (code is None or s.district == code) and stale(s)]
    return sorted(out, key=lambda s: (s.last_verified != "", s.last_verified, s.id))


def unverified_rows(stations: Iterable[Station], today: date | None = None) -> list[dict[str, Any]]:
    """Rows for the planner's list: id, name, district, last verified day and days since (blank: never)."""
    today = today or datetime.now(TZ).date()
    names = geography.districts()["name"]
    return [{"id": s.id, "name": s.name, "district": s.district, "district_name": names.get(s.district, ""),
             "status": s.status, "last_verified": s.last_verified, "days_since": days_since(s, today)}
            for s in stations]
