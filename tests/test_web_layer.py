"""The web adapter's own work per request and per start: what a worker imports, and how a request reaches
the API layer."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stationmap.api import Fields

ROOT = Path(__file__).resolve().parent.parent
MAP_AND_TABLE_LIBRARIES = ("folium", "branca", "pandas", "geopandas", "scipy", "requests")

SERVE = """
import json, sys
import web
app = web.create_app({"data_dir": sys.argv[1], "rate_limit_public": "1000/minute"})
client = app.test_client()
got = {"nearest": client.get("/api/nearest?lat=23.548&lon=116.372&k=3").status_code}
got["loaded"] = sorted(m for m in sys.argv[2].split(",") if m in sys.modules)
got["map"] = client.get("/map").status_code
got["after_map"] = sorted(m for m in ("folium",) if m in sys.modules)
print(json.dumps(got))
"""


def test_a_worker_answers_nearest_without_the_map_and_table_libraries(registry_dir):
    out = subprocess.run([sys.executable, "-c", SERVE, str(registry_dir), ",".join(MAP_AND_TABLE_LIBRARIES)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["nearest"] == 200
    assert got["loaded"] == []  # imported where first used: the map pages, coverage, the table files
    assert got["map"] == 200 and got["after_map"] == ["folium"]  # and the map page still draws


def test_the_query_reaches_the_api_layer_as_werkzeug_parses_it(registry_dir):
    from flask import request

    from web import create_app
    from web.api import to_request

    app = create_app({"data_dir": str(registry_dir)})
    for query in ("a=1&b=2&a=3", "q=%E6%A6%95%E5%9F%8E&empty=&flag", "bad=%ZZ%E6&plus=a+b&semi=1;2", ""):
        with app.test_request_context(f"/api/search?{query}", headers={"X-One": "1", "If-None-Match": '"t"'}):
            req = to_request()
            assert [(k, req.query.getlist(k)) for k in req.query] == [(k, request.args.getlist(k))
                                                                    for k in request.args], query
            assert req.headers.get("x-one") == "1" and req.headers.get("IF-NONE-MATCH") == '"t"'
            assert sorted(req.headers.keys()) == sorted(request.headers.keys())
            assert req.base_url == request.url_root.rstrip("/")


def test_fields_read_their_pairs_only_when_asked():
    seen: list[str] = []

    def pairs():
        seen.append("read")
        yield from [("Accept", "a"), ("accept", "b"), ("X-N", 3)]

    headers = Fields(pairs(), folded=True)
    assert seen == []
    assert headers.getlist("ACCEPT") == ["a", "b"] and headers.get("x-n") == "3" and seen == ["read"]
    assert headers.peek("missing") is None and "accept" in headers and headers.keys() == ["Accept", "X-N"]
