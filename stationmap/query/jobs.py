"""Costly questions (coverage, gaps, siting) computed apart from the request workers, and their answers kept.

A coverage or siting question at a reach not seen before costs seconds of CPU. The web service never
computes one in a request: it asks `Jobs.ask`, which returns the stored answer at once, or queues the
question and says where it stands. A runner process (`python -m stationmap.query.jobs run`, started on
demand, one per slot of the `job_workers` setting, at lower CPU priority) takes queued questions one
at a time and stores each answer as JSON in `DATA_DIR/jobs.sqlite`, where every gunicorn worker (and
every machine sharing the directory) finds it. So:

* concurrency is bounded (`job_workers` runners) and the queue too (`job_queue_max`);
* each client has a budget: at most `job_client_pending` questions waiting at once and
  `job_budget_s` CPU seconds per hour; a question another client already asked costs nothing;
* reaches are snapped to a documented step (`snap_minutes`, `snap_reach_m`), so answers are reused;
* an answer belongs to one registry version: any change to the stations asks afresh;
* with `redis_url`, every answer is also kept in Redis (`stationmap.cache.SharedAnswers`) under the same
  key, so a worker on another machine (with its own queue) answers a question already answered at once;
  a Redis that is away only means the answers stay this machine's until it is back.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import config
from ..cache import SharedAnswers
from ..errors import Busy, Conflict, Forbidden, InvalidInput, NotFound, StationmapError, TooManyRequests
from . import travel
from .demand_keep import KEEP_S

REACH_STEP_M = 50.0  # straight-line reaches are asked in whole 50 m steps
MINUTE_STEP = 1.0  # and travel times in whole minutes
GAPS_KEPT = 1000  # gaps stored per coverage answer (the API's upper bound for `limit`)
RUNNER_NICE = 10  # runners yield the CPU to the request workers
POLL_IDLE_S = 0.1  # how often an idle runner looks for a queued question (one read on a kept connection)
HOUR_S = 3600.0
RETRY_FAILED_S = 60.0  # a failed question is asked afresh after this long (not on every page refresh)
KEPT_S = KEEP_S  # answers are kept this long after they were computed (in jobs.sqlite and in Redis), as the
# demand layers they may be computed over
RUNNER_SETTINGS = ("store", "database_url", "redis_url")  # what a runner must see as the service does


def snap_minutes(value: float) -> float:
    """Travel minutes in whole steps (at least one step)."""
    return max(MINUTE_STEP, round(float(value) / MINUTE_STEP) * MINUTE_STEP)


def snap_reach_m(value: float) -> float:
    """A straight-line reach in whole 50 m steps (at least one step)."""
    return max(REACH_STEP_M, round(float(value) / REACH_STEP_M) * REACH_STEP_M)


@dataclass(frozen=True)
class Question:
    """What a costly answer depends on (besides the registry): kind, reach, stations required, sites."""

    kind: str  # coverage (also answers gaps) | suggest
    reach_m: float
    min_stations: int = 1
    n: int = 0
    demand: str = ""  # a kept demand layer's key (demand_keep); "" for the modelled population

    @classmethod
    def make(cls, kind: str, reach_m: float | None = None, minutes: float | None = None, mode: str | None = None,
             min_stations: int = 1, n: int = 0, demand: str = "") -> tuple["Question", dict[str, Any]]:
        """The snapped question, and the reach it answers described for the response."""
        reach = travel.resolve_reach(reach_m, minutes, mode)  # the question as asked must be valid
        if minutes is not None:
            minutes = snap_minutes(minutes)
            reach = travel.resolve_reach(None, minutes, mode)
        else:
            reach = snap_reach_m(reach)
        meta = {"reach_m": round(reach, 1), "minutes": minutes, "mode": mode if minutes is not None else None,
                "reach_label": travel.describe_reach(reach, minutes, mode), "min_stations": min_stations,
                "reach_step": f"minutes in steps of {MINUTE_STEP:g}, metres in steps of {REACH_STEP_M:g}"}
        return cls(kind, round(reach, 3), int(min_stations), int(n), demand), meta

    def key(self, registry: str) -> str:
        fields = {k: v for k, v in asdict(self).items() if k != "demand" or v}  # keys as before for the model
        text = json.dumps([fields, registry], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Status:
    """Where a question stands: queued (with its place), running, done (with the answer) or failed."""

    key: str
    state: str
    question: Question
    position: int = 0
    answer: dict[str, Any] | None = None
    error: str = ""
    code: int = 0  # a failed question's HTTP status: 4xx the question cannot be answered, 5xx try again
    progress: dict[str, Any] | None = None  # a running question's best answer so far (siting's incumbent)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"job": self.key, "status": self.state, "question": asdict(self.question)}
        if self.state == "queued":
            out["position"] = self.position
        if self.error:
            out["error"], out["code"] = self.error, self.code
        if self.progress and self.state == "running":
            out["progress"] = self.progress
        return out


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY, question TEXT NOT NULL, registry TEXT NOT NULL, client TEXT NOT NULL,
    state TEXT NOT NULL, created REAL NOT NULL, started REAL, finished REAL, cpu_s REAL DEFAULT 0,
    slot INTEGER, attempts INTEGER DEFAULT 0, answer TEXT, error TEXT, code INTEGER);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created);
CREATE INDEX IF NOT EXISTS jobs_client ON jobs (client, created);
"""


