"""Costly answers shared through Redis (`redis_url`): an answer computed on one machine is answered at once
by another that shares the registry (PostGIS) and Redis but has its own queue; an edit to the registry asks
afresh; without Redis, or with a Redis that is away, each machine keeps its own, as before.

The real `Jobs` queues (SQLite in their own data directories), the runner's own steps (`_claim`, `_answer`)
and the real Redis and PostGIS servers. Only the computation is replaced by a cheap one that still reads the
registry: computing coverage is the subject of test_coverage.py and test_jobs.py, not of this module, and
would cost seconds.
"""
from __future__ import annotations

import fcntl
from contextlib import contextmanager

import pytest
import redis

from stationmap import config
from stationmap.cache import SharedAnswers
from stationmap.query import jobs
from stationmap.query.jobs import Jobs, Question
from stationmap.store import open_store


def _cheap_compute(question: Question, stations: list, *_args, **_kwargs) -> dict:
    return {"first": sorted(s.id for s in stations)[:3], "count": len(stations), "reach_m": question.reach_m}


@pytest.fixture
def registry(postgis_url, monkeypatch, tmp_path):
    """The PostGIS registry every "machine" shares (each has its own data directory and queue)."""
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", postgis_url)
    monkeypatch.delenv("STATIONMAP_STORE", raising=False)
    monkeypatch.setattr(jobs, "compute", _cheap_compute)
    return open_store(tmp_path / "a")


def _machine(path, redis_url: str = "") -> Jobs:
    path.mkdir(exist_ok=True)
    return Jobs.from_settings(path, config.load_settings({"redis_url": redis_url}))


@contextmanager
def runner_slot(machine: Jobs):
    """Hold the machine's runner slot, so that asking starts no runner process: the test runs its steps."""
    with open(machine.data_dir / "jobs.runner0.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _run_one(machine: Jobs) -> None:
    job = machine._claim(0)
    assert job is not None
    machine._answer(*job)


def test_an_answer_computed_on_one_machine_is_answered_at_once_on_another(registry, redis_server, tmp_path):
    redis.Redis(unix_socket_path=redis_server.removeprefix("redis+unix://")).flushall()
    a, b = _machine(tmp_path / "a", redis_server), _machine(tmp_path / "b", redis_server)
    alone = _machine(tmp_path / "c")
    question, _meta = Question.make("coverage", minutes=15, mode="ebike")
    version = registry.version()
    with runner_slot(a), runner_slot(b), runner_slot(alone):
        assert a.ask(question, version, "10.0.0.1").state == "queued"
        _run_one(a)
        done = a.ask(question, version, "10.0.0.1")
        assert done.state == "done" and done.answer["count"] == 135

        there = b.ask(question, version, "10.0.0.2")  # another machine: its queue never saw the question
        assert there.state == "done" and there.answer == done.answer and b._claim(0) is None
        assert alone.ask(question, version, "10.0.0.3").state == "queued"  # without Redis: its own, as before

        first = registry.all()[0]
        registry.change_rows(lambda cur: {first.id: None}, note={"actor": "test", "action": "delete"})
        edited = registry.version()
        assert edited != version
        assert b.ask(question, edited, "10.0.0.2").state == "queued"  # an edit asks afresh, on every machine
        _run_one(b)
        assert a.ask(question, edited, "10.0.0.1").answer["count"] == 134


def test_a_redis_that_is_away_is_a_miss_and_the_machine_keeps_its_own(registry, tmp_path):
    away = _machine(tmp_path / "a", f"redis+unix://{tmp_path}/no-redis.sock")
    assert SharedAnswers(away.shared.url, 60).get("anything") is None
    question, _meta = Question.make("coverage", reach_m=1000)
    version = registry.version()
    with runner_slot(away):
        assert away.ask(question, version, "10.0.0.1").state == "queued"
        _run_one(away)  # the runner's Redis copy fails quietly; the answer is kept here
        assert away.ask(question, version, "10.0.0.1").answer["count"] == 135
