"""What-if: the fast delta held against coverage recomputed from scratch with the changed station set, the
input bounds, the API route (JSON and the plan file the import accepts), and withdrawing a queued job."""
from __future__ import annotations

import csv
import io
import json

import pytest
from cli_runner import stationmap

from stationmap import config
from stationmap.api import Request, Service
from stationmap.errors import Conflict, Forbidden, InvalidInput
from stationmap.query import whatif
from stationmap.query.coverage import coverage
from stationmap.query.jobs import Jobs, Limits, Question
from stationmap.store import load_sample, open_store

EBIKE_15 = 15 * 60 * 15 / 3.6 / 1.3


@pytest.fixture(scope="module")
def stations():
    return load_sample()


@pytest.mark.parametrize("reach", [900.0, EBIKE_15])
def test_delta_equals_coverage_recomputed(stations, reach):
    add = [(23.30, 116.10), (23.55, 116.37), (23.08, 116.17)]
    remove = [stations[0].id, stations[7].id, stations[40].id]
    got = whatif.what_if(stations, reach, add, remove).to_dict()
    for k in (1, 2):
        before = coverage(stations, reach, k)
        after = coverage(stations, reach, k, add=add, remove=remove)
        level = got["coverage"][str(k)]
        assert level["before"] == pytest.approx(before.city["covered_population"], abs=0.5)
        assert level["after"] == pytest.approx(after.city["covered_population"], abs=0.5)
        assert level["gained"] - level["lost"] == pytest.approx(level["after"] - level["before"], abs=1)
    for i, site in enumerate(got["added"]):  # each site alone, as coverage with that site only
        for k in (1, 2):
            alone = coverage(stations, reach, k, add=[add[i]]).city["covered_population"]
            assert site[f"gain_{k}"] == pytest.approx(alone - coverage(stations, reach, k).city["covered_population"], abs=0.5)
    for i, gone in enumerate(got["removed"]):
        for k in (1, 2):
            without = coverage(stations, reach, k, remove=[remove[i]]).city["covered_population"]
            assert gone[f"lost_{k}"] == pytest.approx(coverage(stations, reach, k).city["covered_population"] - without, abs=0.5)


def test_nothing_changed_is_no_change(stations):
    got = whatif.what_if(stations, EBIKE_15).to_dict()
    assert all(v["change"] == 0 and v["gained"] == 0 for v in got["coverage"].values())


@pytest.mark.parametrize("add, remove, words", [
    ([(23.3, 116.1)] * (whatif.MAX_ADD + 1), [], "at most"),
    ([], ["nope"], "no station"),
    ([(40.0, 116.1)], [], "added site 1"),
    ([("x", 1)], [], "added site 1"),
])
def test_bad_input_is_refused(stations, add, remove, words):
    with pytest.raises(InvalidInput, match=words):
        whatif.what_if(stations, EBIKE_15, add, remove)


@pytest.fixture
def svc(registry_dir) -> Service:
    return Service(config.load_settings({"data_dir": str(registry_dir)}))


def post(svc, target, body):
    return svc.handle(Request.make("POST", target, body=json.dumps(body).encode(),
                                   headers={"Content-Type": "application/json"}))


def test_route_answers_and_exports_an_importable_plan(svc, registry_dir, tmp_path):
    first = svc.store.all()[3]
    body = {"add": [[23.30, 116.10], {"lat": 23.08, "lon": 116.17, "name": "侨园候选"}], "remove": [first.id]}
    got = post(svc, "/api/whatif?minutes=15&mode=ebike&min_stations=2", body)
    assert got.status == 200, got.body
    doc = got.json()
    assert doc["question"]["double15"] and doc["added"][1]["name"] == "侨园候选"
    assert {"lat_gcj02", "lon_gcj02", "amap_url"} <= set(doc["added"][0])
    plan = post(svc, "/api/whatif?minutes=15&mode=ebike&min_stations=2&format=csv", body)
    assert plan.status == 200 and 'filename="plan_ebike15min_2stations_model_' in plan.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(plan.body.decode("utf-8-sig"))))
    assert [r["方案"] for r in rows] == ["新增", "新增", "关闭"] and rows[2]["编号"] == first.id
    path = tmp_path / "plan.csv"
    path.write_bytes(plan.body)
    result = stationmap("import", str(path), "--merge", "--dry-run", "--data-dir", str(registry_dir))
    assert result.exit_code == 0, result.output
    assert "would add 2, update 1, remove 0" in result.output
    geo = post(svc, "/api/whatif?minutes=15&mode=ebike&min_stations=2&format=geojson", body).json()
    assert geo["question"]["min_stations"] == 2 and len(geo["features"]) == 3


