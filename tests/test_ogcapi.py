"""OGC API – Features through the running app, and GDAL's own OAPIF driver reading it as QGIS would."""
from __future__ import annotations

import pytest
import requests

GEOJSON = "application/geo+json"


def get(server, path, **params):
    resp = requests.get(server.url + path, params=params, timeout=60)
    return resp


def test_landing_conformance_collections(live_server):
    for path in ("/ogcapi", "/ogcapi/"):
        landing = get(live_server, path)
        assert landing.status_code == 200 and not landing.history  # no redirect needed
    rels = {link["rel"]: link["href"] for link in landing.json()["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert requests.get(rels["service-desc"], timeout=30).json()["openapi"].startswith("3.")
    conf = get(live_server, "/ogcapi/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conf
    cols = get(live_server, "/ogcapi/collections").json()["collections"]
    assert [c["id"] for c in cols] == ["stations", "districts", "townships"]
    st = get(live_server, "/ogcapi/collections/stations").json()
    assert st["itemType"] == "feature" and len(st["extent"]["spatial"]["bbox"][0]) == 4
    assert any(link["rel"] == "items" and link["type"] == GEOJSON for link in st["links"])


def test_items_paging_and_links(live_server):
    first = get(live_server, "/ogcapi/collections/stations/items", limit=50)
    assert first.headers["Content-Type"].startswith(GEOJSON)
    body = first.json()
    assert body["numberMatched"] == 135 and body["numberReturned"] == 50 and len(body["features"]) == 50
    links = {link["rel"]: link["href"] for link in body["links"]}
    assert "next" in links and "prev" not in links
    ids = [f["id"] for f in body["features"]]
    while "next" in links:
        body = requests.get(links["next"], timeout=30).json()
        links = {link["rel"]: link["href"] for link in body["links"]}
        ids += [f["id"] for f in body["features"]]
    assert len(ids) == len(set(ids)) == 135
    last = get(live_server, "/ogcapi/collections/stations/items", limit=50, offset=100).json()
    assert last["numberReturned"] == 35 and {link["rel"] for link in last["links"]} >= {"prev", "self", "collection"}


def test_items_bbox_and_single_item(live_server):
    box = "116.3,23.5,116.45,23.6"
    body = get(live_server, "/ogcapi/collections/stations/items", bbox=box).json()
    assert 0 < body["numberMatched"] < 135
    assert all(116.3 <= f["geometry"]["coordinates"][0] <= 116.45 for f in body["features"])
    sid = body["features"][0]["id"]
    one = get(live_server, f"/ogcapi/collections/stations/items/{sid}")
    assert one.status_code == 200 and one.json()["id"] == sid
    assert any(link["rel"] == "collection" for link in one.json()["links"])
    assert get(live_server, "/ogcapi/collections/districts/items/445281").json()["properties"]["name"] == "普宁市"
    assert get(live_server, "/ogcapi/collections/stations/items/nope").status_code == 404
    assert get(live_server, "/ogcapi/collections/nope/items").status_code == 404
    for bad in ({"limit": 0}, {"limit": "x"}, {"offset": -1}, {"bbox": "1,2,3"}, {"f": "html"}):
        resp = get(live_server, "/ogcapi/collections/stations/items", **bad)
        assert resp.status_code == 400 and resp.headers["Content-Type"].startswith("application/problem+json")


GDAL_READ = """
import json, sys
import pyogrio
url = sys.argv[1]
out = {"layers": [str(name) for name, _ in pyogrio.list_layers(url)]}
df = pyogrio.read_dataframe(url, layer="stations")
out["n"] = len(df)
out["columns"] = list(df.columns)
out["x"] = [float(df.geometry.x.min()), float(df.geometry.x.max())]
out["y"] = [float(df.geometry.y.min()), float(df.geometry.y.max())]
out["districts"] = sorted(pyogrio.read_dataframe(url, layer="districts")["name"])
print(json.dumps(out))
"""


def test_gdal_oapif_driver_reads_the_layers(live_server):
    """GDAL reads the service as QGIS does. In a subprocess: pyogrio holds the GIL while GDAL fetches,
    which would starve the in-process server thread."""
    import json
    import subprocess
    import sys

    pyogrio = pytest.importorskip("pyogrio")
    if "OAPIF" not in pyogrio.list_drivers():
        pytest.skip("this GDAL has no OAPIF driver")
    run = subprocess.run([sys.executable, "-c", GDAL_READ, f"OAPIF:{live_server.url}/ogcapi"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert {"stations", "districts", "townships"} <= set(out["layers"])
    assert out["n"] == 135 and "name" in out["columns"]
    assert 115.5 < out["x"][0] < out["x"][1] < 116.7 and 22.8 < out["y"][0] < out["y"][1] < 23.9
    assert out["districts"] == sorted(["榕城区", "揭东区", "揭西县", "惠来县", "普宁市"])
