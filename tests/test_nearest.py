"""Nearest stations: checked against brute-force geographiclib over every point."""
import json
import random
from datetime import datetime

import numpy as np
import pytest
from cli_runner import stationmap
from geographiclib.geodesic import Geodesic

from stationmap import present
from stationmap.errors import InvalidInput
from stationmap.geo import datums
from stationmap.hours import TZ, is_open
from stationmap.query import travel
from stationmap.query.nearest import NearestIndex, nearest
from stationmap.store import load_sample
from stationmap.vocab import amenity_key

G = Geodesic.WGS84


@pytest.fixture(scope="module")
def stations():
    return load_sample()


def brute(lats, lons, lat, lon):
    """(distance, position) to every point by geographiclib, sorted."""
    return sorted((G.Inverse(lat, lon, a, b)["s12"], i) for i, (a, b) in enumerate(zip(lats, lons)))


def clustered(n, seed):
    """Points clustered like towns: a few centres, normal spread of a few km, around Jieyang and beyond."""
    rng = np.random.default_rng(seed)
    centres = np.column_stack((rng.uniform(22.5, 24.5, 12), rng.uniform(115, 117.5, 12)))
    pick = rng.integers(0, 12, n)
    lats = centres[pick, 0] + rng.normal(0, 0.03, n)
    lons = centres[pick, 1] + rng.normal(0, 0.03, n)
    return lats, lons


def test_index_matches_brute_force_on_clustered_points():
    lats, lons = clustered(3000, 1)
    index = NearestIndex(lats, lons)
    rng = random.Random(2)
    for _ in range(25):
        lat, lon = rng.uniform(22.5, 24.5), rng.uniform(115, 117.5)
        ref = brute(lats, lons, lat, lon)
        got = index.query(lat, lon, 5)
        assert len(got) == 5
        for (pos, dist), (ref_d, ref_pos) in zip(got, ref):
            assert abs(dist - ref_d) < 0.1
            if pos != ref_pos:  # only a tie may swap two points
                assert abs(G.Inverse(lat, lon, lats[pos], lons[pos])["s12"] - ref_d) < 1e-6
        assert [d for _, d in got] == sorted(d for _, d in got)


def test_index_ranks_near_ties_on_the_ellipsoid():
    """Points 1000 m + i x 5 cm away at scattered azimuths: a sphere would misorder them; we must not."""
    lat0, lon0 = 23.55, 116.37
    rng = random.Random(3)
    order = list(range(40))
    rng.shuffle(order)
    pts = [G.Direct(lat0, lon0, rng.uniform(0, 360), 1000 + i * 0.05) for i in order]
    index = NearestIndex([p["lat2"] for p in pts], [p["lon2"] for p in pts])
    got = index.query(lat0, lon0, 40)
    assert [order[pos] for pos, _ in got] == list(range(40))
    for pos, dist in got:
        assert abs(dist - (1000 + order[pos] * 0.05)) < 1e-4


def test_index_bearing_and_small_sets():
    index = NearestIndex([23.6, 23.5], [116.3, 116.4])
    hits = index.query_with_bearing(23.55, 116.35, 5)
    assert len(hits) == 2  # k larger than the set: all of them
    for pos, dist, az in hits:
        ref = G.Inverse(23.55, 116.35, [23.6, 23.5][pos], [116.3, 116.4][pos])
        assert abs(dist - ref["s12"]) < 1e-3
        assert abs(az - ref["azi1"] % 360) < 1e-6
    assert NearestIndex([], []).query(23.5, 116.3, 3) == []


@pytest.mark.parametrize("lat, lon, k, words", [
    (23.5, 116.3, 0, ["k", "at least 1"]),
    (23.5, 116.3, "many", ["'many'"]),
    (23.5, 116.3, 2.5, ["2.5"]),
    (95, 116.3, 5, ["latitude", "95", "-90 to 90"]),
    (116.3, 23.5, 5, ["swapped"]),
    (23.5, 190, 5, ["longitude", "190"]),
    ("abc", 116.3, 5, ["latitude", "'abc'", "not a number"]),
    (float("nan"), 116.3, 5, ["nan"]),
])
def test_index_rejects_bad_arguments(lat, lon, k, words):
    """The library checks types and ranges; the max_results bound on k is the entry points' (params.K)."""
    index = NearestIndex([23.5], [116.3])
    with pytest.raises(InvalidInput) as exc:
        index.query(lat, lon, k)
    for w in words:
        assert w in str(exc.value)


