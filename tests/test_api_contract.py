"""Schemathesis against the running service, driven by its own /api/openapi.json.

The real app serves on a loopback port (a temporary copy of the sample registry, rate limits far above
what the run sends). Schemathesis's runner generates requests for every documented operation, reads and
writes, from the document's examples, its boundary values and random data, once without credentials and
once, for the operations that take one, with the token of an editor of 普宁市 (aimed at one of that
district's stations), and checks every
answer against the document: no 5xx, a documented status, content type and headers, a body matching its
schema; operations that need a token refuse a request without one, and an undeclared method gets 405
with Allow. Examples per operation are bounded so that both runs stay well under a minute.

Schemathesis's pytest integration (`schemathesis.pytest.from_fixture`) does not run under pytest 9, so
its runner (`schemathesis.engine`, what `schemathesis run` uses) is driven from a plain test.
"""
from __future__ import annotations

import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest
import requests
import schemathesis
from schemathesis.engine import Status, StopReason, events, from_schema
from schemathesis.engine.recorder import ScenarioRecorder

from stationmap.ops.accounts import open_accounts
from stationmap.store import open_store

sys.path.insert(0, str(Path(__file__).parent))
from webserver import start  # noqa: E402

PUNING = "445281"
MAX_EXAMPLES = 5
GENEROUS = "100000/minute"
PHASES = ["examples", "coverage", "fuzzing"]
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance", "ignored_auth", "unsupported_method"]
WRITES = ("POST", "PATCH", "PUT", "DELETE")


@pytest.fixture(scope="module")
def served(tmp_path_factory, _registry_template):
    """The app on loopback with a copy of the sample registry and an editor of 普宁市: (server, token, station id)."""
    data = tmp_path_factory.mktemp("contract") / "data"
    shutil.copytree(_registry_template, data)
    accounts = open_accounts(data)
    accounts.add_user("fuzz-editor", "editor", PUNING, password="a long test password")
    token = accounts.issue_token("fuzz-editor")[0]
    station = next(s.id for s in open_store(data).all() if s.district == PUNING)
    server = start({"data_dir": str(data), "rate_limit_public": GENEROUS, "rate_limit_telemetry": GENEROUS,
                    "rate_limit_login": GENEROUS})
    yield server, token, station
    server.stop()


def contract_schema(url: str, token: str | None = None, station: str | None = None):
    """The service's document as schemathesis loads it, set up for a bounded, repeatable run.

    With a token, only the operations that take one are run (the public ones answer the same either way and
    are run without), every request carries it, station ids are `station` (so that edits reach a real
    station), and logout is left out: it would revoke the token for the rest of the run."""
    schema = schemathesis.openapi.from_url(url + "/api/openapi.json", timeout=30)
    if token:
        schema = schema.include(func=lambda ctx: bool(ctx.operation.definition.raw.get("security")))
        schema = schema.exclude(path="/api/auth/logout")
        schema.config.update(headers={"Authorization": f"Bearer {token}"}, parameters={"station_id": station})
    schema.config.update(base_url=url, request_timeout=60)
    schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")
    schema.config.phases.update(phases=PHASES)
    schema.config.checks.update(included_check_names=CHECKS)
    return schema


def _failures(recorder: ScenarioRecorder) -> list[str]:
    """One line per failed check: operation, check, what schemathesis says, and the request that caused it."""
    out = []
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status != Status.FAILURE or check.failure_info is None:
                continue
            case = recorder.cases[case_id].value
            failure = check.failure_info.failure
            out.append(f"{recorder.label}: {check.name}: {failure.title}: {failure.message[:300]!r} "
                       f"(sent {case.method} {case.path} path={case.path_parameters} query={case.query} "
                       f"body={str(case.body)[:120]})")
    return out


def run(schema) -> tuple[list[str], Counter]:
    """Run schemathesis; (failures and errors, answers by (operation, status))."""
    problems: list[str] = []
    answers: Counter = Counter()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            problems += _failures(event.recorder)
            answers.update((event.recorder.label, i.response.status_code)
                           for i in event.recorder.interactions.values() if i.response is not None)
        elif isinstance(event, events.NonFatalError):
            problems.append(f"{event.label}: error: {event.value!r}"[:500])
        elif isinstance(event, events.FatalError):
            problems.append(f"fatal: {event.exception!r}"[:500])
        elif isinstance(event, events.EngineFinished) and event.stop_reason != StopReason.COMPLETED:
            problems.append(f"the run stopped early: {event.stop_reason}")
    return problems, answers


def _writes(answers: Counter) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for (label, status), _ in answers.items():
        if label.split(" ")[0] in WRITES:
            out.setdefault(label, set()).add(status)
    return out


def test_anonymous_callers_get_only_documented_answers(served):
    server, _, _ = served
    problems, answers = run(contract_schema(server.url))
    assert not problems, "\n".join(problems)
    writes = _writes(answers)
    public = ("telemetry", "login", "POST /api/stations/{station_id}/reports",  # a signature, a password, no account
              "POST /api/whatif", "POST /api/demand",  # questions over a sent layer: they write nothing
              "DELETE /api/jobs/{key}",  # a job is withdrawn by its asker
              "POST /s/{station_id}/report")  # the station page's report form, no account as above
    assert len(writes) >= 8 and all(401 in codes for label, codes in writes.items()
                                    if not any(p in label for p in public)), writes


def test_an_editor_gets_only_documented_answers(served):
    server, token, station = served
    problems, answers = run(contract_schema(server.url, token, station))
    assert not problems, "\n".join(problems)
    doc = requests.get(server.url + "/api/openapi.json", timeout=30).json()
    secured = {f"{method.upper()} {path}" for path, ops in doc["paths"].items() for method, op in ops.items()
               if isinstance(op, dict) and op.get("security")} - {"POST /api/auth/logout"}
    assert len(secured) >= 12 and {label for label, _ in answers} == secured, answers
    writes = _writes(answers)
    edit = writes["PATCH /api/stations/{station_id}"] | writes["POST /api/stations/{station_id}/close"]
    assert edit & {409, 428}, writes  # the token works and the edits reach the station (version checks)
