"""Planning questions: coverage, gaps and suggested sites (computed apart, `questions`), what-if (answered at
once, bounded), and where a job stands (or withdrawing it).

Each answer also comes as CSV (UTF-8 with BOM, opens in Excel) and GeoJSON; files are named after the
question and carry it inside, and every point comes in WGS-84 and GCJ-02 with an Amap link (`plan_files`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import present
from ..params import ANSWER_FORMAT, CRS, GAPS_LIMIT, REACH, SITES
from ..query import coverage, whatif
from ..query.jobs import Question
from . import plan_files, questions
from .core import Answer, Request, csv_text_answer, geojson_answer, json_answer, no_content
from .routes import TABLE, Body, Reply

if TYPE_CHECKING:
    from .service import Service

route = TABLE.group("api")
DOWNLOADS = ("application/json", "application/geo+json", "text/csv")
POPULATION_NOTE = ("Population is modelled (2020 census district totals spread by a documented model), "
                   "not counted; 人口为模型估算值，非实际统计。")


def _question(svc: "Service", meta: dict[str, Any], table: dict[str, Any] | None = None) -> dict[str, Any]:
    """The question an answer answers (for names and headers); demand from the answer's table when given."""
    if table is None:
        from ..query.demand import DEFAULT_LABEL_ZH

        label, modelled = DEFAULT_LABEL_ZH, True
    else:
        label, modelled = table.get("population_label_zh", ""), bool(table.get("population_modelled"))
    return plan_files.question(meta, label, modelled, plan_files.registry_date(svc.store))


@route.get("/api/coverage", "Share of land and (modelled) population within reach, for the city, each district and "
           "township, and the people short of it in 1 km cells (`cells`, for maps). A question not answered "
           "before is computed apart: 202 with a job to poll, then ask again.",
           (*REACH, ANSWER_FORMAT), tag="planning", media=DOWNLOADS, responses=questions.COSTLY)
def coverage_view(svc: "Service", req: Request, format: str, **args: Any) -> Answer:
    data, meta = questions.answer(svc, req, "coverage", args)
    q = _question(svc, meta, data["table"])
    if format == "geojson":
        return geojson_answer({**data["geojson"], "question": q}, plan_files.filename("coverage", q, "geojson"))
    if format == "csv":
        return csv_text_answer(plan_files.rows_csv(present.coverage_rows(data["table"]), q),
                               plan_files.filename("coverage", q, "csv"))
    return json_answer({**data["table"], **meta, "question": q, "cells": data.get("cells"),
                        "population_note": POPULATION_NOTE})


@route.get("/api/gaps", "Uncovered demand ranked by the (modelled) people it holds, with location (WGS-84 and "
           "GCJ-02, an Amap link), district and township. Computed with coverage: 202 with a job to poll while "
           "it is new.", (*REACH, GAPS_LIMIT, ANSWER_FORMAT), tag="planning", media=DOWNLOADS,
           responses=questions.COSTLY)
def gaps_view(svc: "Service", req: Request, format: str, limit: int, **args: Any) -> Answer:
    data, meta = questions.answer(svc, req, "coverage", args)
    q = _question(svc, meta, data["table"])
    found = [coverage.Gap.from_dict(g) for g in data["gaps"][:limit]]
    rows = [plan_files.with_coords(g.to_dict(), f"缺口 {g.rank}", meta.get("mode")) for g in found]
    if format == "csv":
        return csv_text_answer(plan_files.rows_csv(rows, q, ("rank",)), plan_files.filename("gaps", q, "csv"))
    if format == "geojson":
        doc = present.gaps_geojson(found)
        for feat, row in zip(doc["features"], rows):
            feat["properties"] = {k: v for k, v in row.items() if k not in ("lat", "lon")}
        return geojson_answer({**doc, "question": q}, plan_files.filename("gaps", q, "geojson"))
    return json_answer({**meta, "question": q, "population_note": POPULATION_NOTE, "count": len(found),
                        "gaps": rows})


@route.get("/api/suggest", "n new sites that maximise newly covered (modelled) population, each with its marginal "
           "gain, WGS-84 and GCJ-02 coordinates and an Amap link; the method in plain words (proven optimal, or "
           "within x % of it). Computed apart: 202 with a job to poll while it is new.",
           (SITES, *REACH, ANSWER_FORMAT), tag="planning", media=DOWNLOADS, responses=questions.COSTLY)
def suggest_view(svc: "Service", req: Request, format: str, n: int, **args: Any) -> Answer:
    result, meta = questions.answer(svc, req, "suggest", args, n)
    q = _question(svc, meta)
    q["method_zh"] = result.get("method_zh", "")
    sites = [plan_files.with_coords({"rank": i, **s}, s.get("name") or f"建议站点 {i}", meta.get("mode"))
             for i, s in enumerate(result.get("sites", []), 1)]
    if format == "csv":
        return csv_text_answer(plan_files.rows_csv(sites, q, ("rank",)), plan_files.filename("suggested_sites", q, "csv"))
    if format == "geojson":
        return geojson_answer(plan_files.points_geojson(sites, q), plan_files.filename("suggested_sites", q, "geojson"))
    return json_answer({**result, "sites": sites, **meta, "question": q, "population_note": POPULATION_NOTE})


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
    from ..errors import InvalidInput

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
            "file `stationmap import --merge` accepts.", (*REACH, CRS, ANSWER_FORMAT), tag="planning",
            media=DOWNLOADS, body=WHATIF_BODY, private=True)
def whatif_view(svc: "Service", req: Request, format: str, crs: str, body: dict[str, Any], **args: Any) -> Answer:
    question_, meta = Question.make("coverage", args.get("reach_m"), args.get("minutes"), args.get("mode"),
                                    args.get("min_stations") or 1)
    points, names, remove = _plan_input(body)
    stations = svc.store.all()
    delta = whatif.what_if(stations, question_.reach_m, points, remove, crs=crs)
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
    return json_answer({**doc, **meta, "question": q, "population_note": POPULATION_NOTE},
                       headers={"Cache-Control": "no-store"})


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
