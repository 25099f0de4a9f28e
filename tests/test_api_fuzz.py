"""A schemathesis-style sweep driven by /api/openapi.json: malformed values for every documented parameter.

Nothing a client sends may give a 500; errors under /api and /ogcapi are application/problem+json.
Runs in-process (test client) so that hundreds of requests stay fast.
"""
from __future__ import annotations

import pytest

BAD_VALUES = ("", " ", "abc", "NaN", "nan", "inf", "-inf", "-1", "0", "1e309", "-1e309", "9" * 40, "1.5", "１２",
              "\x00", "%", "%%", "[]", "{}", "1,2", "1,2,3,4,5", "200,100,-200,-100", "'; drop table stations;--",
              "<script>alert(1)</script>", "x" * 3000, "true", "∞", "普宁市", "../../etc/passwd", "\u202e",
              "²", "+-5", "--1", "-", "+", "٣", "1e-300", "0x10", "1_000")
BAD_IDS = ("x", "%00", "..", "a" * 500, "普宁", "<b>", "st-' OR 1=1", "%2F%2F")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from web import create_app

    app = create_app({"data_dir": str(tmp_path_factory.mktemp("fuzz-data")), "rate_limit_public": ""})
    return app.test_client()


@pytest.fixture(scope="module")
def spec(client):
    return client.get("/api/openapi.json").get_json()


def _check(resp, path):
    assert resp.status_code < 500, (path, resp.status_code, resp.get_data(as_text=True)[:300])
    if path.startswith(("/api", "/ogcapi")) and resp.status_code >= 400:
        assert resp.mimetype == "application/problem+json", path


def _fill(path: str, value: str) -> str:
    return path.replace("{station_id}", value).replace("{collection_id}", "stations").replace("{feature_id}", value)


# Where a well-formed request starts an optimisation, a second, always-bad parameter keeps each probe
# cheap: the fuzzed value is still parsed first (declaration order), so a crash on it would still show.
POISON = {"/api/suggest": ("format", "xml"), "/planner": ("lang", "xx")}


def test_every_parameter_with_malformed_values(client, spec):
    sent = 0
    for path, item in spec["paths"].items():
        if "get" not in item:
            continue  # writes: test_admin_api.py and test_api_contract.py
        for param in item["get"]["parameters"]:
            if param["in"] != "query":
                continue
            for value in BAD_VALUES:
                query = {param["name"]: value}
                if path in POISON and param["name"] != POISON[path][0]:
                    query[POISON[path][0]] = POISON[path][1]
                elif path in POISON:
                    continue
                _check(client.get(_fill(path, "st-x"), query_string=query), path)
                sent += 1
    assert sent > 300


def test_malformed_ids_and_paths(client, spec):
    for path, item in spec["paths"].items():
        if "{" in path and "get" in item:
            for bad in BAD_IDS:
                _check(client.get(_fill(path, bad)), path)
    for path in ("/api/nothing", "/api/stations/", "/ogcapi/collections/nope/items", "/api/%ff", "/ogcapi/collections/stations/items/%00"):
        _check(client.get(path), path)


def test_repeated_and_unknown_parameters(client):
    resp = client.get("/api/nearest?lat=23.5&lat=23.6&lon=116.3")
    assert resp.status_code == 400 and "once" in resp.get_json()["detail"]
    resp = client.get("/api/stations?colour=red")
    assert resp.status_code == 400 and "colour" in resp.get_json()["detail"]
    resp = client.delete("/api/nearest", data=b"x" * 10)
    assert resp.status_code == 405 and resp.mimetype == "application/problem+json"