@pytest.mark.parametrize("body", [{"add": "x"}, {"add": [], "remove": [1]}, {"other": 1},
                                  {"add": [[23.3, 116.1]] * (whatif.MAX_ADD + 1)}])
def test_route_refuses_bad_bodies(svc, body):
    got = post(svc, "/api/whatif?minutes=15&mode=ebike", body)
    assert got.status == 400 and got.json()["detail"]


def test_only_the_asker_withdraws_a_queued_question(registry_dir):
    from test_jobs import HeldRunnerSlot

    store = open_store(registry_dir)
    jobs = Jobs(registry_dir, Limits(idle_exit_s=5))
    q, _ = Question.make("coverage", reach_m=1250)
    with HeldRunnerSlot(jobs):
        st = jobs.ask(q, store.version(), "203.0.113.1")
        assert st.state == "queued"
        with pytest.raises(Forbidden):
            jobs.cancel(st.key, "203.0.113.2")
        jobs.cancel(st.key, "203.0.113.1")
        from stationmap.errors import NotFound

        with pytest.raises(NotFound):
            jobs.status(st.key)


def test_a_running_question_is_not_withdrawn(registry_dir):
    import sqlite3

    store = open_store(registry_dir)
    from test_jobs import HeldRunnerSlot

    jobs = Jobs(registry_dir, Limits(idle_exit_s=5))
    q, _ = Question.make("coverage", reach_m=1300)
    with HeldRunnerSlot(jobs):
        st = jobs.ask(q, store.version(), "203.0.113.1")
        with sqlite3.connect(jobs.path) as db:
            db.execute("UPDATE jobs SET state = 'running' WHERE key = ?", (st.key,))
        with pytest.raises(Conflict):
            jobs.cancel(st.key, "203.0.113.1")


def test_gap_and_coverage_files_carry_the_question_and_both_datums(svc):
    import time

    import coordTransform

    def answered(target):
        deadline = time.monotonic() + 180
        while True:
            got = svc.handle(Request.make("GET", target))
            if got.status != 202:
                return got
            assert time.monotonic() < deadline
            time.sleep(0.1)

    got = answered("/api/gaps?minutes=15&mode=walk&min_stations=2&limit=5&format=csv")
    assert got.status == 200, got.body
    assert 'filename="gaps_walk15min_2stations_model_' in got.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(got.body.decode("utf-8-sig"))))
    assert list(rows[0])[0] == "question" and "双15" in rows[0]["question"] and "步行15分钟" in rows[0]["question"]
    for r in rows:
        glon, glat = coordTransform.wgs84_to_gcj02(float(r["lon_wgs84"]), float(r["lat_wgs84"]))
        assert abs(glon - float(r["lon_gcj02"])) < 2e-5 and abs(glat - float(r["lat_gcj02"])) < 2e-5
        to = r["amap_url"].split("to=")[1].split(",")[:2]
        assert (float(to[0]), float(to[1])) == (float(r["lon_gcj02"]), float(r["lat_gcj02"])), r["amap_url"]
    geo = answered("/api/coverage?minutes=15&mode=walk&min_stations=2&format=geojson").json()
    assert geo["question"]["double15"] and geo["question"]["registry_date"]
    doc = answered("/api/coverage?minutes=15&mode=walk&min_stations=2").json()
    assert doc["cells"]["cells"] and doc["question"]["label_zh"].startswith("步行15分钟")
