"""The fast path of single changes: `Store.tracked()` transactions on a snapshot of the
files, checking only the touched entries and splicing them into the previous bytes."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import document, entries, migrations, model
from ..document import COUNTERS, MAPPING, Kind
from ..errors import ExtidError, Problem, ValidationError
from . import codec
from .durable import read_bytes
from .lock import held
from .state import State, copy3, reconciled

if TYPE_CHECKING:
    from .core import Store


class Tracker:
    """What a tracked transaction changed: each entry's value before its first change.

    A caller of `Store.tracked()` calls `touch(key)` before it changes, adds or deletes the
    entry `key`, and changes nothing else in the mappings; counters may change freely (they
    are compared whole). `index` is the store's, current as of the start: read it, never
    write it (the store updates it from what was touched when it commits).
    """

    def __init__(self, state: State, index: model.Index) -> None:
        self.state = state
        self.index = index
        self.before: dict[str, Any] = {}

    def touch(self, key: str) -> None:
        if key not in self.before:
            entry = self.state.mappings.get(key)
            self.before[key] = None if entry is None else dict(entry)

    def changed(self) -> list[str]:
        mappings = self.state.mappings
        return [key for key, old in self.before.items() if mappings.get(key) != old]


@dataclass
class Snapshot:
    """Both files as this process last read or wrote them: the bytes, and their state parsed,
    validated (collisions included: only a clean registry gets one) and indexed. Good for as
    long as the files on disk hold exactly `raw`; never handed to a caller that could keep it.
    """

    raw: tuple[bytes | None, bytes | None]
    state: State
    index: model.Index
    spliceable: bool = False  # raw[0] is the canonical dump of the current-version document


class FastPath:
    """One `Store`'s snapshot, and the tracked transactions that use and renew it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[tuple[State, Tracker | None]]:
        """What `Store.tracked()` yields (see there)."""
        store = self.store
        if self.snapshot is None and store._key() not in held():
            self._preload()
        with store.lock():
            hold = held()[store._key()]
            snapshot = None if hold[1] is not None else self._current_snapshot()
            if snapshot is None:
                with store.transaction() as state:
                    yield state, None
                return
            with store._holding_ledger(snapshot.state):
                yield from self._tracked(snapshot, hold)

    def _tracked(
        self, snapshot: Snapshot, hold: list[Any]
    ) -> Iterator[tuple[State, Tracker | None]]:
        """One tracked transaction on `snapshot`, under both locks."""
        tracker = Tracker(snapshot.state, snapshot.index)
        counters_before = copy3(snapshot.state.counters)
        hold[1] = snapshot.state
        try:
            yield snapshot.state, tracker
        except BaseException:
            # A refusal before any change (a conflict, a bad argument) keeps the snapshot:
            # rebuilding it costs a whole parse. Anything touched drops it.
            if not tracker.before and snapshot.state.counters == counters_before:
                self.snapshot = snapshot
            raise
        finally:
            hold[1] = None
        self._commit(snapshot, tracker, counters_before)
        self.snapshot = snapshot  # only once all is written: a failure drops it

    def _preload(self) -> None:
        """Parse and validate the whole registry before taking the lock, the first time: it
        is most of the cost of a process's first change (~60 ms at 10k entries), and other
        processes can write meanwhile. Under the lock the result is compared with the files
        (and brought up to date by their diff), never trusted as it is."""
        try:
            raw = self._read_raw()
        except ExtidError:
            return
        fresh = self._built(raw)
        with self._lock:  # another thread of this process may have been quicker
            if self.snapshot is None:
                self.snapshot = fresh

    def _read_raw(self) -> tuple[bytes | None, bytes | None]:
        return read_bytes(self.store.mapping_path), read_bytes(self.store.counters_path)

    def _current_snapshot(self) -> Snapshot | None:
        """The snapshot of the files as they are now, taken out of `self.snapshot` (None:
        they need the ordinary path). Only under the lock."""
        with self._lock:
            previous, self.snapshot = self.snapshot, None
        try:
            raw = self._read_raw()
        except ExtidError:
            return None
        if previous is not None and previous.raw == raw:
            return previous
        refreshed = None if previous is None else self.refreshed(previous, raw)
        return refreshed if refreshed is not None else self._built(raw)

    def _counters(self, data: bytes | None) -> tuple[dict[str, Any], str]:
        return codec.decode_or_empty(data, COUNTERS, str(self.store.counters_path))

    def _built(self, raw: tuple[bytes | None, bytes | None]) -> Snapshot | None:
        """A snapshot of the files' bytes `raw` parsed whole, or None if they need the
        ordinary path (to be recovered, refused or have their collisions named)."""
        from ..validate import check_document

        index, name = model.Index(), str(self.store.mapping_path)
        try:
            if raw[0] is None:
                mapping = codec.empty_document(MAPPING), migrations.CURRENT
            else:
                mapping = codec.parse_upgraded(raw[0], MAPPING, name)
            counters = self._counters(raw[1])
        except ExtidError:
            return None
        # One pass validates (collisions included) and indexes.
        if check_document(mapping[0], MAPPING, name, index=index):
            return None
        # Whether later writes may splice into these bytes, and a refresh diff them: ~1 ms
        # for a dump at 10k entries, once per process.
        spliceable = mapping[1] == migrations.CURRENT and raw[0] == document.canonical(mapping[0])
        state = reconciled(*mapping, *counters, high=index.high)
        return Snapshot(raw, state, index, spliceable)

    def refreshed(
        self, snapshot: Snapshot, raw: tuple[bytes | None, bytes | None]
    ) -> Snapshot | None:
        """`snapshot` brought up to the files' bytes `raw` by reading only the entries that
        differ (another extid process wrote since), or None. Whatever fails here leaves the
        whole parse to the caller, which also names the problem."""
        from ..validate import check_entries

        old, new = snapshot.raw[0], raw[0]
        if old is None or new is None or not snapshot.spliceable:
            return None
        state, index, name = snapshot.state, snapshot.index, str(self.store.mapping_path)
        diff = entries.diff_entries(old, new, state.mappings)
        if diff is None or diff.rest.get("version") != migrations.CURRENT:
            return None
        try:
            counters = self._counters(raw[1])
        except ExtidError:
            return None
        mapping = {**diff.rest, "mappings": state.mappings}
        for key in diff.removed | diff.changed.keys():
            index.discard(key, state.mappings.pop(key, None))
        state.mappings.update(diff.changed)
        if check_entries(mapping, diff.changed, name):
            return None
        if any(index.add(key, entry) for key, entry in diff.changed.items()):
            return None
        fresh = reconciled(mapping, migrations.CURRENT, *counters, high=index.high)
        return Snapshot(raw, fresh, index, spliceable=True)

    def _commit(
        self, snapshot: Snapshot, tracker: Tracker, counters_before: dict[str, Any]
    ) -> None:
        from ..validate import check_document, check_entries, check_pair

        store, state = self.store, snapshot.state
        m_name, c_name = str(store.mapping_path), str(store.counters_path)
        changed = tracker.changed()
        problems = _reindex(snapshot.index, tracker, changed, m_name)
        if changed:
            model.reconcile(state.counter_values, state.mappings, snapshot.index.high)
        if state.ledger is not None:
            state.ledger.settle(state.counter_values)
        dirty = [COUNTERS] if state.counters != counters_before else []
        dirty += [MAPPING] if changed else []
        if not dirty:
            return
        now = codec.utc_now()
        for kind in dirty:
            state.doc(kind)["updated"] = now
        problems = check_entries(state.mapping, changed, m_name) + problems
        problems += check_document(state.counters, COUNTERS, c_name)
        problems += check_pair(state.mapping, state.counters, m_name, c_name, snapshot.index.high)
        if problems:
            raise ValidationError(problems)
        written = {kind: self._encode(snapshot, kind, changed) for kind in dirty}
        store._save(written, state.ledger)
        snapshot.raw = (
            written.get(MAPPING, snapshot.raw[0]),
            written.get(COUNTERS, snapshot.raw[1]),
        )
        if MAPPING in written:
            snapshot.spliceable = state.mapping_version == migrations.CURRENT

    def _encode(self, snapshot: Snapshot, kind: Kind, changed: list[str]) -> bytes:
        state, name = snapshot.state, str(self.store.path(kind))
        old = snapshot.raw[0]
        if kind == MAPPING and snapshot.spliceable and old is not None:
            spliced = entries.splice_mappings(old, state.mapping, changed)
            if spliced is not None:
                return spliced
        return codec.encode(state.doc(kind), kind, state.version(kind), name)


def _reindex(index: model.Index, tracker: Tracker, changed: list[str], name: str) -> list[Problem]:
    """Move the changed entries in `index`; a clash is a problem, as the full check words it."""
    from ..validate import clash_problem

    for key in changed:
        index.discard(key, tracker.before[key])
    problems = []
    for key in changed:
        entry = tracker.state.mappings.get(key)
        for clash in [] if entry is None else index.add(key, entry):
            problems.append(clash_problem(name, *clash))
    return problems
