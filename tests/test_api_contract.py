"""Schemathesis against the running service, driven by its own /api/openapi.json.

The real app serves on a loopback port (temporary copy of the sample registry, rate limits far above
what the run sends); schemathesis generates requests for every documented operation, reads included,
writes too, once without credentials and once with an editor's token, and checks each answer against
the document: no 5xx, a documented status, a documented content type, a body matching its schema,
the documented headers. Examples per operation are bounded so both runs stay well under a minute.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from stationmap.accounts import open_accounts

sys.path.insert(0, str(Path(__file__).parent))
from webserver import start  # noqa: E402

PUNING = "445281"
MAX_EXAMPLES = 8
GENEROUS = "100000/minute"
CONTRACT = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
            response_headers_conformance]


@pytest.fixture(scope="module")
def served(tmp_path_factory, _registry_template):
    """The app on loopback with a copy of the sample registry and an editor of 普宁市; yields (server, token)."""
    data = tmp_path_factory.mktemp("contract") / "data"
    shutil.copytree(_registry_template, data)
    accounts = open_accounts(data)
    accounts.add_user("fuzz-editor", "editor", PUNING, password="a long test password")
    token = accounts.issue_token("fuzz-editor")[0]
    server = start({"data_dir": str(data), "rate_limit_public": GENEROUS, "rate_limit_telemetry": GENEROUS,
                    "rate_limit_login": GENEROUS})
    yield server, token
    server.stop()


@pytest.fixture(scope="module", params=("anonymous", "editor"))
def api(request, served):
    """The service's document as schemathesis loads it, with or without the editor's token on every request."""
    server, token = served
    schema = schemathesis.openapi.from_url(server.url + "/api/openapi.json", timeout=30)
    schema.config.update(base_url=server.url, request_timeout=60,
                         headers={"Authorization": f"Bearer {token}"} if request.param == "editor" else None)
    schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")
    return schema


schema = schemathesis.pytest.from_fixture("api")


@schema.parametrize()
def test_every_operation_keeps_its_contract(case):
    case.call_and_validate(checks=CONTRACT)
