"""stationmap.present: the command line and the API give the same nearest answer, field for field."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from stationmap.cli import cli
from stationmap.geo import datums


@pytest.fixture
def client(registry_dir):
    from web import create_app

    return create_app({"data_dir": str(registry_dir)}).test_client()


def cli_json(*args: object, data_dir) -> dict:
    result = CliRunner().invoke(cli, ["nearest", *map(str, args), "--json", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("crs, amenity", [("wgs84", None), ("gcj02", "microwave")])
def test_cli_json_equals_api_nearest(registry_dir, client, crs, amenity):
    lat, lon = datums.from_wgs84(23.55, 116.37, crs)
    args = (lat, lon, "-k", 3, "--crs", crs) + (("--amenity", amenity) if amenity else ())
    from_cli = cli_json(*args, data_dir=registry_dir)
    query = {"lat": lat, "lon": lon, "k": 3, "crs": crs, **({"amenity": amenity} if amenity else {})}
    resp = client.get("/api/nearest", query_string=query)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    from_api = resp.get_json()
    assert from_cli.pop("time") and from_api.pop("time")
    assert from_cli == from_api
    assert from_api["count"] == 3 and from_api["origin"]["crs"] == "wgs84"
    assert {"coords", "nav"} <= set(from_api["results"][0])
