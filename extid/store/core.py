"""The `Store`: the two state files of one directory, read without a lock, changed in locked
transactions that write both files durably, counters first.

Write order of one transaction (under the lock `<state_dir>/.extid.lock`):

1. sweep stale temp files `.<name>.tmp-<hex>` left by killed writers;
2. read both files (restoring one whose bytes are not JSON, see `Store._load_locked`); inside
   a git repository hold the clone's ledger too (`extid.ledger`, `State.ledger`); hand the
   `State` to the caller;
3. on a clean exit, if a document changed: reconcile counters (with the ledger's marks too),
   set `updated`, validate both;
4. the ledger's new marks (`Marks.flush`), then the counters file: `create_backup` then
   `atomic_write` (no directory fsync yet);
5. mapping file second: `create_backup` then `atomic_write`, whose directory fsync makes
   both renames durable.

A crash between 4 and 5 leaves a counter ahead of the mappings: an unused gap, never a
re-issued ID (see `Store._save`). `tracked` and `maintenance` work through underscored
members of a `Store` (`_key`, `_load_locked`, `_holding_ledger`, `_save`, `_write`): internal
to this package, not for its users. `recovery` sees only the file paths and the `save`/`report`
callbacks.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import migrations, model
from ..document import COUNTERS, COUNTERS_FILE, MAPPING, MAPPING_FILE, Kind
from ..errors import ExtidError, ParseError, ValidationError, is_corrupt, with_fix
from . import codec, maintenance, recovery
from .durable import (
    atomic_write,
    create_backup,
    ensure_dir,
    existing_dir,
    lstat,
    read_bytes,
    sweep_temp_files,
)
from .locate import absolute, resolve_state_dir
from .lock import LOCK_FILE, DirLock, held, timeout_setting
from .state import State, reconciled
from .tracked import FastPath, Tracker

if TYPE_CHECKING:
    from ..ledger import Ledger, Marks


def refusal(error: ExtidError) -> ExtidError:
    """What a reader raises for a broken file: a merge in progress sends the user to
    `extid resolve`, anything else gets its fix (`errors.with_fix`)."""
    if is_corrupt(error):
        recovery.refuse_unmerged(error.file, error)
    return with_fix(error)


class Store:
    """The two state files of one directory.

    Readers need no lock (every write is an atomic rename). `transaction()` holds the
    directory's lock over the whole read-modify-write of both files; nesting it in one thread,
    through this or any other `Store` of the same directory, joins the outer transaction.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        lock_timeout: float | None = None,
    ) -> None:
        # A directory the program names is trusted; what users set (--state-dir,
        # EXTID_STATE_DIR) is checked by resolve_state_dir, which the commands call.
        self.state_dir = resolve_state_dir() if state_dir is None else absolute(state_dir)
        self.mapping_path = self.state_dir / MAPPING_FILE
        self.counters_path = self.state_dir / COUNTERS_FILE
        self.lock_path = self.state_dir / LOCK_FILE
        self.lock_timeout = timeout_setting() if lock_timeout is None else lock_timeout
        #: Where a recovery's report goes: None warns on stderr (any command loading the files);
        #: a list collects it for `extid repair`, which prints it as its actions (not twice).
        self.recovered: list[str] | None = None
        self._lock = DirLock(self.lock_path, self.lock_timeout)
        self._fast = FastPath(self)
        self._real_dir: str | None = None
        self._ignored = False  # whether the state directory's .gitignore is known to exist

    def __repr__(self) -> str:
        return f"Store({str(self.state_dir)!r})"

    def path(self, kind: Kind) -> Path:
        return self.mapping_path if kind == MAPPING else self.counters_path

    # --- directory and lock ---------------------------------------------------------------

    def _key(self) -> tuple[int, str]:
        # realpath costs a few lstat calls, three times per allocation: resolved once. A
        # directory moved under a running process keeps its first name here, which only
        # matters for joining a transaction open through another Store of that directory.
        if self._real_dir is None:
            self._real_dir = os.path.realpath(self.state_dir)
        return (os.getpid(), self._real_dir)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold `<state_dir>/.extid.lock`; re-entrant within a thread. Sweeps stale temps and
        writes the directory's `.gitignore` if it is missing, so that no writer leaves the
        lock or a `.bak` for `git add -A` to commit (only writers lock)."""
        ensure_dir(self.state_dir)
        with self._lock.hold(self._key()) as outermost:
            if outermost:
                sweep_temp_files(self.state_dir)
                if not self._ignored:  # one lstat per Store: the first write makes it
                    self._ignored = maintenance.gitignore_if_missing(self.state_dir)
            yield

    @functools.cached_property
    def _ledger(self) -> Ledger | None:
        """The clone's ledger (see `extid.ledger.local`), None outside a git repository;
        looked for once, at the first transaction."""
        from ..ledger import Ledger  # not at import time: the ledger uses this package

        return Ledger.of(self.state_dir)

    @contextlib.contextmanager
    def _holding_ledger(self, state: State) -> Iterator[None]:
        """`state.ledger`: the clone's ledger, held inside this directory's lock for as long as
        this lasts (its marks are good only while it is held); None outside git."""
        hold = contextlib.nullcontext() if self._ledger is None else self._ledger.hold()
        with hold as marks:
            state.ledger = marks
            try:
                yield
            finally:
                state.ledger = None

    # --- reading ---------------------------------------------------------------------------

    def _read_one(self, kind: Kind) -> tuple[dict[str, Any], str]:
        path = self.path(kind)
        return codec.decode_or_empty(read_bytes(path), kind, str(path))

    def signature(self) -> tuple[Any, ...]:
        """Changes whenever either file is replaced: a cache key for readers."""
        sig: list[Any] = []
        for kind in (MAPPING, COUNTERS):
            st = lstat(str(self.path(kind)))
            # ctime too: a rename makes a new inode, but inode numbers are reused
            sig.append(
                None if st is None else (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            )
        return tuple(sig)

    def load(self) -> State:
        """Both documents, counters reconciled with the mappings. A reader: no lock, and
        nothing is ever written, moved or created (not even for a corrupt file, which only a
        writer recovers); a broken file raises its one-line error ending in the fix."""
        if existing_dir(self.state_dir):
            try:
                return reconciled(*self._read_one(MAPPING), *self._read_one(COUNTERS))
            except (ParseError, ValidationError) as e:
                raise refusal(e) from None
        current = migrations.CURRENT
        empty = codec.empty_document
        return reconciled(empty(MAPPING), current, empty(COUNTERS), current)

    def _read_both(self) -> tuple[recovery.Loaded, dict[Kind, ExtidError]]:
        """Both files as documents, and those whose bytes are not JSON (to recover); a file
        that parses but breaks the rules holds the user's edit: refused with its fix."""
        loaded: recovery.Loaded = {}
        broken: dict[Kind, ExtidError] = {}
        for kind in (MAPPING, COUNTERS):
            try:
                loaded[kind] = self._read_one(kind)
            except (ParseError, ValidationError) as e:
                if not is_corrupt(e):
                    raise with_fix(e) from None
                broken[kind] = e
        return loaded, broken

    def paths(self) -> dict[Kind, Path]:
        return {kind: self.path(kind) for kind in (MAPPING, COUNTERS)}

    def _load_locked(self, accept_loss: bool = False) -> State:
        """Load under the lock, recovering files whose bytes are not JSON (and writing the
        result; refused if that would lose anything, unless `accept_loss`)."""
        loaded, broken = self._read_both()
        if broken:
            recovery.recover(
                self.paths(),
                loaded,
                broken,
                accept_loss=accept_loss,
                save=self._save,
                report=self._report,
            )
        return reconciled(*loaded[MAPPING], *loaded[COUNTERS])

    def _report(self, message: str) -> None:
        if self.recovered is not None:
            self.recovered.append(message)
        else:
            print(f"extid: warning: {message}", file=sys.stderr)

    # --- writing ---------------------------------------------------------------------------

    def _write(self, kind: Kind, doc: dict[str, Any], version: str) -> None:
        self._save({kind: codec.encode(doc, kind, version, str(self.path(kind)))})

    def _save(self, files: dict[Kind, bytes], ledger: Marks | None = None) -> None:
        """Write the clone's `ledger` (when given), then the given files, counters first, each
        after making its `.bak`: every transaction's writes go through here.

        One directory fsync, after the last rename, makes every name change durable (a third
        of the cost of a save on top of the bare write, measured). Journaling file systems
        (ext4, xfs, btrfs) put names on disk in the order they were made, so a crash leaves
        both files old, new counters with the old mapping, or both new; where one could
        reorder them, an old counter beside a new mapping is still safe: every load raises
        counters above the numbers used (`model.reconcile`), and that allocation was never
        acknowledged.
        """
        if ledger is not None:
            ledger.flush()  # a crash after it leaves a gap, never a number issued twice
        kinds = [kind for kind in (COUNTERS, MAPPING) if kind in files]
        for kind in kinds:
            path = str(self.path(kind))
            backup = create_backup(path, durable=False)
            atomic_write(path, files[kind], backup=backup, sync_dir=kind == kinds[-1])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[State]:
        """Lock, load (recovering if needed), yield the `State`; save what changed on a clean
        exit (counters first). Nested use in one thread yields the same `State`; only the
        outermost transaction saves. An exception discards all changes."""
        with self.lock():
            hold = held()[self._key()]
            if hold[1] is not None:
                yield hold[1]
                return
            state = self._load_locked()
            with self._holding_ledger(state):
                hold[1] = state
                try:
                    yield state
                finally:
                    hold[1] = None
                self._commit(state)

    def _commit(self, state: State) -> None:
        from ..validate import check_document, check_pair

        mapping_changed = state.changed(MAPPING)
        if not mapping_changed and not state.changed(COUNTERS):
            return
        high = model.highest_used(state.mappings)  # one pass serves both rules below
        if mapping_changed:
            model.reconcile(state.counter_values, state.mappings, high)
        if state.ledger is not None:
            state.ledger.settle(state.counter_values)
        dirty = [kind for kind in (COUNTERS, MAPPING) if state.changed(kind)]
        now = codec.utc_now()
        for kind in dirty:
            state.doc(kind)["updated"] = now
        m_name, c_name = str(self.mapping_path), str(self.counters_path)
        problems = check_document(state.mapping, MAPPING, m_name)
        problems += check_document(state.counters, COUNTERS, c_name)
        problems += check_pair(state.mapping, state.counters, m_name, c_name, high)
        if problems:
            raise ValidationError(problems)
        self._save(
            {
                kind: codec.encode(state.doc(kind), kind, state.version(kind), str(self.path(kind)))
                for kind in dirty
            },
            state.ledger,
        )
        state.remember()

    def tracked(self) -> contextlib.AbstractContextManager[tuple[State, Tracker | None]]:
        """A transaction for a caller that reports each entry it changes (see `Tracker`).

        While the files on disk are byte for byte what this `Store` last read or wrote, the
        state is not parsed, validated, copied or dumped again: only the touched entries are
        checked, and spliced into the previous bytes (`entries.splice_mappings`); when
        another process wrote meanwhile, only the entries that differ are read
        (`entries.diff_entries`). Yields `(state, None)` where that cannot be done (a file
        to recover or with collisions, or an enclosing transaction to join): an ordinary
        transaction, with the usual checks.
        """
        return self._fast.transaction()

    # --- maintenance (see `maintenance`) ---------------------------------------------------

    def init(self) -> list[Path]:
        """Create the directory, its `.gitignore` and empty files; returns what was created."""
        return maintenance.init(self)

    def repair(
        self, accept_loss: bool = False, dry_run: bool = False, keep: Sequence[str] = ()
    ) -> list[str]:
        """Recover corrupt files, settle collisions (the tasks in `keep` keep their IDs) and
        persist counters reconciled with the mappings; what was (or would be) done."""
        return maintenance.repair(self, accept_loss=accept_loss, dry_run=dry_run, keep=keep)

    def adopt(self) -> list[str]:
        """Bring existing files to canonical form, another tool's counters read as used;
        returns one line per file rewritten (see `maintenance.adopt`)."""
        return maintenance.adopt(self)

    def migrate(self, dry_run: bool = False) -> list[tuple[Path, str, str]]:
        """Rewrite files at the newest format version (the old file kept as `.bak`).
        Returns (path, from, to) for each file that is (or would be) rewritten."""
        return maintenance.migrate(self, dry_run)
