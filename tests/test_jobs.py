"""Costly questions computed apart: snapping, sharing, budgets, the queue's bound, runner crashes."""
from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from stationmap.errors import Busy, InvalidInput, TooManyRequests
from stationmap.model import with_changes
from stationmap.query.coverage import coverage
from stationmap.query.jobs import Jobs, Limits, Question, snap_minutes, snap_reach_m
from stationmap.store import open_store


def wait_done(jobs: Jobs, key: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = jobs.status(key)
        if st.state in ("done", "failed"):
            return st
        time.sleep(0.1)
    raise AssertionError(f"question {key} still {st.state}")


def runner_pids(data_dir) -> list[int]:
    """The runner processes of a data directory (not the shell that started them)."""
    pattern = f"^{sys.executable} -m stationmap.query.jobs run --data-dir {data_dir} "
    return [int(pid) for pid in subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()]


class HeldRunnerSlot:
    """Holds the runner lock as a runner would, so that queued questions stay queued while a test looks."""

    def __init__(self, jobs: Jobs, slot: int = 0):
        self.fh = open(jobs.data_dir / f"jobs.runner{slot}.lock", "a+")

    def __enter__(self):
        fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def test_reaches_snap_to_documented_steps():
    assert snap_minutes(15.2) == 15 and snap_minutes(0.2) == 1
    assert snap_reach_m(2024) == 2000 and snap_reach_m(2026) == 2050 and snap_reach_m(12) == 50
    a, meta = Question.make("coverage", reach_m=2010)
    b, _ = Question.make("coverage", reach_m=1990)
    assert a == b and a.key("v1") == b.key("v1") != a.key("v2") and meta["reach_m"] == 2000
    c, meta = Question.make("coverage", minutes=14.7, mode="ebike")
    assert meta["minutes"] == 15 and c.reach_m == pytest.approx(15 * 60 * 15 / 3.6 / 1.3, abs=1e-3)


def test_answer_computed_apart_equals_the_library(registry_dir):
    store = open_store(registry_dir)
    jobs = Jobs(registry_dir, Limits(idle_exit_s=5))
    q, _ = Question.make("coverage", reach_m=2000)
    first = jobs.ask(q, store.version(), "203.0.113.1")
    assert first.state in ("queued", "running")
    done = wait_done(jobs, first.key)
    assert done.state == "done", done.error
    direct = coverage(store.all(), 2000).to_dict()
    assert done.answer["table"]["city"] == direct["city"]
    assert [f["properties"]["coverage"] for f in done.answer["geojson"]["features"]] == ["covered", "uncovered"]
    # another client asking the same question gets the stored answer, at no cost to its budget
    again = jobs.ask(q, store.version(), "203.0.113.2")
    assert again.state == "done" and again.answer == done.answer
    with sqlite3.connect(jobs.path) as db:
        assert db.execute("SELECT client FROM jobs").fetchall() == [("203.0.113.1",)]
        assert db.execute("SELECT cpu_s FROM jobs").fetchone()[0] > 0  # the runner's CPU time is counted


def test_client_pending_limit_and_queue_bound(registry_dir):
    jobs = Jobs(registry_dir, Limits(queue_max=3, client_pending=2))
    version = open_store(registry_dir).version()
    with HeldRunnerSlot(jobs):
        for reach in (1000, 1050):
            assert jobs.ask(Question.make("coverage", reach_m=reach)[0], version, "a").state == "queued"
        with pytest.raises(TooManyRequests, match="still computing") as refused:
            jobs.ask(Question.make("coverage", reach_m=1100)[0], version, "a")
        assert refused.value.status == 429 and refused.value.retry_after >= 1
        st = jobs.ask(Question.make("coverage", reach_m=1100)[0], version, "b")
        assert st.state == "queued" and st.position == 3
        with pytest.raises(Busy) as full:
            jobs.ask(Question.make("coverage", reach_m=1150)[0], version, "c")
        assert full.value.status == 503
        # a question already waiting is no new cost: asking it again only reports its place
        assert jobs.ask(Question.make("coverage", reach_m=1000)[0], version, "c").position == 1


def test_cpu_budget_per_client(registry_dir):
    jobs = Jobs(registry_dir, Limits(budget_s=0.01, idle_exit_s=5))
    version = open_store(registry_dir).version()
    first = jobs.ask(Question.make("coverage", reach_m=3000)[0], version, "greedy")
    assert wait_done(jobs, first.key).state == "done"
    with pytest.raises(TooManyRequests, match="computing in the last hour") as refused:
        jobs.ask(Question.make("coverage", reach_m=3050)[0], version, "greedy")
    assert 1 <= refused.value.retry_after <= 3600
    assert jobs.ask(Question.make("coverage", reach_m=3000)[0], version, "greedy").state == "done"  # answered: free
    assert jobs.ask(Question.make("coverage", reach_m=3050)[0], version, "modest").state in ("queued", "running")


def test_registry_change_asks_afresh(registry_dir):
    store = open_store(registry_dir)
    q = Question.make("coverage", reach_m=2500)[0]
    before = store.version()
    store.update(lambda old: [with_changes(old[0], status="closed")] + old[1:])
    assert store.version() != before and q.key(store.version()) != q.key(before)


def test_a_killed_runner_is_replaced_and_its_question_answered(registry_dir):
    jobs = Jobs(registry_dir, Limits(idle_exit_s=5))
    version = open_store(registry_dir).version()
    # a runner's first question takes a second or more (it loads the planning libraries and the demand grid):
    # time enough to kill it while it runs
    st = jobs.ask(Question.make("suggest", reach_m=2900, n=3)[0], version, "x")
    deadline = time.monotonic() + 60
    while jobs.status(st.key).state != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pid = runner_pids(registry_dir)[0]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert jobs.status(st.key).state in ("queued", "running")  # polling starts a new runner, which asks again
    done = wait_done(jobs, st.key)
    assert done.state == "done" and len(done.answer["sites"]) == 3


def test_pages_polling_while_a_runner_starts_start_no_second_one(registry_dir):
    """The slot's lock is the service's from the moment it starts a runner, not from when the runner has
    imported enough to take it: status polls in the meantime find the slot taken."""
    jobs = Jobs(registry_dir, Limits(idle_exit_s=3))
    stale = "a registry version that is not the store's"  # refused as soon as a runner takes it: no computing
    st = jobs.ask(Question.make("coverage", reach_m=2350)[0], stale, "x")
    seen: set[int] = set()  # every runner process found while the page keeps polling, until the answer
    deadline = time.monotonic() + 60
    while (status := jobs.status(st.key)).state not in ("done", "failed"):
        seen |= set(runner_pids(registry_dir))
        assert time.monotonic() < deadline
    assert "registry changed" in status.error and len(seen) == 1, seen


def test_a_failed_question_says_so_then_is_asked_again(registry_dir):
    """A failure is reported (not re-queued on every refresh of a waiting page) until RETRY_FAILED_S has passed."""
    jobs = Jobs(registry_dir, Limits(idle_exit_s=5))
    q = Question.make("coverage", reach_m=2200)[0]
    stale = "a registry version that is not the store's"  # the runner refuses it: the registry changed
    failed = wait_done(jobs, jobs.ask(q, stale, "x").key)
    assert failed.state == "failed" and "registry changed" in failed.error and failed.code == 503
    assert jobs.ask(q, stale, "x").state == "failed"
    with sqlite3.connect(jobs.path) as db:
        db.execute("UPDATE jobs SET finished = finished - 120")
    assert jobs.ask(q, stale, "x").state in ("queued", "running")


def test_a_question_that_cannot_be_answered_is_final(registry_dir):
    """A 4xx failure (the library refuses the question) is the answer for this registry: not asked again."""
    jobs = Jobs(registry_dir, Limits(idle_exit_s=5))
    version = open_store(registry_dir).version()
    q = Question.make("suggest", minutes=1, mode="walk", n=5)[0]  # a 62 m reach: too many candidate sites
    failed = wait_done(jobs, jobs.ask(q, version, "x").key)
    assert failed.state == "failed" and 400 <= failed.code < 500 and "candidates" in failed.error
    with sqlite3.connect(jobs.path) as db:
        db.execute("UPDATE jobs SET finished = finished - 3600")
    assert jobs.ask(q, version, "x").state == "failed"


def test_invalid_questions_are_refused_before_snapping():
    for kw in ({"minutes": 0, "mode": "walk"}, {"reach_m": 5}, {"minutes": -3, "mode": "ebike"}):
        with pytest.raises(InvalidInput):
            Question.make("coverage", **kw)
