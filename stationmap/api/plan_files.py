"""Planning outputs that cannot land in the wrong place: every point in WGS-84 and GCJ-02 (labelled) with
an Amap link, and every file naming the question it answers (reach, mode, stations required, demand
layer, registry date) in its file name and inside it: a `question` column first in CSV (a comment line
would break Excel's columns and the import's header search), a `question` member in GeoJSON.

The plan of a what-if (sites added, stations removed) comes out in the union's own station columns
(`present.TABLE_COLUMNS`, which `stationmap import --merge` reads): added sites as planned stations,
removed stations as their full rows marked closed.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from .. import present
from ..files.sheets import records_csv
from ..model import KIND_ZH, STATUS_ZH, Station
from ..query import travel

QUESTION = "question"  # the first column of every planning CSV, and a member of every planning GeoJSON
COORD_FIELDS = ("lat_wgs84", "lon_wgs84", "lat_gcj02", "lon_gcj02", "amap_url")
DATUM_NOTE_ZH = "坐标：WGS-84（GPS）与 GCJ-02（高德、腾讯、微信）各一列；粘贴到高德地图请用 GCJ-02 列或点高德链接"


def registry_date(store: Any) -> str:
    """The day the registry was last written (its file's time, Asia/Shanghai), or today without a file."""
    from zoneinfo import ZoneInfo

    path = getattr(store, "path", None)
    try:
        stamp = datetime.fromtimestamp(Path(path).stat().st_mtime, timezone.utc) if path else None
    except OSError:
        stamp = None
    day = (stamp or datetime.now(timezone.utc)).astimezone(ZoneInfo("Asia/Shanghai")).date()
    return day.isoformat()


def double15(meta: dict[str, Any]) -> bool:
    """Whether a question is the 双15 one: a 15-minute reach with cross coverage (two stations)."""
    return meta.get("minutes") == 15 and int(meta.get("min_stations") or 1) == 2


def question(meta: dict[str, Any], demand_label_zh: str, demand_modelled: bool, registry: str) -> dict[str, Any]:
    """What an answer answers, for file names and headers: reach, mode, stations required, demand, registry date."""
    k = int(meta.get("min_stations") or 1)
    minutes, mode, reach = meta.get("minutes"), meta.get("mode"), float(meta["reach_m"])
    reach_zh = (f"{travel.MODE_ZH[mode or 'walk']}{minutes:g}分钟（直线{reach:,.0f}米）" if minutes is not None
                else f"直线{reach:,.0f}米")
    need_zh = "交叉覆盖（至少2个驿站）" if k == 2 else "至少1个驿站"
    if double15(meta):
        need_zh = "双15：15分钟交叉覆盖（至少2个驿站）"
    label = " · ".join((reach_zh, need_zh, demand_label_zh or "需求", f"驿站登记 {registry}"))
    return {"reach_m": round(reach, 1), "minutes": minutes, "mode": mode if minutes is not None else None,
            "min_stations": k, "double15": double15(meta), "demand": demand_label_zh,
            "demand_modelled": demand_modelled, "registry_date": registry, "label_zh": label,
            "coordinates": DATUM_NOTE_ZH}


def slug(q: dict[str, Any]) -> str:
    """The question in a file name: ebike15min_2stations_model_2025-06-01 (ASCII, no spaces)."""
    reach = f"{q['mode']}{q['minutes']:g}min" if q.get("minutes") is not None else f"{q['reach_m']:.0f}m"
    demand = "model" if q.get("demand_modelled") else "demand"
    return re.sub(r"[^A-Za-z0-9_.-]", "", f"{reach}_{q['min_stations']}stations_{demand}_{q['registry_date']}")


def filename(what: str, q: dict[str, Any], ext: str) -> str:
    return f"{what}_{slug(q)}.{ext}"


def with_coords(row: dict[str, Any], name: str, mode: str | None) -> dict[str, Any]:
    """A row holding WGS-84 lat/lon with them labelled, its GCJ-02 pair and an Amap link (lat/lon kept for
    GeoJSON and old readers)."""
    lat, lon = float(row["lat"]), float(row["lon"])
    g = present.datum_coords(lat, lon)["gcj02"]
    return {**row, "lat_wgs84": round(lat, 6), "lon_wgs84": round(lon, 6), "lat_gcj02": g[1], "lon_gcj02": g[0],
            "amap_url": present.amap_url(lat, lon, name, mode or travel.MODES[1])}


def rows_csv(rows: Sequence[dict[str, Any]], q: dict[str, Any], first: Sequence[str] = ()) -> str:
    """Rows as CSV: the question first, then `first`, the labelled coordinates, then the rest (lat/lon dropped:
    the labelled columns say their datum)."""
    columns = [QUESTION, *first]
    for r in rows:
        columns += [k for k in r if k not in columns and k not in ("lat", "lon", "geometry")]
    if not rows:
        columns += [k for k in COORD_FIELDS if k not in columns]
    flat = ({QUESTION: q["label_zh"], **{k: ("、".join(map(str, v)) if isinstance(v, list) else v)
                                         for k, v in r.items()}} for r in rows)
    return records_csv(columns, flat, extrasaction="ignore")


def points_geojson(rows: Iterable[dict[str, Any]], q: dict[str, Any]) -> dict[str, Any]:
    """Rows as GeoJSON points (WGS-84 geometry, GCJ-02 and the Amap link in properties) with the question."""
    doc = present.points_collection(list(rows))
    return {"type": "FeatureCollection", QUESTION: q, "features": doc["features"]}


# -- the plan: what the import reads ---------------------------------------------------------------
PLAN_ACTION = "方案"
PLAN_EXTRA = (PLAN_ACTION, "纬度(GCJ-02 高德)", "经度(GCJ-02 高德)", "高德链接", "新增覆盖人口(1站)", "新增覆盖人口(2站)")


def site_name(i: int) -> str:
    return f"规划新站 {i}"


def plan_rows(added: Sequence[dict[str, Any]], removed: Sequence[Station], q: dict[str, Any],
              losses: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The plan in the union's station columns (WGS-84 经度/纬度, as the import reads them by default) plus
    GCJ-02 and an Amap link: added sites as planned outdoor stations, removed stations closed."""
    losses = losses or {}
    mode = q.get("mode")
    out = []
    for i, a in enumerate(added, 1):
        name = a.get("name") or site_name(i)
        g = present.datum_coords(a["lat"], a["lon"])["gcj02"]
        row = {zh: "" for zh, _ in present.TABLE_COLUMNS}
        row.update({"驿站名称": name, "类型": KIND_ZH["outdoor"], "状态": STATUS_ZH["planned"],
                    "所属县区": a.get("district_name", ""), "所属镇街": a.get("township_name", ""),
                    "经度": round(a["lon"], 6), "纬度": round(a["lat"], 6)})
        out.append({QUESTION: q["label_zh"], PLAN_ACTION: "新增", **row, "纬度(GCJ-02 高德)": g[1],
                    "经度(GCJ-02 高德)": g[0], "高德链接": present.amap_url(a["lat"], a["lon"], name, mode),
                    "新增覆盖人口(1站)": a.get("gain_1", ""), "新增覆盖人口(2站)": a.get("gain_2", "")})
    for s in removed:
        g = present.datum_coords(s.lat, s.lon)["gcj02"]
        row = present.station_table_row(s)
        row["状态"] = STATUS_ZH["closed"]
        lost = losses.get(s.id, {})
        out.append({QUESTION: q["label_zh"], PLAN_ACTION: "关闭", **row, "纬度(GCJ-02 高德)": g[1],
                    "经度(GCJ-02 高德)": g[0], "高德链接": present.amap_url(s.lat, s.lon, s.name, mode),
                    "新增覆盖人口(1站)": -lost.get("lost_1", 0), "新增覆盖人口(2站)": -lost.get("lost_2", 0)})
    return out


def plan_csv(rows: Sequence[dict[str, Any]]) -> str:
    columns = [QUESTION, PLAN_ACTION, *(zh for zh, _ in present.TABLE_COLUMNS), *PLAN_EXTRA[1:]]
    return records_csv(columns, rows, extrasaction="ignore")


def plan_geojson(rows: Sequence[dict[str, Any]], q: dict[str, Any]) -> dict[str, Any]:
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r["经度"], r["纬度"]]},
              "properties": {k: v for k, v in r.items() if k != QUESTION}} for r in rows]
    return {"type": "FeatureCollection", QUESTION: q, "features": feats}
