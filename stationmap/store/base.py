"""What callers may do with a station registry, whatever keeps it.

`StationStore` is the whole interface: read every station or one, and write either the rows a change
names (`change_rows`: an edit costs one row, whatever the registry's size) or the whole registry
(`update`: imports). Both are atomic and all-or-nothing. A backend also reports a `version()` (answers
computed from the registry are kept under it) and says in a few words where it keeps the registry.
`Journal` is the record a store keeps in step with its writes (the audit log).
"""
from __future__ import annotations

import abc
from typing import Any, Callable, Iterable, Mapping, Protocol

from ..errors import NotFound
from ..model import Station

Change = Callable[[list[Station]], list[Station]]
Rows = Mapping[str, "Station | None"]  # station id -> the station as it shall be, or None to delete it
RowChange = Callable[[Mapping[str, Station]], Rows]
Item = tuple[str, "Station | None", "Station | None"]  # (id, before, after); None: absent


class Journal(Protocol):
    """A record kept beside the registry (the audit log) that must never disagree with it.

    Called under the store's exclusive lock: `recover` first with the registry as it is (id -> station;
    to settle an entry a killed writer left pending), `begin` with the rows about to change before they
    are written, `commit` after, `abort` if the write failed.
    """

    def recover(self, current: Mapping[str, Station]) -> None: ...
    def begin(self, items: list[Item], note: dict[str, Any] | None) -> Any: ...
    def commit(self, ticket: Any) -> None: ...
    def abort(self, ticket: Any) -> None: ...


class StationStore(abc.ABC):
    """A station registry; every backend (GeoPackage, memory, PostGIS) implements the abstract methods."""

    @abc.abstractmethod
    def all(self) -> list[Station]:
        """Every station, in id order."""

    @abc.abstractmethod
    def get(self, station_id: str) -> Station:
        """The station with this id; NotFound if there is none."""

    @abc.abstractmethod
    def update(self, change: Change, note: dict[str, Any] | None = None) -> bool:
        """Apply `change` to the whole list atomically; returns False (and writes nothing) if unchanged.

        If `change` raises, nothing is written and the error propagates. `note` (e.g. {"actor": ...,
        "action": ...}) goes to the store's journal with the change."""

    @abc.abstractmethod
    def change_rows(self, change: RowChange, note: dict[str, Any] | None = None) -> bool:
        """Write the rows `change` names, atomically; False (nothing written) if none differs.

        `change` gets the registry as a read-only mapping id -> station, as it is under the write lock,
        and returns {id: the station as it shall be, or None to delete it}. Only those rows are written
        (with the journal entry), so the cost follows the change, not the registry."""

    @abc.abstractmethod
    def version(self) -> str:
        """A text that changes on every write (answers computed from the registry are kept under it)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the registry is kept, in a few words for messages (e.g. the GeoPackage's path)."""

    def replace_all(self, stations: list[Station], note: dict[str, Any] | None = None) -> bool:
        """Make the registry exactly `stations`; False if it already was."""
        return self.update(lambda _old: list(stations), note)


class FollowedStore(StationStore):
    """A backend that keeps a snapshot of the registry in the process and brings it up to date (`_fresh`) by
    re-reading only the rows written since: every read is answered from that snapshot."""

    @abc.abstractmethod
    def _fresh(self) -> Any:
        """The snapshot, up to date: `.stations` (id order) and `.by_id`."""

    def all(self) -> list[Station]:
        return list(self._fresh().stations)

    def get(self, station_id: str) -> Station:
        found = self._fresh().by_id.get(station_id)
        if found is None:
            raise not_found(station_id)
        return found


def not_found(station_id: str) -> NotFound:
    return NotFound(f"no station with id {station_id!r}")


def reread(current: Mapping[str, Station], ids: Iterable[str], rows: Iterable[Station]) -> list[Station]:
    """The registry `current` after the stations `ids` (logged as written since) were read again as `rows`: an id
    without a row was deleted. In id order, as `all()` gives it."""
    fresh = {s.id: s for s in rows}
    by_id = dict(current)
    for sid in ids:
        if sid in fresh:
            by_id[sid] = fresh[sid]
        else:
            by_id.pop(sid, None)
    return sorted(by_id.values(), key=lambda s: s.id)


def diff(current: Mapping[str, Station], new: list[Station]) -> list[Item]:
    """The rows that differ between `current` and the list `new`, in id order."""
    after = {s.id: s for s in new}
    return [(sid, current.get(sid), after.get(sid)) for sid in sorted(current.keys() | after.keys())
            if current.get(sid) != after.get(sid)]


def row_items(current: Mapping[str, Station], rows: Rows) -> list[Item]:
    """The rows of a row change that differ from `current`, in id order (a row's id must be its key)."""
    items = []
    for sid in sorted(rows):
        new = rows[sid]
        if new is not None and new.id != sid:
            raise ValueError(f"row {sid!r} holds station {new.id!r}")
        if current.get(sid) != new:
            items.append((sid, current.get(sid), new))
    return items


def journaled(items: list[Item], note: dict[str, Any] | None, journal: Journal | None, write: Callable[[], None]) -> bool:
    """`write` in the journal's order: begin, write, commit (abort if the write fails); False if no item."""
    if not items:
        return False
    ticket = journal.begin(items, note) if journal else None
    try:
        write()
    except BaseException:
        if journal:
            journal.abort(ticket)
        raise
    if journal:
        journal.commit(ticket)
    return True


def journaled_update(old: list[Station], change: Change, note: dict[str, Any] | None, journal: Journal | None,
                     write: Callable[[list[Station]], None], exists: bool = True) -> bool:
    """One whole-registry write under a backend's lock: recover, change, begin, write, commit.
    False, and nothing written, when the change changes nothing (and the registry exists)."""
    current = {s.id: s for s in old}
    if journal:
        journal.recover(current)
    new = sorted(change(list(old)), key=lambda s: s.id)
    if new == old and exists:
        return False
    items = diff(current, new)
    if not items:  # a new, empty registry: written, nothing to journal
        write(new)
        return True
    return journaled(items, note, journal, lambda: write(new))


def journaled_rows(current: Mapping[str, Station], change: RowChange, note: dict[str, Any] | None,
                   journal: Journal | None, write: Callable[[list[Item]], None]) -> bool:
    """One row write under a backend's lock: recover, change, begin, write the changed rows, commit."""
    if journal:
        journal.recover(current)
    items = row_items(current, change(current))
    return journaled(items, note, journal, lambda: write(items))
