"""Siting (maximal covering): gains re-checked with coverage, optimality checked by brute force."""
import csv
import itertools
import json
import random

import numpy as np
import pytest
from cli_runner import stationmap
from geographiclib.geodesic import Geodesic
from oracles import township_by_polygons

from stationmap.errors import InvalidInput
from stationmap.geo import geography
from stationmap.query.coverage import coverage
from stationmap.query.demand import load_demand
from stationmap.query.siting import load_candidates, suggest
from stationmap.store import load_sample

G = Geodesic.WGS84


@pytest.fixture(scope="module")
def stations():
    return load_sample()


def _added(result):
    return [(s.lat, s.lon) for s in result.sites]


@pytest.mark.parametrize("k, reach", [(1, 923.0), (2, 2000.0)])
def test_gains_are_what_coverage_says(stations, k, reach):
    result = suggest(stations, 4, reach, min_stations=k, time_limit_s=1.5)
    assert len(result.sites) == 4
    base = coverage(stations, reach, k).city["covered_population"]
    running = base
    for i, site in enumerate(result.sites, 1):  # each marginal gain, site by site, through coverage()
        now = coverage(stations, reach, k, add=_added(result)[:i]).city["covered_population"]
        assert now - running == pytest.approx(site.gain, abs=1e-6)
        running = now
    assert result.total_gain == pytest.approx(running - base, abs=1e-6)
    assert result.covered_after == pytest.approx(running)
    assert 0 <= result.optimality_gap < 1 and result.upper_bound >= result.model_total - 1e-6
    assert result.method and result.population_modelled
    if k == 2 and result.optimality_gap > 0:  # the answer names the bound it reached and why it is loose
        assert "relaxation" in result.method and "线性松弛" in result.to_dict()["method_zh"]
    for s in result.sites:
        assert township_by_polygons(s.lat, s.lon) == (s.district, s.township)


def _brute_force_best(stations, demand_rows, cands, n, reach, k):
    """Best total over every n-subset, with coverage decided by geographiclib distances."""
    def within(points):
        return [[G.Inverse(la, lo, p[0], p[1])["s12"] <= reach for p in points] for la, lo, _ in demand_rows]

    existing = np.array(within([(s.lat, s.lon) for s in stations]), dtype=int).sum(axis=1)
    reach_c = np.array(within(cands), dtype=int)
    w = np.array([r[2] for r in demand_rows], dtype=float)
    best = 0.0
    for combo in itertools.combinations(range(len(cands)), n):
        total = existing + reach_c[:, combo].sum(axis=1)
        best = max(best, float(w[(existing < k) & (total >= k)].sum()))
    return best


@pytest.mark.parametrize("k", [1, 2])
def test_optimal_on_a_small_problem_by_brute_force(stations, tmp_path, k):
    rng = random.Random(40 + k)
    rows = []
    while len(rows) < 150:
        lat, lon = rng.uniform(23.0, 23.7), rng.uniform(115.8, 116.5)
        if geography.in_jieyang(lat, lon):
            rows.append((lat, lon, rng.randint(1, 100)))
    path = tmp_path / "demand.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([("lat", "lon", "weight"), *rows])
    demand = load_demand(path)
    cands = []
    while len(cands) < 14:  # candidates next to demand points, so that they compete
        lat, lon, _ = rows[rng.randrange(len(rows))]
        lat, lon = lat + rng.uniform(-0.01, 0.01), lon + rng.uniform(-0.01, 0.01)
        if geography.in_jieyang(lat, lon):
            cands.append((lat, lon))
    reach = 6000.0
    result = suggest(stations, 3, reach, min_stations=k, candidates=cands, demand=demand)
    best = _brute_force_best(stations, rows, cands, 3, reach, k)
    assert result.optimality_gap == 0
    assert result.total_gain == pytest.approx(best)
    assert result.total_gain == pytest.approx(sum(s.gain for s in result.sites))


