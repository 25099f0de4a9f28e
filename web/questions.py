"""Costly questions for the Flask pages (the planner): `stationmap.api.questions` with this request.

A page calls `answer_all(...)`; `Pending` propagates while a question is new (the planner answers with
a page that reloads itself), and anywhere else it becomes the API's 202 answer.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response

from stationmap.api import questions
from stationmap.api.questions import COSTLY, JOB_STATUS, POLL_S, Pending
from stationmap.query.jobs import Jobs, Status

from . import service
from .api import to_request, to_response

__all__ = ["COSTLY", "JOB_STATUS", "POLL_S", "Pending", "answer", "answer_all", "init_app", "jobs",
           "pending_response", "status_json"]


def init_app(app: Flask) -> None:
    """Open the queue now (not on the first question), and answer an uncaught Pending with 202."""
    app.extensions["stationmap"].jobs  # noqa: B018  (opening creates the queue's tables)
    app.register_error_handler(Pending, pending_response)


def jobs() -> Jobs:
    return service().jobs


def answer(kind: str, args: dict[str, Any], n: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    return questions.answer(service(), to_request(), kind, args, n)


def answer_all(*asked: tuple[str, dict[str, Any], int]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return questions.answer_all(service(), to_request(), *asked)


def status_json(status: Status) -> dict[str, Any]:
    return questions.status_json(service(), to_request(), status)


def pending_response(err: Pending) -> Response:
    return to_response(questions.pending_answer(service(), to_request(), err.status))
