"""The servers a scaled-out service shares (PostgreSQL, Redis): their clients, their readiness, their outages.

When either goes away, what needs it answers 503 with Retry-After (`unavailable` names a driver's connection
error as `ServerUnavailable`), never a 500; nothing is kept from a failed connection, so the next request
after the server is back connects afresh (psycopg and redis-py drop a broken connection, and the store
reconnects on its next use). Only connection-level failures count: a driver error about a statement
(a bug, a constraint) stays a 500, as the log should show it.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

from .errors import ServerUnavailable

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 2.0  # a Redis that does not answer within this counts as away
RETRY_AFTER_S = 5  # what a 503 tells the client to wait


@lru_cache(maxsize=8)
def redis_client(url: str) -> "redis.Redis":
    """One client (and connection pool) per URL and process; `redis+unix://` as `limits` spells it is accepted.
    No retries: a Redis that is away is reported at once, and asked again on the next request."""
    import redis

    return redis.Redis.from_url(url.replace("redis+unix://", "unix://", 1), socket_timeout=REDIS_TIMEOUT_S,
                                socket_connect_timeout=REDIS_TIMEOUT_S, retry=None)


_PG_AWAY_STATES = ("08", "57P")  # connection exceptions; the server shutting down or starting up


def _connection_lost(exc: BaseException) -> str | None:
    """The server a driver error of this process's loaded drivers says is unreachable, else None. psycopg's
    OperationalError counts when it has no SQLSTATE (the client lost the connection) or a connection one,
    not for a statement cancelled or a deadlock (also OperationalErrors)."""
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        if isinstance(exc, psycopg.InterfaceError):
            return "PostgreSQL"
        if isinstance(exc, psycopg.OperationalError):
            state = getattr(exc, "sqlstate", None)
            return "PostgreSQL" if state is None or state.startswith(_PG_AWAY_STATES) else None
    redis_ = sys.modules.get("redis")
    if redis_ is not None and isinstance(exc, (redis_.ConnectionError, redis_.TimeoutError)):
        return "Redis"
    return None


def server_away(exc: BaseException) -> str | None:
    """The shared server ("PostgreSQL", "Redis") that `exc`, or what caused it, says is unreachable; else None."""
    if isinstance(exc, ServerUnavailable):
        return "PostgreSQL"  # the store's own: the registry's database
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        server = _connection_lost(cause)
        if server is not None:
            return server
        cause = cause.__cause__ or cause.__context__
    return None


def unavailable(exc: BaseException) -> ServerUnavailable | None:
    """The 503 to answer when `exc` says a shared server is unreachable (logged once per outage); else None."""
    server = server_away(exc)
    if server is None:
        return None
    OUTAGES.down(server, "requests that need it answer 503", exc)
    if isinstance(exc, ServerUnavailable):
        return exc
    return ServerUnavailable(f"the service's {server} server is unreachable; nothing was changed by this request, "
                             "try again shortly", RETRY_AFTER_S)


def check(probe: Callable[[], Any]) -> dict[str, Any]:
    """{"status": "ok"|"down", "ms": round trip, "error": the failure's class when down} of one probe."""
    t0 = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # any failure means not ready; the class is enough to tell them apart
        return {"status": "down", "ms": round((time.perf_counter() - t0) * 1000, 1), "error": exc.__class__.__name__}
    return {"status": "ok", "ms": round((time.perf_counter() - t0) * 1000, 1)}


def ping_redis(url: str) -> None:
    """A PING round trip to the Redis at `url`; raises when it is away."""
    if not redis_client(url).ping():
        raise ConnectionError("Redis did not answer PONG")


class Outages:
    """Logs a server going away once (not on every request) and its return once, per process."""

    def __init__(self) -> None:
        self._down: dict[str, float] = {}
        self._lock = threading.Lock()

    def down(self, server: str, what: str, exc: BaseException) -> None:
        with self._lock:
            first = server not in self._down
            self._down.setdefault(server, time.monotonic())
        if first:
            log.warning("%s is unreachable (%s: %s); %s", server, exc.__class__.__name__, str(exc)[:200], what)

    def up(self, server: str) -> None:
        if server not in self._down:  # the common case, without the lock
            return
        with self._lock:
            since = self._down.pop(server, None)
        if since is not None:
            log.warning("%s is reachable again after %.0f s", server, time.monotonic() - since)


OUTAGES = Outages()