def test_nearest_matches_brute_force_with_filters(stations):
    rng = random.Random(4)
    when = datetime(2025, 6, 4, 12, 30, tzinfo=TZ)
    for i in range(15):
        lat, lon = rng.uniform(22.95, 23.75), rng.uniform(115.7, 116.55)
        kw = [{}, {"amenities": ["微波炉"]}, {"kind": "smart"}, {"open_now": True, "when": when},
              {"amenities": ["toilet", "drinking_water"], "kind": "outdoor"}][i % 5]
        got = nearest(stations, lat, lon, k=5, **kw)
        wanted = {amenity_key(a) for a in kw.get("amenities", [])}
        pool = [s for s in stations
                if ("kind" not in kw or s.kind == kw["kind"]) and wanted <= set(s.amenities)
                and (not kw.get("open_now") or is_open(s.hours, when) is True)]
        assert pool
        ref = brute([s.lat for s in pool], [s.lon for s in pool], lat, lon)[:5]
        assert [r.station.id for r in got] == [pool[p].id for _, p in ref]
        for r, (d, _) in zip(got, ref):
            assert abs(r.distance_m - d) < 0.1
            assert r.minutes == pytest.approx(travel.all_minutes(r.distance_m))


def test_gcj02_and_bd09_twins_give_the_same_answer(stations):
    rng = random.Random(5)
    for _ in range(10):
        lat, lon = rng.uniform(23.0, 23.7), rng.uniform(115.8, 116.5)
        ref = nearest(stations, lat, lon, k=5)
        for crs in ("gcj02", "bd09"):
            glat, glon = datums.from_wgs84(lat, lon, crs)
            assert G.Inverse(lat, lon, glat, glon)["s12"] > 400  # the twin really is elsewhere
            got = nearest(stations, glat, glon, k=5, crs=crs)
            assert [r.station.id for r in got] == [r.station.id for r in ref]
            for a, b in zip(got, ref):
                assert abs(a.distance_m - b.distance_m) < 0.5


def test_open_now_only_returns_open_stations(stations):
    night = datetime(2025, 6, 8, 3, 0, tzinfo=TZ)  # a Sunday, 03:00
    got = nearest(stations, 23.55, 116.37, k=50, open_now=True, when=night)
    assert got and all(is_open(r.station.hours, night) is True for r in got)
    assert all(r.open_now for r in got)
    expected = sum(1 for s in stations if s.status == "open" and is_open(s.hours, night) is True)
    assert len(got) == min(50, expected)


@pytest.mark.parametrize("kw, words", [
    ({"amenities": ["jacuzzi"]}, ["'jacuzzi'", "microwave"]),
    ({"crs": "mars"}, ["'mars'", "wgs84"]),
    ({"kind": "castle"}, ["'castle'", "outdoor"]),
    ({"status": "gone"}, ["'gone'", "open"]),
    ({"k": 0}, ["0", "at least 1"]),
])
def test_nearest_rejects_bad_filters(stations, kw, words):
    with pytest.raises(InvalidInput) as exc:
        nearest(stations, 23.55, 116.37, **kw)
    for w in words:
        assert w in str(exc.value)


def test_result_dict_is_json_friendly(stations):
    r = nearest(stations, 23.55, 116.37, k=1)[0]
    d = json.loads(json.dumps(present.nearest_result(r), ensure_ascii=False))
    for key in ("id", "name", "lat", "lon", "distance_m", "bearing_deg", "minutes"):
        assert key in d
    assert set(d["minutes"]) == {"walk", "ebike", "car"}
    ref = G.Inverse(23.55, 116.37, d["lat"], d["lon"])
    assert abs(d["distance_m"] - ref["s12"]) <= 0.06
    assert abs(d["bearing_deg"] - ref["azi1"] % 360) <= 0.06


def invoke(*args, data_dir):
    """`stationmap ARGS` through the real entry point, main(), in this process: (exit code, stdout)."""
    result = stationmap(*args, "--data-dir", data_dir)
    return result.exit_code, result.stdout


