"""Planning questions: coverage, gaps and suggested sites (computed apart, `questions`), what-if (answered at
once, bounded), and where a job stands (or withdrawing it).

Each answer also comes as CSV (UTF-8 with BOM, opens in Excel) and GeoJSON; files are named after the
question and carry it inside, and every point comes in WGS-84 and GCJ-02 with an Amap link (`plan_files`).

Demand is the modelled population unless the question names a planner's layer (`demand=`): a file sent to
POST /api/demand (checked like an import, `query.demand_files`) or the smart stations' counted visits (GET
/api/demand/visits); either is kept only as long as the answers over it (`query.demand_keep`). Every
population figure says where it comes from: each township and district its source (census, a published
figure, or the model), every answer its demand layer's name and source.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import present
from ..errors import InvalidInput
from ..params import ANSWER_FORMAT, CRS, DEMAND, DEMAND_NAME, GAPS_LIMIT, PERIOD, REACH, SITES
from ..query import demand_files, demand_keep, whatif
from ..query.jobs import Question
from . import plan_files, questions
from .core import Answer, Request, csv_text_answer, geojson_answer, json_answer, no_content
from .routes import TABLE, Body, Reply

if TYPE_CHECKING:
    from .service import Service

route = TABLE.group("api")
DOWNLOADS = ("application/json", "application/geo+json", "text/csv")
POPULATION_NOTE = ("Population is modelled (2020 census district totals spread by a documented model, held to "
                   "published township figures where cited: each township says which), not counted; "
                   "人口为模型估算值（有公开数字的镇街按其数字），非实际统计；每个镇街注明人口来源。")
LAYER_NOTE = ("Demand is the planner's own layer, {name} ({source}): its weights as given, not modelled "
              "population; 需求为规划者自己的图层，{name_zh}（{source}）：按其权重计算，不是模型人口。")
VISITS_DAYS = 90  # the counted visits taken as demand when no period is given
VISITS_NOTE_ZH = ("到访人次记在计数的驿站所在位置：这些需求点都在某个驿站旁边，所以“至少1个驿站”的覆盖率总是满的；"
                  "用它看交叉覆盖（双15）和新站点能分担多少到访。")
VISITS_NOTE = ("Visits sit where the station that counted them stands: every point is next to a station, so 1-station "
               "coverage is always full; use the layer for cross coverage (双15) and for what new sites would share.")
SOURCE_ZH = {"registered": "户籍人口", "resident": "常住人口", "total": "总人口", "census": "普查"}


def _layer(svc: "Service", key: str | None) -> dict[str, Any] | None:
    """A named demand layer's labels and source; NotFound once it is gone (so nothing is queued for it)."""
    return demand_keep.describe(svc.data_dir, key) if key else None


def _note(layer: dict[str, Any] | None) -> str:
    if layer is None:
        return POPULATION_NOTE
    return LAYER_NOTE.format(name=layer["label"], name_zh=layer["label_zh"], source=layer["source"])


def _question(svc: "Service", meta: dict[str, Any], table: dict[str, Any] | None = None,
              layer: dict[str, Any] | None = None) -> dict[str, Any]:
    """The question an answer answers (for names and headers); demand from the answer's table or the named layer."""
    if layer is not None:
        label, modelled = layer["label_zh"], bool(layer["modelled"])
    elif table is None:
        from ..query.demand import DEFAULT_LABEL_ZH

        label, modelled = DEFAULT_LABEL_ZH, True
    else:
        label, modelled = table.get("population_label_zh", ""), bool(table.get("population_modelled"))
    return plan_files.question(meta, label, modelled, plan_files.registry_date(svc.store))


def _ask(svc: "Service", req: Request, kind: str, args: dict[str, Any],
         n: int = 0) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """`questions.answer` over the named demand layer, when there is one: (answer, reach, the layer)."""
    key = args.pop("demand", None)
    layer = _layer(svc, key) if key else None
    return (*questions.answer(svc, req, kind, args, n, key or ""), layer)


_SCOPE: dict[str, Any] = {}  # the last registry version's answer: {"last": (key, answer)}


