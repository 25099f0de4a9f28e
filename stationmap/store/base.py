"""What callers may do with a station registry, whatever keeps it.

`StationStore` is the whole interface: read every station or one, and write through `update`, which
applies a change atomically and all-or-nothing. A backend also reports a `version()` (answers computed
from the registry are kept under it) and says in a few words where it keeps the registry, for messages.
`Journal` is the record a store keeps in step with its writes (the audit log).
"""
from __future__ import annotations

import abc
from typing import Any, Callable, Protocol

from ..errors import NotFound
from ..model import Station

Change = Callable[[list[Station]], list[Station]]


class Journal(Protocol):
    """A record kept beside the registry (the audit log) that must never disagree with it.

    Called under the store's exclusive lock: `recover` first with the registry as it is (to settle
    an entry a killed writer left pending), `begin` before the new registry is put in place,
    `commit` after, `abort` if the write failed.
    """

    def recover(self, current: list[Station]) -> None: ...
    def begin(self, old: list[Station], new: list[Station], note: dict[str, Any] | None) -> Any: ...
    def commit(self, ticket: Any) -> None: ...
    def abort(self, ticket: Any) -> None: ...


class StationStore(abc.ABC):
    """A station registry; every backend (GeoPackage, memory, a future PostGIS) implements the abstract methods."""

    @abc.abstractmethod
    def all(self) -> list[Station]:
        """Every station, in id order."""

    @abc.abstractmethod
    def update(self, change: Change, note: dict[str, Any] | None = None) -> bool:
        """Apply `change` to the current list atomically; returns False (and writes nothing) if unchanged.

        If `change` raises, nothing is written and the error propagates. `note` (e.g. {"actor": ...,
        "action": ...}) goes to the store's journal with the change."""

    @abc.abstractmethod
    def version(self) -> str:
        """A text that changes on every write (answers computed from the registry are kept under it)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the registry is kept, in a few words for messages (e.g. the GeoPackage's path)."""

    def get(self, station_id: str) -> Station:
        """The station with this id; NotFound if there is none."""
        for s in self.all():
            if s.id == station_id:
                return s
        raise NotFound(f"no station with id {station_id!r}")

    def replace_all(self, stations: list[Station], note: dict[str, Any] | None = None) -> bool:
        """Make the registry exactly `stations`; False if it already was."""
        return self.update(lambda _old: list(stations), note)


def journaled_update(old: list[Station], change: Change, note: dict[str, Any] | None, journal: Journal | None,
                     write: Callable[[list[Station]], None], exists: bool = True) -> bool:
    """One write under a backend's lock, in the journal's order: recover, change, begin, write, commit
    (abort if the write fails). False, and nothing written, when the change changes nothing."""
    if journal:
        journal.recover(old)
    new = sorted(change(list(old)), key=lambda s: s.id)
    if new == old and exists:
        return False
    ticket = journal.begin(old, new, note) if journal else None
    try:
        write(new)
    except BaseException:
        if journal:
            journal.abort(ticket)
        raise
    if journal:
        journal.commit(ticket)
    return True