def test_cli_nearest_json_and_table(registry_dir):
    code, out = invoke("nearest", "23.55", "116.37", "-k", "3", "--amenity", "microwave", "--json", data_dir=registry_dir)
    assert code == 0
    rows = json.loads(out)["results"]
    assert len(rows) == 3 and all("microwave" in r["amenities"] for r in rows)
    code, out = invoke("nearest", "23.55", "116.37", data_dir=registry_dir)
    assert code == 0 and "示例" in out and " m " in out
    glat, glon = datums.from_wgs84(23.55, 116.37, "gcj02")
    code, out = invoke("nearest", glat, glon, "--crs", "gcj02", "-k", "3", "--amenity", "微波炉", "--json",
                       data_dir=registry_dir)
    assert code == 0
    assert [r["id"] for r in json.loads(out)["results"]] == [r["id"] for r in rows]


def test_cli_bad_arguments_exit_2_with_one_line(registry_dir):
    """Through the real entry point, main(): exit 2 and one `error: ...` line naming the bad value."""
    for args, word in ((("-k", "99"), "99"), ((), "abc"), (("--amenity", "jacuzzi"), "jacuzzi"),
                       (("--crs", "mars"), "mars")):
        lat = "abc" if word == "abc" else "23.55"
        result = stationmap("nearest", lat, "116.37", *args, "--data-dir", registry_dir)
        err = result.stderr
        assert result.exit_code == 2, (args, err)
        assert err.startswith("error: ") and err.strip().count("\n") == 0 and word in err, (args, err)
        assert "Traceback" not in err and result.stdout == ""


def test_k_bound_comes_from_the_settings_table(registry_dir):
    """k's upper bound is the max_results setting, for the API and the CLI alike, raised as well as lowered."""
    from click.testing import CliRunner

    from stationmap.cli import cli
    from web import create_app

    for limit, k, ok in ((80, 60, True), (80, 81, False), (3, 4, False)):
        client = create_app({"data_dir": str(registry_dir), "max_results": limit}).test_client()
        resp = client.get(f"/api/nearest?lat=23.55&lon=116.37&k={k}")
        assert (resp.status_code == 200) is ok, resp.get_json()
        if ok:
            assert resp.get_json()["count"] == k
        run = CliRunner().invoke(cli, ["nearest", "23.55", "116.37", "-k", str(k), "--json", "--data-dir",
                                       str(registry_dir)], env={"STATIONMAP_MAX_RESULTS": str(limit)})
        assert (run.exit_code == 0) is ok, run.output
        if not ok:
            assert f"use 1 to {limit}" in str(run.exception) + run.output


def test_chord_never_exceeds_the_geodesic():
    """The bound the search stops on: the straight chord between two points on the ellipsoid is never
    longer than the geodesic (geographiclib), from metres to across the globe, at every latitude."""
    from stationmap.query.nearest import beyond, ecef

    rng = np.random.default_rng(8)
    lat1, lon1 = rng.uniform(-89, 89, 3000), rng.uniform(-180, 180, 3000)
    scale = 10 ** rng.uniform(0, 7, 3000)  # 1 m to 10,000 km
    az = rng.uniform(0, 360, 3000)
    ends = [G.Direct(a, b, c, s) for a, b, c, s in zip(lat1, lon1, az, scale)]
    lat2, lon2 = np.array([e["lat2"] for e in ends]), np.array([e["lon2"] for e in ends])
    chord = np.linalg.norm(ecef(lat1, lon1) - ecef(lat2, lon2), axis=1)
    geodesic = np.array([G.Inverse(a, b, c, d)["s12"] for a, b, c, d in zip(lat1, lon1, lat2, lon2)])
    assert (chord <= geodesic + 1e-6).all()
    assert not any(beyond(c, g) for c, g in zip(chord, geodesic))  # a chord never proves its own point farther
    assert (geodesic - chord)[scale < 1000].max() < 1e-3  # and nearly equal nearby: few extra candidates