def _scope(svc: "Service") -> dict[str, Any]:
    """Where population coverage is computed (Jieyang) and how many stations lie beyond every boundary the data
    has, with a note in zh and en whenever the service area is larger than Jieyang or any station lies outside it."""
    from ..geo import geography
    from ..maps.words import words
    from ..query import coverage

    area = geography.service_area()
    key = (id(svc.store), svc.store.version(), area.key)
    last = _SCOPE.get("last")
    if last is not None and last[0] == key:
        return last[1]
    scope = coverage.area_scope(svc.store.all())
    if not area.is_jieyang or scope["stations_outside_boundaries"]:
        args = {"total": f"{scope['stations_total']:,}", "outside": f"{scope['stations_outside_boundaries']:,}",
                "area": scope["service_area_name"], "area_en": scope["service_area_name_en"]}
        scope["note"] = words("en")["pl_area_note"].format(**args)
        scope["note_zh"] = words("zh")["pl_area_note"].format(**args)
    _SCOPE["last"] = (key, {"scope": scope})
    return {"scope": scope}


def source_zh(source: str) -> str:
    """'census 2020' -> 2020年人口普查; 'published 2019 (registered)' -> 公开数字（2019年，户籍人口）; else 模型估算."""
    parts = str(source or "modelled").split()
    if parts[0] == "census":
        return f"{parts[1] if len(parts) > 1 else ''}年人口普查"
    if parts[0] == "published":
        year = parts[1] if len(parts) > 1 and parts[1].isdigit() else "年份不详"
        measure = source.partition("(")[2].rstrip(")")
        return f"公开数字（{year + '年' if year.isdigit() else year}，{SOURCE_ZH.get(measure, measure)}）"
    return "模型估算"


def _sources(table: dict[str, Any], layer: dict[str, Any] | None) -> dict[str, Any]:
    """The coverage table with each township's and district's population source (census, published, model, or
    the planner's layer). A townships layer without `population_source` leaves every township modelled."""
    from ..geo import geography

    if layer is not None:
        zh, en = layer["label_zh"], layer["label"]
        return {**table, "townships": {c: {**t, "population_source": en, "population_source_zh": zh}
                                       for c, t in table["townships"].items()},
                "districts": {c: {**d, "population_source": en, "population_source_zh": zh}
                              for c, d in table["districts"].items()}}
    frame = geography.townships()
    known = frame["population_source"].to_dict() if "population_source" in frame else {}
    years = frame["population_year"].to_dict() if "population_year" in frame else {}
    towns = {}
    for code, t in table["townships"].items():
        source = known.get(code) if isinstance(known.get(code), str) else "modelled"
        year = years.get(code)
        towns[code] = {**t, "population_source": source, "population_source_zh": source_zh(source),
                       "population_year": int(year) if isinstance(year, (int, float)) and year == year else None}
    census = {c: {**d, "population_source": "census 2020 (district total)", "population_source_zh": "2020年人口普查（区县总数）"}
              for c, d in table["districts"].items()}
    return {**table, "townships": towns, "districts": census}