@dataclass(frozen=True)
class Limits:
    workers: int = 1
    queue_max: int = 16
    client_pending: int = 2
    budget_s: float = 120.0
    idle_exit_s: float = 120.0

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> "Limits":
        return cls(settings["job_workers"], settings["job_queue_max"], settings["job_client_pending"],
                   settings["job_budget_s"], settings["job_idle_exit_s"])


class Jobs:
    """The queue and the answers, in one SQLite file beside the registry; the answers in Redis too when shared.

    `runner_env`: environment variables a runner is started with (the service's registry and Redis settings,
    which may have come from somewhere other than this process's environment)."""

    def __init__(self, data_dir: Path | str, limits: Limits = Limits(), shared: SharedAnswers | None = None,
                 runner_env: dict[str, str] | None = None):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / "jobs.sqlite"
        self.limits = limits
        self.shared = shared
        self.runner_env = dict(runner_env or {})
        with closing(self._db()) as db, db:
            db.executescript(_SCHEMA)
            try:  # files made before running questions reported progress
                db.execute("ALTER TABLE jobs ADD COLUMN progress TEXT")
            except sqlite3.OperationalError:
                pass

    @classmethod
    def from_settings(cls, data_dir: Path | str, settings: dict[str, Any]) -> "Jobs":
        """The queue of `data_dir` with the settings' limits, sharing answers through `redis_url` when it is set."""
        shared = SharedAnswers(settings["redis_url"], int(KEPT_S)) if settings["redis_url"] else None
        env = {f"STATIONMAP_{name.upper()}": str(settings[name]) for name in RUNNER_SETTINGS}
        return cls(data_dir, Limits.from_settings(settings), shared, env)

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    # -- asking ------------------------------------------------------------------------------------
    def ask(self, question: Question, registry: str, client: str) -> Status:
        """The answer if it is known; else the question queued (once, whoever asks) and its status.

        A question that cannot be answered (a 4xx failure) says so for as long as the registry stays the
        same; one that failed otherwise says so for `RETRY_FAILED_S` seconds, then is asked again. Refuses with
        429 a client over its budget and with 503 when the queue is full.
        """
        key = question.key(registry)
        if self.shared is not None:
            known = self.shared.get(key)
            if known is not None:
                return Status(key, "done", question, answer=known)
        with closing(self._db()) as db:
            row = db.execute("SELECT state, answer, error, created, code, finished FROM jobs WHERE key = ?",
                             (key,)).fetchone()
            if row is None or row[0] == "failed" and row[4] >= 500 and (row[5] or 0) < time.time() - RETRY_FAILED_S:
                db.execute("BEGIN IMMEDIATE")
                try:
                    self._admit(db, client)
                    db.execute("INSERT OR REPLACE INTO jobs (key, question, registry, client, state, created) "
                               "VALUES (?, ?, ?, ?, 'queued', ?)",
                               (key, json.dumps(asdict(question)), registry, client, time.time()))
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                self.ensure_runners()
                return self.status(key)
            status = self._status(db, key, question, row[:5])
        if status.state == "done" and self.shared is not None:  # computed here before Redis had it
            self.shared.put(key, status.answer)
        return status

    def status(self, key: str) -> Status:
        """A question's status by its key; InvalidInput (404 in the web layer) when unknown."""
        with closing(self._db()) as db:
            row = db.execute("SELECT state, answer, error, created, code, question FROM jobs WHERE key = ?",
                             (key,)).fetchone()
            if row is None:
                raise NotFound(f"no question {key[:40]!r} is known; ask it again at its own address")
            if row[0] in ("queued", "running"):
                self.ensure_runners()
            return self._status(db, key, Question(**json.loads(row[5])), row[:5])

    def _status(self, db: sqlite3.Connection, key: str, question: Question, row: tuple) -> Status:
        state, answer, error, created, code = row
        if state == "done":
            return Status(key, state, question, answer=json.loads(answer))
        if state == "running":
            got = db.execute("SELECT progress FROM jobs WHERE key = ?", (key,)).fetchone()
            return Status(key, state, question, progress=json.loads(got[0]) if got and got[0] else None)
        position = 0
        if state == "queued":
            position = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND created <= ?",
                                  (created,)).fetchone()[0]
        return Status(key, state, question, position=position, error=error or "", code=code or 0)

    def cancel(self, key: str, client: str) -> None:
        """Withdraw a queued question, for the client that asked it; NotFound if unknown, Conflict once it runs
        (a running computation is not stopped: its answer is kept for whoever asks next)."""
        with closing(self._db()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT state, client FROM jobs WHERE key = ?", (key,)).fetchone()
                if row is None:
                    raise NotFound(f"no question {key[:40]!r} is known")
                if row[1] != client:
                    raise Forbidden("only the address that asked a question can withdraw it; stop polling instead")
                if row[0] != "queued":
                    raise Conflict(f"the question is {row[0]}, not queued: it is not withdrawn (stop polling; "
                                   "its answer is kept for the next asker)")
                db.execute("DELETE FROM jobs WHERE key = ? AND state = 'queued'", (key,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _admit(self, db: sqlite3.Connection, client: str) -> None:
        """The queue's bound and the client's budget, checked inside the enqueueing transaction."""
        lim = self.limits
        waiting = db.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')").fetchone()[0]
        if waiting >= lim.queue_max:
            raise Busy(f"{waiting} questions are being computed; try again in a minute "
                       "(answers already computed are served at once)", retry_after=30)
        mine = db.execute("SELECT COUNT(*) FROM jobs WHERE client = ? AND state IN ('queued', 'running')",
                          (client,)).fetchone()[0]
        if mine >= lim.client_pending:
            raise TooManyRequests(f"you have {mine} questions still computing; wait for them to finish "
                                  f"(at most {lim.client_pending} at once)", retry_after=5)
        since = time.time() - HOUR_S
        used = db.execute("SELECT COALESCE(SUM(cpu_s), 0), MIN(created) FROM jobs WHERE client = ? AND created > ?",
                          (client, since)).fetchone()
        if used[0] >= lim.budget_s:
            wait = int(max(1, used[1] + HOUR_S - time.time())) if used[1] else 60
            raise TooManyRequests(f"your new questions used {used[0]:.0f} s of computing in the last hour "
                                  f"(at most {lim.budget_s:g} s); answers already computed are still served, "
                                  f"new ones again in {wait} s", retry_after=wait)

    # -- runners -----------------------------------------------------------------------------------
    def _lock_path(self, slot: int) -> Path:
        return self.data_dir / f"jobs.runner{slot}.lock"

    def ensure_runners(self) -> int:
        """Start a runner for each free slot while questions wait; returns how many were started.

        The slot's lock is taken here and handed to the runner as an open descriptor, so that requests
        arriving while it starts up see the slot taken and start no second runner."""
        started = 0
        for slot in range(max(1, self.limits.workers)):
            with open(self._lock_path(slot), "a+") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a runner has this slot
                runner = shlex.join([sys.executable, "-m", "stationmap.query.jobs", "run", "--data-dir",
                                     str(self.data_dir), "--slot", str(slot), "--idle-exit-s",
                                     str(self.limits.idle_exit_s), "--lock-fd", str(lock.fileno())])
                # through a shell that exits at once: the runner is nobody's child, so it never lingers as a
                # zombie; the lock stays held by the runner's copy of the descriptor once ours is closed
                subprocess.run(["/bin/sh", "-c", runner + " >/dev/null 2>&1 </dev/null &"], check=True,
                               start_new_session=True, pass_fds=(lock.fileno(),),
                               env={**os.environ, **self.runner_env})
            started += 1
        return started

    def run(self, slot: int, idle_exit_s: float, lock_fd: int | None = None) -> None:
        """Take queued questions one at a time until none has come for `idle_exit_s` seconds (`lock_fd`: the
        slot's lock as taken by `ensure_runners`)."""
        if lock_fd is not None:
            os.set_inheritable(lock_fd, False)  # a solver it starts must not keep the slot if the runner dies
        lock = os.fdopen(lock_fd, "a+") if lock_fd is not None else open(self._lock_path(slot), "a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another runner has this slot
        os.nice(RUNNER_NICE)
        self._requeue_abandoned(slot)
        idle_since = time.monotonic()
        with closing(self._db()) as watch:  # a read on a kept connection while idle: no write lock taken
            while time.monotonic() - idle_since < idle_exit_s:
                waiting = watch.execute("SELECT 1 FROM jobs WHERE state = 'queued' LIMIT 1").fetchone()
                job = self._claim(slot) if waiting else None
                if job is None:
                    time.sleep(POLL_IDLE_S)
                    continue
                self._answer(*job)
                idle_since = time.monotonic()

    def _requeue_abandoned(self, slot: int) -> None:
        """A runner of this slot died mid-question (we hold its lock now): ask once more, then give up."""
        with closing(self._db()) as db:
            db.execute("UPDATE jobs SET state = 'queued', attempts = attempts + 1 "
                       "WHERE state = 'running' AND slot = ? AND attempts < 1", (slot,))
            db.execute("UPDATE jobs SET state = 'failed', error = 'the computation stopped twice; ask again' "
                       "WHERE state = 'running' AND slot = ?", (slot,))
            db.execute("DELETE FROM jobs WHERE state IN ('done', 'failed') AND finished < ?",
                       (time.time() - KEPT_S,))

    def _claim(self, slot: int) -> tuple[str, Question, str] | None:
        with closing(self._db()) as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT key, question, registry FROM jobs WHERE state = 'queued' "
                             "ORDER BY created LIMIT 1").fetchone()
            if row:
                db.execute("UPDATE jobs SET state = 'running', started = ?, slot = ? WHERE key = ?",
                           (time.time(), slot, row[0]))
            db.execute("COMMIT")
        return (row[0], Question(**json.loads(row[1])), row[2]) if row else None

    def _answer(self, key: str, question: Question, registry: str) -> None:
        from ..store import open_store

        t0 = time.process_time()
        try:
            store = open_store(self.data_dir)
            if store.version() != registry:
                raise Busy("the registry changed while the question waited; ask again", retry_after=1)
            data = compute(question, store.all(), self.data_dir, lambda doc: self._progress(key, doc))
            answer, state, error, code = json.dumps(data, ensure_ascii=False), "done", None, None
        except StationmapError as exc:  # reported to whoever asks or polls
            answer, state, error, code = None, "failed", str(exc)[:500], exc.status
        except Exception as exc:
            answer, state, error, code = None, "failed", f"the computation failed ({exc.__class__.__name__})", 500
        with closing(self._db()) as db:
            db.execute("UPDATE jobs SET state = ?, answer = ?, error = ?, code = ?, finished = ?, cpu_s = ? "
                       "WHERE key = ?", (state, answer, error, code, time.time(), time.process_time() - t0, key))
        if state == "done" and self.shared is not None:  # for the workers of every machine
            self.shared.put(key, data)

    def _progress(self, key: str, doc: dict[str, Any]) -> None:
        """A running question's best answer so far, for whoever polls its status."""
        with closing(self._db()) as db:
            db.execute("UPDATE jobs SET progress = ? WHERE key = ? AND state = 'running'",
                       (json.dumps(doc, ensure_ascii=False), key))


def compute(question: Question, stations: list, data_dir: Path | str | None = None,
            progress: Any = None) -> dict[str, Any]:
    """The answer to a question as JSON-ready data (what the web layer shapes into each format), over the
    kept demand layer the question names (`demand_keep`) or the modelled population; `progress(doc)` hears
    siting's best plan so far."""
    demand = None
    if question.demand:
        from .demand_keep import load

        demand = load(data_dir or ".", question.demand)
    if question.kind == "coverage":
        from .coverage import coverage

        cov = coverage(stations, question.reach_m, min_stations=question.min_stations, demand=demand)
        return {"table": cov.to_dict(), "geojson": cov.to_geojson(), "cells": cov.uncovered_cells(),
                "gaps": [g.to_dict(geometry=True) for g in cov.gaps(GAPS_KEPT)]}
    if question.kind == "suggest":
        from .siting import suggest

        return suggest(stations, question.n, question.reach_m, min_stations=question.min_stations, demand=demand,
                       progress=progress).to_dict()
    raise InvalidInput(f"unknown question kind {question.kind!r}")


def main(argv: list[str] | None = None) -> None:
    """`python -m stationmap.query.jobs run --data-dir DIR --slot N`: one runner (started by the service)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m stationmap.query.jobs")
    p.add_argument("command", choices=["run"])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--slot", type=int, default=0)
    p.add_argument("--idle-exit-s", type=float, default=Limits.idle_exit_s)
    p.add_argument("--lock-fd", type=int, help="the slot's lock, already taken by the service that started us")
    args = p.parse_args(argv)
    Jobs.from_settings(args.data_dir, config.load_settings()).run(args.slot, args.idle_exit_s, args.lock_fd)


if __name__ == "__main__":
    main()