def test_filtered_search_matches_brute_force_when_candidates_are_skipped():
    """Filters that pass few points: the search skips, fetches more, or builds the passing points'
    own index, and still gives what brute force over the passing points gives."""
    from stationmap.model import Station
    from stationmap.query.nearest import StationSet

    lats, lons = clustered(4000, 9)
    rng = np.random.default_rng(10)
    kinds = np.where(rng.random(4000) < 0.005, "smart", "outdoor")  # 0.5 %: beyond what skipping takes
    amen = [("microwave",) if r < 0.3 else () for r in rng.random(4000)]
    stations = [Station(f"s{i:05d}", f"s{i}", str(kinds[i]), "open", float(lats[i]), float(lons[i]), "445202",
                        "445202001", amenities=amen[i]) for i in range(4000)]
    found = StationSet(stations)
    qrng = random.Random(11)
    for i in range(24):
        lat, lon = qrng.uniform(22.5, 24.5), qrng.uniform(115, 117.5)
        kw = [{"kind": "smart"}, {"amenities": ["microwave"]}, {"kind": "smart", "amenities": ["microwave"]}][i % 3]
        got = nearest(found, lat, lon, k=7, **kw)
        pool = [s for s in stations if ("kind" not in kw or s.kind == kw["kind"])
                and set(kw.get("amenities", ())) <= set(s.amenities)]
        ref = brute([s.lat for s in pool], [s.lon for s in pool], lat, lon)[:7]
        assert [r.station.id for r in got] == [pool[p].id for _, p in ref]
        assert max(abs(r.distance_m - d) for r, (d, _) in zip(got, ref)) < 1e-3
        assert [r.station.id for r in got] == [r.station.id for r in nearest(stations, lat, lon, k=7, **kw)]


def test_batch_answers_equal_single_queries_and_brute_force():
    lats, lons = clustered(5000, 12)
    index = NearestIndex(lats, lons)
    rng = np.random.default_rng(13)
    qlat, qlon = rng.uniform(22.5, 24.5, 400), rng.uniform(115, 117.5, 400)
    qlat[:5], qlon[:5] = lats[:5], lons[:5]  # on a point: distance 0
    pos, dist = index.query_many(qlat, qlon, 5)
    assert pos.shape == dist.shape == (400, 5)
    for r in range(400):
        assert [(int(p), float(d)) for p, d in zip(pos[r], dist[r])] == index.query(qlat[r], qlon[r], 5)
    for r in range(0, 400, 40):
        ref = brute(lats, lons, qlat[r], qlon[r])[:5]
        assert pos[r].tolist() == [p for _, p in ref]
        assert np.abs(dist[r] - [d for d, _ in ref]).max() < 1e-3
    small = NearestIndex([23.6, 23.5], [116.3, 116.4])
    p2, d2 = small.query_many([23.55], [116.35], 5)  # k larger than the set: all of them
    assert p2.shape == (1, 2) and sorted(p2[0].tolist()) == [0, 1]
    with pytest.raises(InvalidInput):
        index.query_many([95.0], [116.3], 5)


def test_the_origin_in_both_apps_datums_from_one_step_matches_an_independent_implementation():
    import coordTransform

    rng = random.Random(7)
    for _ in range(50):
        lat, lon = rng.uniform(22.9, 23.8), rng.uniform(115.6, 116.6)
        gcj, bd = datums.to_gcj02_bd09(lat, lon)
        assert gcj == datums.from_wgs84(lat, lon, "gcj02") and bd == datums.from_wgs84(lat, lon, "bd09")
        for got, (ref_lon, ref_lat) in ((gcj, coordTransform.wgs84_to_gcj02(lon, lat)),
                                        (bd, coordTransform.wgs84_to_bd09(lon, lat))):
            assert Geodesic.WGS84.Inverse(*got, ref_lat, ref_lon)["s12"] < 0.001


def test_minutes_of_every_mode_at_once_are_those_of_each_mode():
    for d in (0.0, 1.0, 923.0, 2884.6, 12345.678, 50_000.0):
        assert travel.all_minutes(d) == {m: travel.minutes(d, m) for m in travel.MODES}
    assert travel.minutes(923.0, "walk") == pytest.approx(15.0, abs=0.01)


def test_the_distance_to_the_city_loads_no_table_library():
    """A worker answering nearest questions from outside Jieyang reads the outline without geopandas."""
    import subprocess
    import sys

    code = ("import sys; from stationmap.query.nearest import to_jieyang_m; d = to_jieyang_m(23.0, 117.5); "
            "print(int(d), 'geopandas' in sys.modules)")
    metres, loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout.split()
    assert 80_000 < int(metres) < 110_000 and loaded == "False"  # 117.5E is ~1 degree east of the city's edge
