"""Rate limits: a moving window per client key and route, counted in this process or in Redis.

Each route has its own count per key (the limits of `limits` syntax, e.g. "300/minute", several joined
by ";"); a request over any of them is refused with 429 and a Retry-After saying when a slot frees up.
Limited answers carry X-RateLimit-Limit, -Remaining and -Reset (epoch seconds). Requests that match no
route and static files are not counted.

In one process the window is exact and costs a deque append: the `limits` in-memory storage starts a
timer thread every 10 ms of traffic to expire its entries, which under load cost more than the answer
it guards. With `redis_url` the `limits` moving window in Redis is used, shared by every worker and machine.

While Redis is away, requests are still served and still limited: each worker counts in its own memory
(so the limits hold per worker, as without Redis), the outage and the return are logged once, and Redis is
asked again every `REDIS_RETRY_S` seconds. Refusing every request because the counter is gone would turn a
Redis outage into a full outage of a public map.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from functools import lru_cache
from typing import Callable, Protocol

from flask import Flask, Request, Response, g, request
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import TooManyRequests

SWEEP_S = 60.0  # how often keys idle for longer than their window are forgotten
REDIS_RETRY_S = 2.0  # while Redis is away, how often a worker tries it again


class Counter(Protocol):
    def hit(self, item: RateLimitItem, key: str) -> tuple[bool, int, float]:
        """Count one request: (allowed, remaining, epoch time the oldest counted request leaves the window)."""


class LocalCounter:
    """An exact moving window per key, in this process (each gunicorn worker counts its own)."""

    def __init__(self) -> None:
        self._hits: dict[str, tuple[float, deque[float]]] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def hit(self, item: RateLimitItem, key: str) -> tuple[bool, int, float]:
        now, span = time.time(), float(item.get_expiry())
        with self._lock:
            if time.monotonic() - self._swept > SWEEP_S:
                self._sweep(now)
            entry = self._hits.get(key)
            if entry is None:
                entry = self._hits[key] = (span, deque())
            times = entry[1]
            while times and times[0] <= now - span:
                times.popleft()
            if len(times) >= item.amount:
                return False, 0, times[0] + span
            times.append(now)
            return True, item.amount - len(times), times[0] + span

    def _sweep(self, now: float) -> None:
        self._swept = time.monotonic()
        for key in [k for k, (span, times) in self._hits.items() if not times or times[-1] <= now - span]:
            del self._hits[key]


class RedisCounter:
    """The `limits` moving window in Redis: one count for every worker and machine; this worker's own count
    while Redis is away."""

    def __init__(self, url: str) -> None:
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        from stationmap.servers import redis_client

        pool = redis_client(url).connection_pool  # the process's one pool for this Redis
        self._limiter = MovingWindowRateLimiter(storage_from_string(url, connection_pool=pool))
        self._local = LocalCounter()
        self._retry_at = 0.0

    def hit(self, item: RateLimitItem, key: str) -> tuple[bool, int, float]:
        from stationmap.servers import OUTAGES, server_away

        if time.monotonic() >= self._retry_at:
            try:
                allowed = self._limiter.hit(item, key)
                stats = self._limiter.get_window_stats(item, key)
            except Exception as exc:
                if server_away(exc) is None:
                    raise
                OUTAGES.down("Redis", "rate limits are counted by each worker alone until it is back", exc)
                self._retry_at = time.monotonic() + REDIS_RETRY_S
            else:
                OUTAGES.up("Redis")
                return allowed, stats.remaining, stats.reset_time
        return self._local.hit(item, key)


@lru_cache(maxsize=64)
def parsed(limit: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limit)) if limit.strip() else ()


def init_app(app: Flask, limit_for: Callable[[str], str], key_for: Callable[[Request], str],
             redis_url: str = "") -> None:
    """Count every routed request (static files aside) against `limit_for(endpoint)` under `key_for(request)`
    and the route. What a route's limits are, and the counter keys less the client's part, are worked out on
    its first request and kept: a request then costs one count per limit."""
    counter: Counter = RedisCounter(redis_url) if redis_url else LocalCounter()
    app.extensions["stationmap_rate_limits"] = counter
    plans: dict[str, tuple[tuple[RateLimitItem, str, str, str], ...]] = {}

    def plan(endpoint: str) -> tuple[tuple[RateLimitItem, str, str, str], ...]:
        """(limit, counter key before and after the client's part, the limit shown) for each limit of a route."""
        found = plans.get(endpoint)
        if found is None:
            items = () if endpoint.rpartition(".")[2] == "static" else parsed(limit_for(endpoint))
            found = plans[endpoint] = tuple((item, *item.key_for("\0", endpoint).split("\0"), str(item.amount))
                                            for item in items)  # the app's or a blueprint's static files: none
        return found

    def check() -> None:
        req = request._get_current_object()  # type: ignore[attr-defined]
        endpoint = req.endpoint
        if not endpoint:
            return
        limits = plan(endpoint)
        if not limits:
            return
        key = key_for(req)
        shown: tuple[str, int, float] | None = None
        for item, before, after, amount in limits:
            allowed, remaining, reset = counter.hit(item, before + key + after)
            if shown is None or remaining < shown[1]:
                shown = (amount, remaining, reset)
            if not allowed:
                g.rate_limit, g.rate_limited = (amount, 0, reset), True
                raise TooManyRequests(str(item))
        g.rate_limit = shown

    def headers(resp: Response) -> Response:
        here = g._get_current_object()  # type: ignore[attr-defined]
        shown = getattr(here, "rate_limit", None)
        if shown is not None:
            amount, remaining, reset = shown
            h = resp.headers  # set only here: added, not searched for
            h.add("X-RateLimit-Limit", amount)
            h.add("X-RateLimit-Remaining", str(remaining))
            h.add("X-RateLimit-Reset", str(math.ceil(reset)))
            if getattr(here, "rate_limited", False):  # not on the app's own answers, whose Retry-After says what they mean
                h["Retry-After"] = str(max(1, math.ceil(reset - time.time())))
        return resp

    app.before_request(check)
    app.after_request(headers)
