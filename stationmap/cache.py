"""A small thread-safe LRU cache for results the web service asks for again and again.

Indexes, coverage results and siting answers depend only on their inputs; the planner page and its
downloads ask for the same ones in a row, so the last few are kept.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

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
