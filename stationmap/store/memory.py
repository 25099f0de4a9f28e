"""The in-memory backend: the registry held by this process only, with the GeoPackage backend's semantics.

For tests and demonstrations (`STATIONMAP_STORE=memory`): nothing of the registry reaches the disk and
nothing is shared with other processes (question runners, other web workers). Writes are serialised by
a lock and swap in a whole new snapshot, so a reader sees the old or the new registry, never a mixture.
"""
from __future__ import annotations

import threading
import uuid
from types import MappingProxyType
from typing import Any, Iterable

from ..model import Station
from .base import Change, Item, Journal, RowChange, StationStore, journaled_rows, journaled_update, not_found


class MemoryStore(StationStore):
    """The registry as one (write count, stations, by id) snapshot in memory, replaced whole under a lock."""

    def __init__(self, stations: Iterable[Station] = (), journal: Journal | None = None, name: str = ""):
        ordered = tuple(sorted(stations, key=lambda s: s.id))
        self._snapshot: tuple[int, tuple[Station, ...], dict[str, Station]] = (0, ordered, {s.id: s for s in ordered})
        self._journal = journal
        self._name = name
        self._lock = threading.Lock()
        self._instance = uuid.uuid4().hex[:12]  # versions of two stores never collide

    def describe(self) -> str:
        return "memory (this process only; not kept)" + (f" for {self._name}" if self._name else "")

    def all(self) -> list[Station]:
        return list(self._snapshot[1])

    def get(self, station_id: str) -> Station:
        found = self._snapshot[2].get(station_id)
        if found is None:
            raise not_found(station_id)
        return found

    def version(self) -> str:
        return f"memory:{self._instance}:{self._snapshot[0]}"

    def update(self, change: Change, note: dict[str, Any] | None = None) -> bool:
        with self._lock:
            return journaled_update(self.all(), change, note, self._journal, self._write)

    def change_rows(self, change: RowChange, note: dict[str, Any] | None = None) -> bool:
        with self._lock:
            return journaled_rows(MappingProxyType(self._snapshot[2]), change, note, self._journal, self._write_rows)

    def _write(self, stations: list[Station]) -> None:
        self._snapshot = (self._snapshot[0] + 1, tuple(stations), {s.id: s for s in stations})

    def _write_rows(self, items: list[Item]) -> None:
        by_id = dict(self._snapshot[2])
        for sid, _before, after in items:
            if after is None:
                by_id.pop(sid, None)
            else:
                by_id[sid] = after
        self._write(sorted(by_id.values(), key=lambda s: s.id))