def test_two_stations_with_merged_demand_units_by_brute_force(stations, tmp_path):
    """Clustered demand (units reached by the same candidates are merged): still the exhaustive optimum."""
    rng = random.Random(7)
    rows = []
    while len(rows) < 160:
        lat, lon = rng.uniform(23.2, 23.6), rng.uniform(115.9, 116.4)
        if geography.in_jieyang(lat, lon):
            rows += [(lat + rng.uniform(-3e-4, 3e-4), lon + rng.uniform(-3e-4, 3e-4), rng.randint(1, 50))
                     for _ in range(4)]
    path = tmp_path / "demand.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([("lat", "lon", "weight"), *rows])
    demand = load_demand(path)
    cands = []
    while len(cands) < 13:
        lat, lon, _ = rows[rng.randrange(len(rows))]
        lat, lon = lat + rng.uniform(-0.02, 0.02), lon + rng.uniform(-0.02, 0.02)
        if geography.in_jieyang(lat, lon):
            cands.append((lat, lon))
    reach = 5000.0
    result = suggest(stations, 4, reach, min_stations=2, candidates=cands, demand=demand)
    best = _brute_force_best(stations, rows, cands, 4, reach, 2)
    assert result.optimality_gap == 0
    assert result.total_gain == pytest.approx(best) and best > 0
    assert result.to_dict()["method_zh"].startswith("最优方案，已证明")


def test_merging_demand_units_keeps_every_plans_value():
    """Units with the same candidates and need are summed: every subset of sites keeps its value."""
    import scipy.sparse as sp

    from stationmap.query.siting import _merge, _Problem

    rng = np.random.default_rng(3)
    cols = rng.random((8, 12)) < 0.4
    cols = np.concatenate([cols, cols[:, :6], cols[:, :3]], axis=1)  # repeated units, some with other needs
    need = np.concatenate([rng.integers(1, 3, 12), rng.integers(1, 3, 6), np.ones(3)]).astype(float)
    p = _Problem(sp.csr_matrix(cols.astype(float)), rng.integers(1, 9, cols.shape[1]).astype(float), need, 3)
    merged = _merge(p)
    assert merged.w.size < p.w.size and merged.w.sum() == p.w.sum()
    for size in (1, 2, 3, 4):
        for combo in itertools.combinations(range(8), size):
            assert merged.value(list(combo)) == p.value(list(combo))


def test_candidates_from_a_file_keep_names(stations, tmp_path):
    path = tmp_path / "banks.csv"
    # Each candidate has people within 1500 m that no sample station reaches (checked by brute force).
    path.write_text("名称,纬度,经度\n农商银行榕华支行,23.530,116.345\n邮政储蓄流沙支行,23.290,116.180\n"
                    "惠来加油站,23.040,116.290\n", encoding="utf-8")
    cands = load_candidates(path)
    assert cands.names == ("农商银行榕华支行", "邮政储蓄流沙支行", "惠来加油站")
    result = suggest(stations, 2, 1500, candidates=cands)
    assert {s.name for s in result.sites} <= set(cands.names) and len(result.sites) == 2
    assert result.optimality_gap == 0  # three candidates: every pair is checked


@pytest.mark.parametrize("kw, words", [
    ({"n": 0}, ["0", "at least 1"]),
    ({"n": 2.5}, ["2.5"]),
    ({"n": "ten"}, ["'ten'"]),
    ({"n": 2, "reach_m": 0}, ["0"]),
    ({"n": 2, "min_stations": 5}, ["5"]),
    ({"n": 2, "candidates": [(31.2, 121.5)]}, ["candidate 1", "outside Jieyang"]),
    ({"n": 2, "candidates": []}, ["empty"]),
])
def test_suggest_rejects_bad_arguments(stations, kw, words):
    kw = {"reach_m": 1000, **kw}
    with pytest.raises(InvalidInput) as exc:
        suggest(stations, **kw)
    for w in words:
        assert w in str(exc.value)


def test_to_dict_is_json_friendly(stations):
    d = json.loads(json.dumps(suggest(stations, 2, 1500, time_limit_s=3).to_dict(), ensure_ascii=False))
    for key in ("sites", "total_gain", "method", "optimality_gap", "upper_bound", "population_modelled"):
        assert key in d
    assert {"lat", "lon", "district", "township", "gain"} <= set(d["sites"][0])


def invoke(*args, data_dir):
    """`stationmap ARGS` through the real entry point, main(): (exit code, stdout), or (exit code, stderr) on failure."""
    result = stationmap(*args, "--data-dir", data_dir)
    return result.exit_code, (result.stdout if result.exit_code == 0 else result.stderr)


