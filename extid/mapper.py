"""`ExternalIDMapper`: allocate, record, look up and remove external IDs over a `Store`.

Every change is one locked store transaction (counters written before the mapping), so threads
and processes sharing a state directory never get the same ID twice and 8 callers allocating
for one task get one ID. Reads take no lock: they use the files as they are, parsed once per
version of the files (the reverse index makes `internal_id` O(1) after that).

No singletons and no reset: each mapper is a thin view of its state directory.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import ids, model
from .errors import BadArgumentError, ConflictError, ExtidError
from .store import State, Store, Tracker
from .store.codec import utc_now

if TYPE_CHECKING:
    from .ledger.remote import RemoteLedger


def check_internal_id(value: str) -> str:
    """`value` as an internal ID to store: PREFIX and SUB in upper case, the hash as typed."""
    if isinstance(value, str) and ids.is_internal_id(value):
        return value
    if isinstance(value, str) and ids.is_internal_id(ids.fold(value)):
        head, _, tail = value.rpartition("-")
        return f"{head.upper()}-{tail}"
    raise BadArgumentError(
        f"{value!r} is not an internal task ID "
        "(PREFIX-[SUB-]HASH[.N], e.g. TASK-E01-b2c4; PREFIX is TASK, EPIC, FEAT or DOC, "
        "SUB 2-4 letters or digits, HASH 4-6 hexadecimal digits 0-9 a-f)"
    )


def check_tool(tool: str) -> str:
    if tool not in ids.TOOLS:
        raise BadArgumentError(f"unknown tool {tool!r} (expected one of {', '.join(ids.TOOLS)})")
    return tool


def project_key(tool: str, project: str | None) -> str | None:
    """The counter key of an allocation: required for jira/linear, refused for the others."""
    if tool not in ids.KEYED_TOOLS:
        if project is not None:
            raise BadArgumentError(f"{tool} IDs are plain numbers; --project is for jira/linear")
        return None
    if project is None:
        raise BadArgumentError(f"{tool} needs a project key (e.g. --project PROJ)")
    key = project.strip().upper()
    if ids.PROJECT_KEY_RE.fullmatch(key) is None:
        raise BadArgumentError(
            f"{project!r} is not a project key (a letter, then letters, digits or _, max 20)"
        )
    return key


def normalize_external(tool: str, value: str) -> str:
    """`#234` -> `234`, `proj-7` -> `PROJ-7`; refuses what is not an ID of `tool`."""
    check_tool(tool)
    try:
        return ids.normalize_external(tool, value)
    except ValueError as e:
        raise BadArgumentError(str(e)) from None


class Batch:
    """Operations on one open transaction's `State`; what `ExternalIDMapper.batch()` yields.

    Indexes are built on first use and kept in step with every change made through them.
    With a `tracker` (the store's fast path, one operation per batch) they are the store's
    instead, and every change is reported to the tracker; the store updates its indexes.
    With a `ledger` (the remote one), each new number is reserved there before it is used.
    """

    def __init__(
        self, state: State, tracker: Tracker | None = None, ledger: RemoteLedger | None = None
    ) -> None:
        self.state = state
        self._tracker = tracker
        self.ledger = ledger
        #: How many numbers this batch issued (an allocation that found the task's existing ID
        #: issues none): what `allocate --json` reports as "new".
        self.issued = 0
        self._folded: dict[str, str] | None = None
        self._holders: dict[tuple[str, str], str] | None = None
        if tracker is not None:
            self._folded, self._holders = tracker.index.folded, tracker.index.holders

    def _touch(self, stored: str) -> bool:
        """Report a change of `stored` ahead; whether this batch keeps its own indexes."""
        if self._tracker is None:
            return True
        self._tracker.touch(stored)
        return False

    # --- indexes -------------------------------------------------------------------------

    def _stored(self, internal_id: str) -> str | None:
        """The spelling under which a task is stored (IDs equal up to case are one task)."""
        if self._folded is None:
            self._folded = {ids.fold(k): k for k in self.state.mappings}
        return self._folded.get(ids.fold(internal_id))

    def _holder(self, tool: str, external_id: str) -> str | None:
        if self._holders is None:
            self._holders = reverse_index(self.state.mappings)
        return self._holders.get((tool, external_id))

    def _set(self, stored: str, tool: str, external_id: str) -> None:
        own_index = self._touch(stored)
        self.state.mappings[stored][tool] = external_id
        if self._holders is not None and own_index:
            self._holders[(tool, external_id)] = stored

    def _entry(self, internal_id: str) -> tuple[str, dict[str, Any]]:
        stored = self._stored(internal_id)
        if stored is None:
            stored = internal_id
            own_index = self._touch(stored)
            self.state.mappings[stored] = {"created": utc_now()}
            if self._folded is not None and own_index:
                self._folded[ids.fold(stored)] = stored
        return stored, self.state.mappings[stored]

    # --- operations ------------------------------------------------------------------------

    def allocate(self, internal_id: str, tool: str, project: str | None = None) -> str:
        """The task's ID in `tool`: the existing one, else the next number, recorded."""
        internal_id = check_internal_id(internal_id)
        key = project_key(check_tool(tool), project)
        stored = self._stored(internal_id)
        if stored is not None and tool in self.state.mappings[stored]:
            existing: str = self.state.mappings[stored][tool]
            return existing
        number = self._next_number(tool, key)
        self.issued += 1
        stored, _ = self._entry(internal_id)
        self._set(stored, tool, ids.format_external(tool, key, number))
        model.set_counter(self.state.counter_values, tool, key, number + 1)
        return ids.format_external(tool, key, number)

    def _next_number(self, tool: str, key: str | None) -> int:
        """The counter's number, skipping those a hand edit left taken; above every number this
        clone ever issued (the local ledger, whatever git did to the files) and, with a remote
        ledger, the number it reserved at or above that. Both are written before the state
        files: a failure in between leaves a gap, never a number issued twice."""
        from .ledger.issue import issue

        number = max(model.get_counter(self.state.counter_values, tool, key), 1)
        while True:
            if number >= ids.MAX_COUNTER:
                raise ExtidError(f"{tool} counter {key or ''} is exhausted (2**53)")
            wants = {(tool, key): (number, 1)}
            number = issue(self.state.ledger, self.ledger, wants)[(tool, key)]
            if self._holder(tool, ids.format_external(tool, key, number)) is None:
                return number
            number += 1  # only a hand-edited file gets here

    def record(self, internal_id: str, tool: str, external_id: str) -> str:
        """Store an ID the tool assigned itself; raises its counter above it."""
        internal_id = check_internal_id(internal_id)
        external = normalize_external(tool, external_id)
        parsed = ids.parse_external(tool, external)
        if parsed.number >= ids.MAX_COUNTER:
            raise BadArgumentError(f"{tool} ID {external} is beyond 2**53")
        holder = self._holder(tool, external)
        if holder is not None and ids.fold(holder) != ids.fold(internal_id):
            raise ConflictError(f"{tool} {external} is already held by {holder}")
        stored = self._stored(internal_id)
        current = self.state.mappings[stored].get(tool) if stored is not None else None
        if current is not None and current != external:
            raise ConflictError(
                f"{stored} already has {tool} {current}; remove it first to record {external}"
            )
        if self.ledger is not None and current is None:
            self.ledger.raise_mark(tool, parsed.key, parsed.number)
        stored, _ = self._entry(internal_id)
        self._set(stored, tool, external)
        counters = self.state.counter_values
        if model.get_counter(counters, tool, parsed.key) <= parsed.number:
            model.set_counter(counters, tool, parsed.key, parsed.number + 1)
        return external

    def remove(self, internal_id: str, tool: str | None = None) -> dict[str, str]:
        """Forget a task's ID in `tool` (or in every tool); returns what was removed. A task
        left without any external ID is dropped with its `created`/`epic`. Counters never go
        back: a removed number is not handed out again."""
        internal_id = check_internal_id(internal_id)
        if tool is not None:
            check_tool(tool)
        stored = self._stored(internal_id)
        if stored is None:
            return {}
        own_index = self._touch(stored)
        entry = self.state.mappings[stored]
        removed = {t: entry.pop(t) for t in ids.TOOLS if t in entry and tool in (None, t)}
        if self._holders is not None and own_index:
            for t, value in removed.items():
                self._holders.pop((t, value), None)
        if not any(t in entry for t in ids.TOOLS):
            del self.state.mappings[stored]
            if self._folded is not None and own_index:
                self._folded.pop(ids.fold(stored), None)
        return removed

    def external_ids(self, internal_id: str) -> dict[str, str]:
        internal_id = check_internal_id(internal_id)
        stored = self._stored(internal_id)
        entry = self.state.mappings.get(stored, {}) if stored is not None else {}
        return {t: entry[t] for t in ids.TOOLS if t in entry}

    def internal_id(self, tool: str, external_id: str) -> str | None:
        return self._holder(tool, normalize_external(tool, external_id))


def reverse_index(mappings: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(tool, external ID as stored, upper case for keyed tools) -> internal ID."""
    index: dict[tuple[str, str], str] = {}
    for internal, entry in mappings.items():
        for tool in ids.TOOLS:
            value = entry.get(tool)
            if value is not None:
                index[(tool, value)] = internal
    return index


class _View:
    """One version of the files, with its indexes: shared by reads until the files change."""

    def __init__(self, signature: tuple[Any, ...], state: State) -> None:
        self.signature = signature
        self.state = state
        self.batch = Batch(state)


class ExternalIDMapper:
    """Internal task IDs <-> IDs in jira, azure_devops, linear and github.

    `ExternalIDMapper(store)` or `ExternalIDMapper(state_dir)`; with neither, the state
    directory is resolved as the CLI does (`$EXTID_STATE_DIR`, else the git toplevel).
    Where the repository has a remote ledger (`extid install --remote NAME`), new numbers are
    reserved on it; `offline=True` allocates from this clone's files alone.
    """

    def __init__(
        self, store: Store | str | os.PathLike[str] | None = None, *, offline: bool = False
    ) -> None:
        self.store = store if isinstance(store, Store) else Store(store)
        self.offline = offline
        self._ledger: list[RemoteLedger | None] = []  # found on the first change
        self._view: _View | None = None
        self._view_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ExternalIDMapper({self.store!r})"

    @contextlib.contextmanager
    def batch(self) -> Iterator[Batch]:
        """Many operations in one locked transaction: all saved together, or none on error."""
        ledger = self.remote_ledger()
        with self.store.transaction() as state:
            yield Batch(state, ledger=ledger)

    def remote_ledger(self) -> RemoteLedger | None:
        """The remote ledger new numbers go through (None: none configured); its config is
        read once, before any lock is taken. Offline, new numbers are only noted there as
        issued here alone (a ledger whose settings cannot be read then notes nothing: the
        local ledger still keeps this clone right)."""
        if not self._ledger:
            from .ledger.remote import RemoteLedger

            try:
                ledger = RemoteLedger.configured(self.store.state_dir)
            except ExtidError:
                if not self.offline:
                    raise
                ledger = None
            if ledger is not None:
                ledger.offline = self.offline
            self._ledger.append(ledger)
        return self._ledger[0]

    @contextlib.contextmanager
    def _one(self, remote: bool = True) -> Iterator[Batch]:
        """A batch for exactly one operation, on the store's tracked fast path: no re-parse,
        re-validation or full dump of the registry while the files are as this process left
        them (an allocation on a 10k registry is then mostly its two durable writes)."""
        ledger = self.remote_ledger() if remote else None
        with self.store.tracked() as (state, tracker):
            yield Batch(state, tracker, ledger)

    def allocate(self, internal_id: str, tool: str, project: str | None = None) -> str:
        """The task's ID in `tool`: the existing one, else the next free number, recorded."""
        # Arguments are checked before the lock: a mistyped call must not create a file.
        check_internal_id(internal_id)
        project_key(check_tool(tool), project)
        return self.allocate_new(internal_id, tool, project)[0]

    def allocate_new(
        self, internal_id: str, tool: str, project: str | None = None
    ) -> tuple[str, bool]:
        """`allocate`, and whether the number was issued by this call (False: the task's
        existing ID), decided inside the transaction, so two racing callers never both say new."""
        check_internal_id(internal_id)
        project_key(check_tool(tool), project)
        with self._one() as b:
            return b.allocate(internal_id, tool, project), b.issued > 0

    def record(self, internal_id: str, tool: str, external_id: str) -> str:
        """Store an ID that the tool assigned; ConflictError if another task holds it."""
        check_internal_id(internal_id)  # before the lock, as in allocate
        normalize_external(tool, external_id)
        with self._one() as b:
            return b.record(internal_id, tool, external_id)

    def remove(self, internal_id: str, tool: str | None = None) -> dict[str, str]:
        """Forget a task's IDs (all tools, or one); returns what was removed."""
        check_internal_id(internal_id)  # before the lock, as in allocate
        if tool is not None:
            check_tool(tool)
        with self._one(remote=False) as b:
            return b.remove(internal_id, tool)

    # --- reads: no lock ---------------------------------------------------------------------

    def _current(self) -> _View:
        signature = self.store.signature()
        with self._view_lock:
            view = self._view
            if view is None or view.signature != signature:
                # The signature is taken before reading: a change in between shows up next time.
                view = self._view = _View(signature, self.store.load())
            return view

    def external_ids(self, internal_id: str) -> dict[str, str]:
        """tool -> external ID of a task (empty if it has none)."""
        return self._current().batch.external_ids(internal_id)

    def entry(self, internal_id: str) -> tuple[str, dict[str, Any]] | None:
        """(stored spelling, copy of the whole entry incl. created/epic), or None."""
        internal_id = check_internal_id(internal_id)
        view = self._current()
        stored = view.batch._stored(internal_id)
        return None if stored is None else (stored, dict(view.state.mappings[stored]))

    def internal_id(self, tool: str, external_id: str) -> str | None:
        """The task holding `external_id` in `tool` (`#234`, `proj-7` accepted), or None."""
        return self._current().batch.internal_id(tool, external_id)

    def mappings(self) -> dict[str, dict[str, Any]]:
        """A copy of all entries."""
        return {k: dict(v) for k, v in self._current().state.mappings.items()}

    def counters(self) -> dict[str, Any]:
        """The effective next numbers (stored counters reconciled with the mappings)."""
        values = self._current().state.counter_values
        return {k: dict(v) if isinstance(v, dict) else v for k, v in values.items()}
