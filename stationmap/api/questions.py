"""Costly questions over the API: a stored answer at once, or 202 with where the question stands.

Coverage, gaps and siting are computed by `stationmap.query.jobs` runners, never while a request waits.
A handler calls `answer(svc, req, kind, args)`: it returns the answer's data when it is known, or raises
`Pending`, which the service turns into `202 Accepted` with `Location: /api/jobs/<id>` and `Retry-After`;
the client polls that address and asks its own URL again once the status says `done`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..cache import LruCache
from ..errors import Busy, InvalidInput
from ..query.jobs import RETRY_FAILED_S, Question, Status
from .core import Answer, NotYet, Request, json_answer
from .routes import Reply

if TYPE_CHECKING:
    from .service import Service

POLL_S = 1
JOB_ROUTE = "api.job_view"
_ANSWERS: LruCache[dict[str, Any]] = LruCache(32)  # parsed answers, per process, by question key


class Pending(NotYet):
    """The question is queued or computing: answer 202 with its status."""

    def __init__(self, status: Status):
        super().__init__(status.state)
        self.status = status

    def interim(self, svc: "Service", req: Request) -> Answer:
        return pending_answer(svc, req, self.status)


def answer(svc: "Service", req: Request, kind: str, args: dict[str, Any],
           n: int = 0, demand: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """(answer data, reach description) for a coverage or suggest question, over the modelled population or
    the demand layer kept under `demand`; Pending while it computes."""
    question, meta = Question.make(kind, args.get("reach_m"), args.get("minutes"), args.get("mode"),
                                   args.get("min_stations") or 1, n, demand=demand)
    registry = svc.store.version()
    key = question.key(registry)
    hit = _ANSWERS.get(key)
    if hit is not None:
        return hit, meta
    status = svc.jobs.ask(question, registry, req.remote_addr or "unknown")
    if status.state == "done":
        return _ANSWERS.put(key, status.answer or {}), meta
    if status.state == "failed" and status.code < 500:
        raise InvalidInput(f"this question cannot be answered: {status.error}")
    if status.state == "failed":
        raise Busy(f"the question could not be answered ({status.error}); it is asked again in a minute",
                   retry_after=int(RETRY_FAILED_S))
    raise Pending(status)


def status_json(svc: "Service", req: Request, status: Status) -> dict[str, Any]:
    out = status.to_json()
    out["poll"] = svc.link(req, JOB_ROUTE, key=status.key)
    if status.state in ("queued", "running"):
        out["retry_after_s"] = POLL_S
        out["message"] = ("正在计算，请稍候 · computing" if status.state == "running"
                          else f"排队中，第 {status.position} 位 · queued, position {status.position}")
    return out


def pending_answer(svc: "Service", req: Request, status: Status) -> Answer:
    """202 Accepted: where the question stands, and where to poll."""
    return json_answer(status_json(svc, req, status), 202,
                       headers={"Location": svc.link(req, JOB_ROUTE, key=status.key), "Retry-After": str(POLL_S),
                                "Cache-Control": "no-store"})


# -- what /api/openapi.json says about these answers ---------------------------------------------
JOB_STATUS = {
    "type": "object", "description": "Where a costly question stands (status_json).",
    "required": ["job", "status", "question", "poll"],
    "properties": {"job": {"type": "string"},
                   "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
                   "question": {"type": "object"}, "position": {"type": "integer"}, "error": {"type": "string"},
                   "code": {"type": "integer", "description": "a failure's HTTP status: 4xx final, 5xx retried"},
                   "poll": {"type": "string"}, "retry_after_s": {"type": "number"}, "message": {"type": "string"},
                   "answer_ready": {"type": "boolean"},
                   "progress": {"type": "object", "description": "while a siting question runs: its best plan so "
                                "far (sites, value, proven bound, gap)"}},
}
COSTLY = (
    Reply(202, "Being computed apart: the job's status. Poll Location until it is done, then ask again.",
          ("Location", "Retry-After"), media=("application/json",), schema=JOB_STATUS),
    Reply(429, "Too many requests, or this address has too many questions computing or has used its hourly "
          "computing budget.", ("Retry-After",)),
    Reply(503, "Too many questions are being computed: try again later.", ("Retry-After",)),
)
