"""The in-memory backend: the registry held by this process only, with the GeoPackage backend's semantics.

For tests and demonstrations (`STATIONMAP_STORE=memory`): nothing of the registry reaches the disk and
nothing is shared with other processes (question runners, other web workers). Writes are serialised by
a lock and swap in a whole new snapshot, so a reader sees the old or the new registry, never a mixture.
"""
from __future__ import annotations

import threading
import uuid
from typing import Any, Iterable

from ..model import Station
from .base import Change, Journal, StationStore, journaled_update


class MemoryStore(StationStore):
    """The registry as one (write count, stations) snapshot in memory, replaced whole under a lock."""

    def __init__(self, stations: Iterable[Station] = (), journal: Journal | None = None, name: str = ""):
        self._snapshot: tuple[int, tuple[Station, ...]] = (0, tuple(sorted(stations, key=lambda s: s.id)))
        self._journal = journal
        self._name = name
        self._lock = threading.Lock()
        self._instance = uuid.uuid4().hex[:12]  # versions of two stores never collide

    def describe(self) -> str:
        return "memory (this process only; not kept)" + (f" for {self._name}" if self._name else "")

    def all(self) -> list[Station]:
        return list(self._snapshot[1])

    def version(self) -> str:
        return f"memory:{self._instance}:{self._snapshot[0]}"

    def update(self, change: Change, note: dict[str, Any] | None = None) -> bool:
        with self._lock:
            return journaled_update(self.all(), change, note, self._journal, self._write)

    def _write(self, stations: list[Station]) -> None:
        self._snapshot = (self._snapshot[0] + 1, tuple(stations))
