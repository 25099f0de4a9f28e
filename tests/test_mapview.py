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
        block = parts["data"].get("sm-data") or parts["data"]["sm-plan-data"]
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


def test_page_allows_zoom_and_defers_scripts(stations, settings):
    """Folium's viewport tag (user-scalable=no) is dropped; library scripts are deferred and the map script
    waits for them (DOMContentLoaded)."""
    parts = mapview.render_parts(mapview.build_map(stations, basemap="amap", settings=settings))
    assert "user-scalable" not in parts["header"] and "viewport" not in parts["header"]
    tags = re.findall(r"<script[^>]*>", parts["header"])
    assert tags and all(" defer " in t for t in tags), tags
    assert parts["script"].startswith('document.addEventListener("DOMContentLoaded"')


def test_orientation_layer_in_the_basemap_datum(settings):
    """Township cells, seats and district names drawn on Amap are in GCJ-02 (coordTransform, independently)."""
    import coordTransform

    from stationmap.geo import geography

    seats = geography.townships()
    for basemap in ("osm", "amap"):
        o = mapview.orientation(basemap)
        assert len(o["cells"]["features"]) == 87 and len(o["seats"]) == 87 and len(o["districts"]) == 5
        for (lat, lon, name, district), (_code, row) in zip(o["seats"], seats.iterrows()):
            assert name == row["name"] and district == row["district"]
            x, y = row.geometry.x, row.geometry.y
            want = coordTransform.wgs84_to_gcj02(x, y)[::-1] if basemap == "amap" else (y, x)
            assert (lat, lon) == pytest.approx(want, abs=2e-6)
    only = mapview.orientation("osm", "445281")
    assert len(only["cells"]["features"]) == 26 and [d[2] for d in only["districts"]] == ["普宁市"]


def test_page_data_stay_light(stations, settings):
    """Everything the page carries inline (stations, orientation, search index), compressed, is small."""
    import gzip

    from stationmap.query.search import client_index

    parts = mapview.render_parts(mapview.build_map(stations, basemap="amap", settings=settings))
    assert json.loads(parts["data"]["sm-places"]) == client_index()
    inline = "".join(parts["data"].values()) + parts["script"]
    assert len(gzip.compress(inline.encode(), 9)) < 60_000