def test_cli_suggest(registry_dir, tmp_path):
    code, out = invoke("suggest", "3", "--minutes", "15", "--mode", "ebike", "--json", "--time-limit", "4",
                       data_dir=registry_dir)
    assert code == 0
    d = json.loads(out)
    assert len(d["sites"]) == 3 and d["total_gain"] == pytest.approx(sum(s["gain"] for s in d["sites"]), abs=0.5)
    code, out = invoke("suggest", "2", "--reach-m", "1500", data_dir=registry_dir)
    assert code == 0 and "optimality gap" in out and "modelled" in out
    for bad in (("suggest", "0"), ("suggest", "x"), ("suggest", "2", "--candidates", tmp_path / "none.csv")):
        code, message = invoke(*bad, data_dir=registry_dir)
        assert code == 2 and message.startswith("error: ") and "\n" not in message.strip(), message


def test_the_same_question_gets_the_same_answer_and_a_changed_registry_a_new_one():
    """The planner page and its CSV/GeoJSON downloads ask twice; a time-limited solve must not differ."""
    from stationmap.model import make_station
    from stationmap.store import load_sample

    stations = load_sample()
    first = suggest(stations, 3, 2000, 1)
    assert suggest(list(stations), 3, 2000, 1) is first
    moved = [make_station({**stations[0].to_record(), "lat": stations[0].lat + 0.01, "hours": stations[0].hours_osm})] + stations[1:]
    again = suggest(moved, 3, 2000, 1)
    assert again is not first
    assert suggest(stations, 4, 2000, 1) is not first


def test_method_in_plain_chinese():
    from stationmap.query.siting import method_zh

    assert method_zh(0.0, 1200, 500.0).startswith("最优方案，已证明")
    text = method_zh(0.0123, 1200, 500.0)
    assert text.startswith("近似方案，与最优相差不超过 1.3%")  # rounded up: the claim holds
    assert "给定候选点" in method_zh(0.0, 12, None)
    two = method_zh(0.064, 5308, 1000.0, 2)
    assert two.startswith("近似方案，与最优相差不超过 6.4%") and "线性松弛" in two and "半个站点" in two
    assert "线性松弛" not in method_zh(0.064, 5308, 1000.0, 1) and method_zh(0.0, 5308, 1000.0, 2).startswith("最优方案")


def test_progress_reports_valid_bounds_and_real_plans(stations):
    reach, n = 2600.0, 4
    heard = []
    result = suggest(stations, n, reach, min_stations=1, time_limit_s=4, progress=heard.append)
    assert heard and heard[0]["stage"] == "greedy" and all(d["stage_zh"] for d in heard)
    base = coverage(stations, reach, 1).city["covered_population"]
    for doc in heard:
        sites = [(s["lat"], s["lon"]) for s in doc["sites"]]
        assert len(sites) == n and all(geography.in_jieyang(*p) for p in sites)
        # the incumbent's value is what coverage() says its sites add (250 m demand: no summing into cells)
        assert coverage(stations, reach, 1, add=sites).city["covered_population"] - base == pytest.approx(doc["value"])
        assert doc["value"] <= result.model_total + 1e-6  # the answer is at least as good as any plan reported
        if doc["upper_bound"] is not None:  # a bound must hold for the best plan, and the gap say what it is
            assert doc["upper_bound"] >= result.model_total - 1e-6
            assert doc["optimality_gap"] == pytest.approx((doc["upper_bound"] - doc["value"]) / doc["upper_bound"], abs=1e-5)
    assert any(d["upper_bound"] is not None for d in heard)
    json.dumps(heard)


def test_a_running_question_reports_its_best_plan_in_its_status(tmp_path):
    import fcntl

    from stationmap.query.jobs import Jobs, Question

    jobs = Jobs(tmp_path)
    with open(tmp_path / "jobs.runner0.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # holding the runner's slot: the question waits for us
        status = jobs.ask(Question.make("suggest", reach_m=2600, n=2)[0], "v1", "me")
        assert status.state == "queued" and "progress" not in status.to_json()
        key, _, _ = jobs._claim(0)
        assert jobs.status(key).state == "running" and "progress" not in jobs.status(key).to_json()
        news = {"stage": "bound", "value": 12.0, "upper_bound": 13.0, "optimality_gap": 1 / 13,
                "sites": [{"lat": 23.55, "lon": 116.37}]}
        jobs._progress(key, news)
        assert jobs.status(key).to_json()["progress"] == news
