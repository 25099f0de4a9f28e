"""Debian's PostgreSQL 15 with PostGIS 3 and Redis, each started in a temporary directory (unix sockets only,
nothing kept) for the tests and the benchmarks of the scale-out configuration; a test may stop one and start
it again at the same address, as after an outage."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

PG_BIN = "/usr/lib/postgresql/15/bin"
POSTGIS_CONTROL = "/usr/share/postgresql/15/extension/postgis.control"


def have_postgis() -> bool:
    return os.access(f"{PG_BIN}/initdb", os.X_OK) and os.path.exists(POSTGIS_CONTROL)


def redis_exe() -> str | None:
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    return exe if os.access(exe, os.X_OK) else None


class Postgres:
    """A cluster of its own, run as the `postgres` user when we are root (the server refuses root), with a
    `template_postgis` database: `url` (the postgres database's), `url_for(db)`, `new_database()` (a fresh one
    with PostGIS), `stop()`, `start()`."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="stationmap-pg-"))  # not under pytest's root-only directory
        self.data = self.base / "data"
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.url = self.url_for("postgres")
        if self.prefix:
            shutil.chown(self.base, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8",
                  "--locale", "C")
        self.start()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as con:
            con.execute("CREATE DATABASE template_postgis")
        with psycopg.connect(self.url_for("template_postgis"), autocommit=True) as con:
            con.execute("CREATE EXTENSION postgis")

    def url_for(self, db: str) -> str:
        return f"postgresql://postgres@/{db}?host={self.base}&port=5432"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.prefix, f"{PG_BIN}/{tool}", *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.base / "log"), "-w", "-o",
                  f"-k {self.base} -c listen_addresses='' -c fsync=off", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def new_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as con:
            con.execute(f"CREATE DATABASE {name} TEMPLATE template_postgis")
        return self.url_for(name)

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.base, ignore_errors=True)


class Redis:
    """redis-server on a unix socket in `base` (no TCP, nothing saved): `url`, `stop()`, `start()`."""

    def __init__(self, base: Path | None = None):
        self.base = Path(base or tempfile.mkdtemp(prefix="stationmap-redis-"))
        self.sock = self.base / "redis.sock"
        self.url = f"redis+unix://{self.sock}"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        exe = redis_exe()
        assert exe, "no redis-server: run `make redis`"
        self.proc = subprocess.Popen([exe, "--port", "0", "--unixsocket", str(self.sock), "--unixsocketperm", "700",
                                      "--save", "", "--appendonly", "no", "--dir", str(self.base)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 30
        while not self.sock.exists():
            assert self.proc.poll() is None and time.monotonic() < end, "redis-server did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.sock.unlink(missing_ok=True)