def _source_columns(rows: list[dict[str, Any]], table: dict[str, Any], layer: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The table's rows with each figure's source beside it (the file says where every number comes from)."""
    city = ((layer["label"], layer["label_zh"]) if layer is not None
            else ("census 2020 (district totals)", "2020年人口普查（区县总数）"))
    out = []
    for r in rows:
        entry = table.get(r["level"] + "s", {}).get(r["code"], {}) if r["level"] != "city" else {}
        out.append({**r, "population_source": entry.get("population_source", city[0]),
                    "population_source_zh": entry.get("population_source_zh", city[1])})
    return out


@route.get("/api/coverage", "Share of land and (modelled) population within reach, for the city, each district and "
           "township, and the people short of it in 1 km cells (`cells`, for maps). A question not answered "
           "before is computed apart: 202 with a job to poll, then ask again.",
           (*REACH, DEMAND, ANSWER_FORMAT), tag="planning", media=DOWNLOADS, responses=questions.COSTLY)
def coverage_view(svc: "Service", req: Request, format: str, **args: Any) -> Answer:
    data, meta, layer = _ask(svc, req, "coverage", args)
    table = _sources(data["table"], layer)
    q = _question(svc, meta, table, layer)
    if format == "geojson":
        return geojson_answer({**data["geojson"], "question": q}, plan_files.filename("coverage", q, "geojson"))
    if format == "csv":
        return csv_text_answer(plan_files.rows_csv(_source_columns(present.coverage_rows(table), table, layer), q),
                               plan_files.filename("coverage", q, "csv"))
    return json_answer({**table, **meta, "question": q, "cells": data.get("cells"), "population_note": _note(layer),
                        **_scope(svc)})


@route.get("/api/gaps", "Uncovered demand ranked by the (modelled) people it holds, with location (WGS-84 and "
           "GCJ-02, an Amap link), district and township. Computed with coverage: 202 with a job to poll while "
           "it is new.", (*REACH, DEMAND, GAPS_LIMIT, ANSWER_FORMAT), tag="planning", media=DOWNLOADS,
           responses=questions.COSTLY)
def gaps_view(svc: "Service", req: Request, format: str, limit: int, **args: Any) -> Answer:
    from ..query import coverage

    data, meta, layer = _ask(svc, req, "coverage", args)
    q = _question(svc, meta, data["table"], layer)
    found = [coverage.Gap.from_dict(g) for g in data["gaps"][:limit]]
    rows = [plan_files.with_coords(g.to_dict(), f"缺口 {g.rank}", meta.get("mode")) for g in found]
    if format == "csv":
        return csv_text_answer(plan_files.rows_csv(rows, q, ("rank",)), plan_files.filename("gaps", q, "csv"))
    if format == "geojson":
        doc = present.gaps_geojson(found)
        for feat, row in zip(doc["features"], rows):
            feat["properties"] = {k: v for k, v in row.items() if k not in ("lat", "lon")}
        return geojson_answer({**doc, "question": q}, plan_files.filename("gaps", q, "geojson"))
    return json_answer({**meta, "question": q, "population_note": _note(layer), **_scope(svc), "demand": data["table"].get("demand"),
                        "count": len(found), "gaps": rows})


@route.get("/api/suggest", "n new sites that maximise newly covered (modelled) population, each with its marginal "
           "gain, WGS-84 and GCJ-02 coordinates and an Amap link; the method in plain words (proven optimal, or "
           "within x % of it). Computed apart: 202 with a job to poll while it is new.",
           (SITES, *REACH, DEMAND, ANSWER_FORMAT), tag="planning", media=DOWNLOADS, responses=questions.COSTLY)
def suggest_view(svc: "Service", req: Request, format: str, n: int, **args: Any) -> Answer:
    result, meta, layer = _ask(svc, req, "suggest", args, n)
    q = _question(svc, meta, None, layer)
    q["method_zh"] = result.get("method_zh", "")
    sites = [plan_files.with_coords({"rank": i, **s}, s.get("name") or f"建议站点 {i}", meta.get("mode"))
             for i, s in enumerate(result.get("sites", []), 1)]
    if format == "csv":
        return csv_text_answer(plan_files.rows_csv(sites, q, ("rank",)), plan_files.filename("suggested_sites", q, "csv"))
    if format == "geojson":
        return geojson_answer(plan_files.points_geojson(sites, q), plan_files.filename("suggested_sites", q, "geojson"))
    return json_answer({**result, "sites": sites, **meta, "question": q, "population_note": _note(layer),
                        **_scope(svc)})


WHATIF_BODY = Body(
    f"Sites to add (at most {whatif.MAX_ADD}: [lat, lon] pairs or {{lat, lon, name}} in crs) and station ids to "
    f"remove (at most {whatif.MAX_REMOVE}).",
    {"type": "object", "additionalProperties": False, "properties": {
        "add": {"type": "array", "maxItems": whatif.MAX_ADD, "items": {"oneOf": [
            {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
            {"type": "object", "required": ["lat", "lon"], "properties": {
                "lat": {"type": "number"}, "lon": {"type": "number"}, "name": {"type": "string", "maxLength": 60}}}]}},
        "remove": {"type": "array", "maxItems": whatif.MAX_REMOVE, "items": {"type": "string"}}}})


def _plan_input(body: dict[str, Any]) -> tuple[list[Any], list[str], list[str]]:
    """(points, names, removed ids) from a what-if body; InvalidInput for a wrong shape."""
    add, remove = body.get("add", []), body.get("remove", [])
    unknown = set(body) - {"add", "remove"}
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(sorted(map(str, unknown)))[:80]}; send add and remove")
    if not isinstance(add, list) or not isinstance(remove, list) or not all(isinstance(r, str) for r in remove):
        raise InvalidInput("add must be a list of [lat, lon] pairs and remove a list of station ids")
    if len(add) > whatif.MAX_ADD or len(remove) > whatif.MAX_REMOVE:
        raise InvalidInput(f"at most {whatif.MAX_ADD} added sites and {whatif.MAX_REMOVE} removed stations per what-if")
    names = [str(p.get("name", ""))[:60] if isinstance(p, dict) else "" for p in add]
    points = [{"lat": p.get("lat"), "lon": p.get("lon")} if isinstance(p, dict) else p for p in add]
    return points, names, [r[:64] for r in remove]


@route.post("/api/whatif", "What-if: 1- and 2-station (双15) coverage before and after adding sites and removing "
            "stations, and what each site adds and each closure costs; answered at once (bounded input, from the "
            "registry's per-person station counts; nothing is written). format=csv or geojson gives the plan as a "
            "file `stationmap import --merge` accepts.", (*REACH, CRS, DEMAND, ANSWER_FORMAT), tag="planning",
            media=DOWNLOADS, body=WHATIF_BODY, private=True)
def whatif_view(svc: "Service", req: Request, format: str, crs: str, body: dict[str, Any], demand: str | None = None,
                **args: Any) -> Answer:
    question_, meta = Question.make("coverage", args.get("reach_m"), args.get("minutes"), args.get("mode"),
                                    args.get("min_stations") or 1)
    points, names, remove = _plan_input(body)
    stations = svc.store.all()
    layer = demand_keep.load(svc.data_dir, demand) if demand else None
    delta = whatif.what_if(stations, question_.reach_m, points, remove, demand=layer, crs=crs)
    q = plan_files.question(meta, delta.demand_label_zh, delta.population_modelled,
                            plan_files.registry_date(svc.store))
    added = [{**a, "name": names[i] or plan_files.site_name(i + 1)} for i, a in enumerate(delta.added)]
    by_id = {s.id: s for s in stations}
    removed = [by_id[r] for r in remove]
    if format in ("csv", "geojson"):
        rows = plan_files.plan_rows(added, removed, q, {r["id"]: r for r in delta.removed})
        if format == "csv":
            return csv_text_answer(plan_files.plan_csv(rows), plan_files.filename("plan", q, "csv"))
        return geojson_answer(plan_files.plan_geojson(rows, q), plan_files.filename("plan", q, "geojson"))
    doc = delta.to_dict()
    doc["added"] = [plan_files.with_coords(a, a["name"], meta.get("mode")) for a in added]
    doc["removed"] = [plan_files.with_coords(r, r["name"], meta.get("mode")) for r in doc["removed"]]
    note = _note(layer.meta() if layer is not None else None)
    return json_answer({**doc, **meta, "question": q, "population_note": note}, headers={"Cache-Control": "no-store"})


# -- a planner's own demand ------------------------------------------------------------------------
UPLOAD_BODY = Body(
    f"The demand file itself (at most {demand_files.MAX_BYTES:,} bytes): CSV of points (lat/lon or 纬度/经度, a weight "
    "column such as weight/人数/权重, optionally a datum column 坐标系: wgs84, gcj02, bd09) or GeoJSON of points, "
    "lines or polygons with a weight property.", {"type": "string", "format": "binary"}, media="text/csv", raw=True)


def _layer_json(demand: Any, **extra: Any) -> dict[str, Any]:
    return {"demand": demand.key, **demand.meta(), "kept_hours": demand_keep.KEEP_S / 3600, **extra}


@route.post("/api/demand", "A planner's own demand layer for coverage, gaps, siting and what-if: the file is checked "
            "like a station import (every problem by row or feature, in Chinese and English; a file with any problem "
            "is refused whole and nothing is kept) and answered with its key, to ask the questions with `demand=`. "
            "The layer is kept only as long as the answers over it (a day), never in the registry.",
            (DEMAND_NAME, CRS), tag="planning", body=UPLOAD_BODY, private=True,
            responses=(Reply(200, "The layer: its key, name, source, points and total weight."),
                       Reply(413, "The file is too large.")))
def demand_upload(svc: "Service", req: Request, name: str, crs: str, body: bytes) -> Answer:
    demand = demand_files.read_upload(body, name, crs, req.headers.get("Content-Type") or "")
    demand_keep.save(svc.data_dir, demand)
    return json_answer(_layer_json(demand, available=True), headers={"Cache-Control": "no-store"})


@route.get("/api/demand/visits", "The smart stations' counted visits as a demand layer (one point per station, "
           f"weight = visits; the last {VISITS_DAYS} days unless since/until say otherwise), kept like an uploaded "
           "one; `available: false` with the reason when no station has counted any.", PERIOD, tag="planning",
           private=True)
def demand_visits(svc: "Service", req: Request, since: str | None, until: str | None) -> Answer:
    from datetime import datetime, timedelta

    from ..hours import TZ
    from ..ops import usage

    since = since or (datetime.now(TZ).date() - timedelta(days=VISITS_DAYS)).isoformat()
    rows = usage.demand_rows(svc.telemetry, svc.store, since, until)
    period_zh = f"{since} 起" + (f"至 {until} 前" if until else "至今")
    total = sum(r["weight"] for r in rows)
    demand = demand_files.from_points(
        rows, "visits", f"visits counted by {len(rows)} smart stations ({since} to {until or 'now'}): {total:,} visits",
        f"智能驿站到访人次（{period_zh}，{len(rows)} 个驿站，共 {total:,} 人次）",
        "智能驿站上报的到访计数 · visits reported by smart stations")
    if demand is None:
        return json_answer({"available": False, "since": since, "until": until,
                            "message_zh": f"没有可用的到访计数：{period_zh}还没有智能驿站上报到访人次，仍使用模型估算人口。",
                            "message": f"No counted visits: no smart station reported visits {since} to {until or 'now'}; "
                                       "the modelled population stays."}, headers={"Cache-Control": "no-store"})
    demand_keep.save(svc.data_dir, demand)
    return json_answer(_layer_json(demand, available=True, since=since, until=until, note=VISITS_NOTE,
                                   note_zh=VISITS_NOTE_ZH), headers={"Cache-Control": "no-store"})


@route.get("/api/jobs/{key}", "Where a costly question stands: queued (with its place), running, done or failed. "
           "Once done, ask the question's own address again for the answer.", tag="planning",
           path_params={"key": "The job id from a 202 answer."},
           responses=(Reply(200, "Where the question stands.", schema=questions.JOB_STATUS),))
def job_view(svc: "Service", req: Request, key: str) -> Answer:
    status = svc.jobs.status(key[:64])
    doc = questions.status_json(svc, req, status) | ({"answer_ready": True} if status.state == "done" else {})
    headers = {"Cache-Control": "no-store"}
    if status.state in ("queued", "running"):
        headers["Retry-After"] = str(questions.POLL_S)
    return json_answer(doc, headers=headers)


@route.delete("/api/jobs/{key}", "Withdraw a queued question (only the address that asked it). A question already "
              "running is not stopped (409): its answer is kept for whoever asks next.", tag="planning",
              path_params={"key": "The job id from a 202 answer."}, status=204, private=True,
              responses=(Reply(204, "Withdrawn."), Reply(403, "Another address asked this question."),
                         Reply(409, "The question is running or answered already.")))
def job_cancel(svc: "Service", req: Request, key: str) -> Answer:
    svc.jobs.cancel(key[:64], req.remote_addr or "unknown")
    return no_content()
