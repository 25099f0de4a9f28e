"""Planning questions: coverage, gaps and suggested sites (computed apart, `questions`), and where a job stands.

Each answer also comes as CSV (UTF-8 with BOM, opens in Excel) and GeoJSON.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import present
from ..params import ANSWER_FORMAT, GAPS_LIMIT, REACH, SITES
from ..query import coverage
from . import questions
from .core import Answer, Request, csv_answer, csv_text_answer, geojson_answer, json_answer
from .routes import TABLE, Reply

if TYPE_CHECKING:
    from .service import Service

route = TABLE.group("api")
DOWNLOADS = ("application/json", "application/geo+json", "text/csv")
POPULATION_NOTE = ("Population is modelled (2020 census district totals spread by a documented model), "
                   "not counted; 人口为模型估算值，非实际统计。")


@route.get("/api/coverage", "Share of land and (modelled) population within reach, for the city, each district and "
           "township. A question not answered before is computed apart: 202 with a job to poll, then ask again.",
           (*REACH, ANSWER_FORMAT), tag="planning", media=DOWNLOADS, responses=questions.COSTLY)
def coverage_view(svc: "Service", req: Request, format: str, **args: Any) -> Answer:
    data, meta = questions.answer(svc, req, "coverage", args)
    if format == "geojson":
        return geojson_answer(data["geojson"], "coverage.geojson")
    if format == "csv":
        return csv_answer(present.coverage_rows(data["table"]), "coverage.csv")
    return json_answer({**data["table"], **meta, "population_note": POPULATION_NOTE})


@route.get("/api/gaps", "Uncovered demand ranked by the (modelled) people it holds, with location, district and "
           "township. Computed with coverage: 202 with a job to poll while it is new.",
           (*REACH, GAPS_LIMIT, ANSWER_FORMAT), tag="planning", media=DOWNLOADS, responses=questions.COSTLY)
def gaps_view(svc: "Service", req: Request, format: str, limit: int, **args: Any) -> Answer:
    data, meta = questions.answer(svc, req, "coverage", args)
    found = [coverage.Gap.from_dict(g) for g in data["gaps"][:limit]]
    if format == "csv":
        return csv_text_answer(present.gaps_csv(found), "gaps.csv")
    if format == "geojson":
        return geojson_answer(present.gaps_geojson(found), "gaps.geojson")
    return json_answer({**meta, "population_note": POPULATION_NOTE, "count": len(found),
                        "gaps": [g.to_dict() for g in found]})


@route.get("/api/suggest", "n new sites that maximise newly covered (modelled) population, each with its marginal "
           "gain. Computed apart: 202 with a job to poll while it is new.",
           (SITES, *REACH, ANSWER_FORMAT), tag="planning", media=DOWNLOADS, responses=questions.COSTLY)
def suggest_view(svc: "Service", req: Request, format: str, n: int, **args: Any) -> Answer:
    result, meta = questions.answer(svc, req, "suggest", args, n)
    sites = result.get("sites", [])
    if format == "csv":
        return csv_answer(sites, "suggested_sites.csv")
    if format == "geojson":
        return geojson_answer(present.points_collection(sites), "suggested_sites.geojson")
    return json_answer({**result, **meta, "population_note": POPULATION_NOTE})


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
