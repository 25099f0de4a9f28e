"""Caches for results the web service asks for again and again: a small thread-safe LRU cache per process,
and answers shared by every worker and machine through Redis (`SharedAnswers`).

Indexes, coverage results and siting answers depend only on their inputs; the planner page and its
downloads ask for the same ones in a row, so the last few are kept.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any, Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class LruCache(Generic[T]):
    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()  # the web service calls from several threads

    def get(self, key: Hashable) -> T | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: T) -> T:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value, or compute it outside the lock (slow work never blocks other keys)."""
        hit = self.get(key)
        return hit if hit is not None else self.put(key, compute())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class KeptDict(Generic[T]):
    """At most `size` values by key, read without a lock; when full, the value put first goes first.

    For pieces read many times on every request (a nearest answer's kept results), where LruCache's lock and
    reordering on each read cost more than rebuilding now and then a piece that was evicted while still in use.
    """

    def __init__(self, size: int):
        self.size = size
        self._items: dict[Hashable, T] = {}
        self._lock = threading.Lock()  # writers only: a dict read needs none
        self.get: Callable[[Hashable], T | None] = self._items.get

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: Hashable, value: T) -> T:
        with self._lock:
            items = self._items
            items[key] = value
            while len(items) > self.size:
                del items[next(iter(items))]
        return value


class SharedAnswers:
    """Answers (JSON-ready data) kept in Redis by key, so that every worker and machine sharing the Redis finds
    an answer any of them computed. A Redis that is away counts as a miss (logged once per outage): callers
    then do what they do without Redis, and the answers come from Redis again once it is back."""

    PREFIX = "stationmap:answer:"

    def __init__(self, url: str, ttl_s: int):
        self.url, self.ttl_s = url, int(ttl_s)

    def get(self, key: str) -> Any | None:
        found = self._call(lambda r: r.get(self.PREFIX + key))
        return json.loads(found) if found else None

    def put(self, key: str, value: Any) -> None:
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        self._call(lambda r: r.set(self.PREFIX + key, data, ex=self.ttl_s))

    def _call(self, op: Callable[[Any], Any]) -> Any:
        from .servers import OUTAGES, redis_client, server_away

        try:
            result = op(redis_client(self.url))
        except Exception as exc:
            if server_away(exc) is None:
                raise
            OUTAGES.down("Redis", "costly answers are kept and found on this machine only until it is back", exc)
            return None
        OUTAGES.up("Redis")
        return result
