"""stationmap.maps.mapview: basemaps, the GCJ-02 shift of everything drawn on Amap, and no CDN in the pages."""
from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from geographiclib.geodesic import Geodesic
from shapely.geometry import Point

from stationmap import config, present
from stationmap.errors import InvalidInput
from stationmap.geo import datums
from stationmap.maps import mapview
from stationmap.store import load_sample

CDN = re.compile(r"(jsdelivr|cdnjs|bootstrapcdn|unpkg|googleapis|jquery\.com|fontawesome)", re.I)


@pytest.fixture(scope="module")
def settings():
    return config.load_settings()


@pytest.fixture(scope="module")
def stations():
    return load_sample()


def test_tianditu_needs_a_key(settings):
    with pytest.raises(InvalidInput, match="STATIONMAP_TIANDITU_KEY"):
        mapview.check_basemap("tianditu", settings)
    with pytest.raises(InvalidInput, match="unknown basemap"):
        mapview.check_basemap("google", settings)
    keyed = {**settings, "tianditu_key": "abc123"}
    layers = mapview.tile_layers("tianditu", keyed)
    assert len(layers) == 2 and all("tk=abc123" in t.url for t in layers)
    assert "t0.tianditu.gov.cn" in mapview.tile_hosts(keyed)
    assert not any("tianditu" in h for h in mapview.tile_hosts(settings))


def test_amap_shifts_stations_into_gcj02(stations):
    s = stations[0]
    wgs = present.station_record(s, mapview.BASEMAPS["osm"].crs)
    amap = present.station_record(s, mapview.BASEMAPS["amap"].crs)
    assert wgs["p"] == pytest.approx([s.lat, s.lon], abs=1e-6)
    assert amap["p"] == pytest.approx(list(datums.from_wgs84(s.lat, s.lon, "gcj02")), abs=1e-6)
    assert 400 < Geodesic.WGS84.Inverse(*wgs["p"], *amap["p"])["s12"] < 700
    assert present.station_record(s, mapview.BASEMAPS["tianditu"].crs)["p"] == wgs["p"]  # CGCS2000 is within a metre of WGS-84


def test_amap_shifts_district_lines(stations):
    osm = mapview.district_outlines("osm")["features"][0]["geometry"]
    amap = mapview.district_outlines("amap")["features"][0]["geometry"]

    def first_vertex(g):
        coords = g["coordinates"]
        while isinstance(coords[0][0], (list, tuple)):
            coords = coords[0]
        return coords[0]

    lon, lat = first_vertex(osm)
    glat, glon = datums.from_wgs84(lat, lon, "gcj02")
    assert first_vertex(amap) == pytest.approx([glon, glat], abs=2e-6)


@pytest.mark.parametrize("basemap", ["osm", "amap"])
def test_page_loads_only_local_assets(stations, settings, basemap):
    m = mapview.build_map(stations, basemap=basemap, settings=settings, asset_base="/static/")
    parts = mapview.render_parts(m)
    html = parts["header"] + parts["html"] + parts["script"]
    srcs = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert srcs and all(u.startswith("/static/") for u in srcs), srcs
    assert not CDN.search(html)
    assert "StationMap.init(" in parts["script"]
    assert len(re.findall(r'"id":"st-', parts["data"]["sm-data"])) == len(stations)
    assert not any(st.name in parts["script"] for st in stations)  # names travel only in the JSON block


def test_station_text_is_never_evaluated_or_markup(stations, settings):
    """Folium renders macro output again as a Jinja template: station text must never reach it."""
    from stationmap.model import with_changes

    names = ["A{{ 'pw' ~ 'ned' }}B", "C{% if 1 %}D{% endif %}", "</script><script>alert(1)</script>", "E\u2028F`${1}`"]
    hostile = [with_changes(s, name=n) for s, n in zip(stations, names)]
    for m in (mapview.build_map(hostile, basemap="osm", settings=settings),
              mapview.coverage_map(SimpleNamespace(covered=Point(116, 23).buffer(0.01), uncovered=Point(116.1, 23).buffer(0.01)),
                                   hostile, [], [], basemap="osm", settings=settings)):
        parts = mapview.render_parts(m)
        block = next(iter(parts["data"].values()))
        assert "pwned" not in parts["script"] + block and "<" not in block and ">" not in block
        data = json.loads(block)
        assert [r["n"] for r in (data["stations"] if isinstance(data, dict) else data)][:4] == names
        assert not any(n in parts["script"] for n in names)


def test_planner_map_draws_everything_in_the_basemap_datum(stations, settings):
    """Coverage, stations, gaps and suggested sites on the Amap basemap are all shifted into GCJ-02."""
    from types import SimpleNamespace

    from shapely.geometry import Point

    s = stations[0]
    cov = SimpleNamespace(covered=Point(s.lon, s.lat).buffer(0.02), uncovered=Point(116.0, 23.3).buffer(0.02))
    site, gap = {"lat": 23.30, "lon": 116.17, "gain": 1234.0}, {"lat": 23.40, "lon": 116.10}
    for basemap in ("osm", "amap"):
        m = mapview.coverage_map(cov, [s], [gap], [site], basemap=basemap, settings=settings)
        parts = mapview.render_parts(m)
        script = parts["script"]
        for lat, lon in ((site["lat"], site["lon"]), (gap["lat"], gap["lon"])):
            shown = mapview.to_display(lat, lon, basemap)
            assert f"[{shown[0]}, {shown[1]}]" in script, (basemap, lat, lon)
        shown = mapview.to_display(s.lat, s.lon, basemap)
        assert json.loads(parts["data"]["sm-plan-data"])[0]["p"] == [shown[0], shown[1]]
        assert "建议站点 1: +1,234" in script
