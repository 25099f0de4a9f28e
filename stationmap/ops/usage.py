"""Observed use: visits reported by smart stations, per station, district, day or ISO week.

Days and weeks are on the Asia/Shanghai clock (UTC+8 all year: China has kept no daylight saving
since 1991, so the fixed offset in SQL is exact; SQLite and PostgreSQL each spell it their way). A visit
counts on the day of the report that carried it. `demand_rows` turns visits into weighted points, a
demand layer for coverage and siting.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..hours import TZ
from .db import dialect, time_bound

if TYPE_CHECKING:  # the command line's parameters read GROUPINGS: no geography or registry for that
    from ..store import StationStore
    from .telemetry import Telemetry

GROUPINGS = ("station", "district", "day", "week")
_LOCAL = "datetime(ts_utc, '+8 hours')"
_KEYS = {
    "station": "station_id",
    "district": "district",
    "day": f"date({_LOCAL})",
    "week": f"date({_LOCAL}, 'weekday 0', '-6 days')",  # the Monday of the report's week
}
_PG_LOCAL = "(ts_utc::timestamp + interval '8 hours')"  # a timestamp without zone reads the UTC text's clock
_PG_KEYS = {**_KEYS, "day": f"to_char({_PG_LOCAL}, 'YYYY-MM-DD')",
            "week": f"to_char(date_trunc('week', {_PG_LOCAL}), 'YYYY-MM-DD')"}  # weeks start on Mondays


def visits(telemetry: Telemetry, store: StationStore | None = None, by: str = "station",
           since: date | datetime | str | None = None, until: date | datetime | str | None = None,
           district: str | None = None) -> list[dict[str, Any]]:
    """Visits and report counts grouped `by` station, district, day or week; `until` is exclusive.

    Rows: {key, visits, reports} plus names (station: name, district; district: name; week: iso week, monday).
    """
    if by not in GROUPINGS:
        raise InvalidInput(f"group by {by!r}: use one of {', '.join(GROUPINGS)}")
    where, args = ["1=1"], []
    for op, value, what in ((">=", since, "since"), ("<", until, "until")):
        bound = time_bound(value, what, TZ)
        if bound:
            where.append(f"ts_utc {op} ?")
            args.append(bound)
    if district:
        where.append("district = ?")
        from ..geo import geography

        args.append(geography.district_code(district))
    with telemetry.db() as con:
        key = (_KEYS if dialect(con) == "sqlite" else _PG_KEYS)[by]
        sql = (f"SELECT {key} AS key, MIN(district) AS district, SUM(visits) AS visits, COUNT(*) AS reports "
               f"FROM reports WHERE {' AND '.join(where)} GROUP BY key ORDER BY key")
        rows = [dict(r) for r in con.execute(sql, args)]
    from ..geo import geography

    names = geography.districts()["name"]
    stations = {s.id: s for s in store.all()} if store is not None and by == "station" else {}
    out = []
    for r in rows:
        row: dict[str, Any] = {by: r["key"], "visits": int(r["visits"] or 0), "reports": r["reports"]}
        if by == "station":
            s = stations.get(r["key"])
            row.update(name=s.name if s else "", district=r["district"], district_name=names.get(r["district"], ""))
        elif by == "district":
            row["district_name"] = names.get(r["key"], "")
        elif by == "week":
            monday = date.fromisoformat(r["key"])
            year, week, _ = monday.isocalendar()
            row = {"week": f"{year}-W{week:02d}", "monday": r["key"], **{k: row[k] for k in ("visits", "reports")}}
        out.append(row)
    return out


def demand_rows(telemetry: Telemetry, store: StationStore, since: date | datetime | str | None = None,
                until: date | datetime | str | None = None) -> list[dict[str, Any]]:
    """One row per station that reported visits: station, name, lat, lon (WGS-84), weight = visits.

    Written as CSV this is a planner's demand file (`stationmap.query.demand.load_demand` reads lat, lon,
    weight). Stations no longer in the registry are left out (their location is unknown)."""
    where = {s.id: s for s in store.all()}
    out = []
    for row in visits(telemetry, None, "station", since, until):
        s = where.get(row["station"])
        if s is not None and row["visits"] > 0:
            out.append({"station": s.id, "name": s.name, "lat": s.lat, "lon": s.lon, "weight": row["visits"]})
    return out


DEMAND_COLUMNS = ("station", "name", "lat", "lon", "weight")


def demand_csv(rows: list[dict[str, Any]]) -> str:
    """`demand_rows` as CSV text: a demand file that `stationmap.query.demand.load_demand` reads (lat, lon, weight).

    Names are kept inert for spreadsheets (stationmap.files.sheets)."""
    from ..files.sheets import records_csv

    return records_csv(DEMAND_COLUMNS, rows)
