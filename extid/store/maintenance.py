"""Maintenance of a state directory: `init` (files and `.gitignore`), `repair` (recover, settle
committed collisions, persist reconciled counters; or say what it would do), `migrate` (rewrite
at the newest format version) and `adopt` (existing files brought to canonical form, another
tool's counters read as last used)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import document, migrations, model
from ..document import COUNTERS, MAPPING, Kind
from ..errors import BadArgumentError, ExtidError
from . import codec, recovery
from .durable import atomic_write, ensure_dir, existing_dir, lstat, read_bytes
from .state import reconciled

if TYPE_CHECKING:
    from ..merge import Reserve
    from ..model import CounterKey
    from .core import Store
    from .state import State

GITIGNORE = (
    "# extid: the lock, backups, quarantined corrupt files and temp files stay out of git\n"
    ".extid.lock\n"
    "*.bak\n"
    "*.corrupt-*\n"
    ".*.tmp-*\n"
    "# the original tool's (guardkit): `<file>.lock` locks and `.tmp_*.json` temp files\n"
    "*.lock\n"
    ".tmp_*.json\n"
)
#: Its patterns, without the comments: what `adopt` finds tracked and untracks.
IGNORED = tuple(line for line in GITIGNORE.splitlines() if not line.startswith("#"))


def init(store: Store) -> list[Path]:
    """Create the directory, its `.gitignore` and empty files; returns what was created."""
    created: list[Path] = []
    gitignore = store.state_dir / ".gitignore"
    had_gitignore = lstat(str(gitignore)) is not None  # the lock may write it
    with store.lock():
        store._load_locked()  # an existing file must be readable before anything is added
        for kind in (COUNTERS, MAPPING):
            path = store.path(kind)
            if lstat(str(path)) is None:
                atomic_write(path, document.canonical(codec.empty_document(kind)))
                created.append(path)
        if _ensure_gitignore(gitignore) or not had_gitignore:
            created.append(gitignore)
    return created


def repair(
    store: Store, *, accept_loss: bool = False, dry_run: bool = False, keep: Sequence[str] = ()
) -> list[str]:
    """Recover corrupt files, settle collisions and persist counters reconciled with the
    mappings; what was done, or with `dry_run` (a reader: nothing written) what would be."""
    if not existing_dir(store.state_dir):
        return []
    if dry_run:
        return _repair_plan(store, keep)
    with store.lock():
        store.recovered = actions = []
        try:
            state = store._load_locked(accept_loss=accept_loss)
        finally:
            store.recovered = None
        with store._holding_ledger(state):  # a renumbering issues its numbers there
            settled = settle(state, keep, renumbering_reserve(store.state_dir))
            if settled:
                store._commit(state)  # validated: no collision is left
                actions += settled
        name = str(store.counters_path)
        data = read_bytes(name)
        on_disk = None if data is None else codec.decode(data, COUNTERS, name)
        if on_disk is not None and on_disk[0]["counters"] != state.counter_values:
            state.counters["updated"] = codec.utc_now()
            store._write(COUNTERS, state.counters, state.counters_version)
            actions.append(f"{name}: counters raised above the used numbers")
    return actions


def _repair_plan(store: Store, keep: Sequence[str]) -> list[str]:
    """What `repair` would do, read without the lock and without writing anything."""
    loaded, broken = store._read_both()
    actions: list[str] = []
    if broken:
        planned = recovery.plan(store.paths(), loaded, broken)
        actions += planned.describe()
        if planned.lost:
            actions.append("`extid repair --accept-loss` restores anyway, losing what is listed")
    counters = copy.deepcopy(loaded[COUNTERS][0]["counters"])
    state = reconciled(*loaded[MAPPING], *loaded[COUNTERS])
    actions += [
        f"would {line.replace('renumbered', 'renumber', 1)}" for line in settle(state, keep)
    ]
    if not broken and counters != state.counter_values:
        actions.append(f"would raise counters in {store.counters_path} above the used numbers")
    return actions


def repair_would_lose(store: Store) -> bool:
    """Whether `repair` (without `--accept-loss`) would refuse to restore the corrupt files:
    the restore would lose something (read only, as `--dry-run`)."""
    try:
        loaded, broken = store._read_both()
        return bool(broken) and bool(recovery.plan(store.paths(), loaded, broken).lost)
    except ExtidError:  # a file repair leaves to the user: its own message says so
        return False


def settle(state: State, keep: Sequence[str], reserve: Reserve | None = None) -> list[str]:
    """Committed collisions (an external ID held by two tasks): the task in `keep`, else the
    one `merge.keeper_order` names, keeps it; the others get fresh numbers (through `reserve`,
    the clone's ledgers: see `renumbering_reserve`)."""
    from ..ids import fold
    from ..merge import renumber_committed

    known = {fold(k) for k in state.mappings}
    for task in keep:
        if fold(task) not in known:
            raise BadArgumentError(f"--keep {task}: no such task in the registry")
    kept = {fold(k) for k in keep}
    return renumber_committed(state.mappings, state.counter_values, kept, reserve)


def renumbering_reserve(state_dir: Path) -> Reserve:
    """The clone's ledgers for a renumbering of committed collisions in `state_dir` (repair,
    the post-merge hook): the local one (joining the hold a transaction has open) and, where
    it is on, the remote one, contacted only if something is renumbered."""
    from ..ledger import Ledger
    from ..ledger.issue import remote_for_merge
    from ..ledger.issue import renumbering_reserve as through

    def reserve(wants: dict[CounterKey, tuple[int, int]]) -> dict[CounterKey, int]:
        return through(Ledger.of(state_dir), remote_for_merge(state_dir))(wants)

    return reserve


def migrate(store: Store, dry_run: bool = False) -> list[tuple[Path, str, str]]:
    """Rewrite files at the newest format version (the old file kept as `.bak`).
    Returns (path, from, to) for each file that is (or would be) rewritten."""
    if not existing_dir(store.state_dir):
        return []
    if dry_run:  # a reader: no lock file, no recovery, nothing written
        todo = _todo(store, store.load())
    else:
        with store.lock():
            state = store._load_locked()
            todo = _todo(store, state)
            for kind, _ in todo:
                state.doc(kind)["updated"] = codec.utc_now()
                store._write(kind, state.doc(kind), migrations.CURRENT)
    return [(store.path(kind), old, migrations.CURRENT) for kind, old in todo]


def _todo(store: Store, state: State) -> list[tuple[Kind, str]]:
    """The files to migrate, with their versions (a missing file is not migrated)."""
    return [
        (kind, state.version(kind))
        for kind in (COUNTERS, MAPPING)
        if state.version(kind) != migrations.CURRENT and store.path(kind).exists()
    ]


def adopt(store: Store) -> list[str]:
    """Bring the state files that exist to extid's canonical form, counters as the next
    available numbers; another tool's counters count as used (`model.adopt_counters`). What
    `extid install` does to the files it finds; one line per file rewritten."""
    if not existing_dir(store.state_dir):
        return []
    gitignore = store.state_dir / ".gitignore"
    had_gitignore = lstat(str(gitignore)) is not None
    done = []
    with store.lock():  # which writes the .gitignore if it is missing
        if not had_gitignore and lstat(str(gitignore)) is not None:
            done.append(f"created {gitignore}")
        state = store.load()  # a broken file is refused with its fix, never recovered here
        for kind in (COUNTERS, MAPPING):
            name = str(store.path(kind))
            data = read_bytes(name)
            if data is None:
                continue
            new = codec.encode(state.doc(kind), kind, state.version(kind), name)
            if new != data:
                changes = _changes(kind, data, state, name)
                store._save({kind: new})
                done.append(f"{name}: {'; '.join(changes)}")
    return done


def _changes(kind: Kind, data: bytes, state: State, name: str) -> list[str]:
    """What `adopt` changes in one file, in words."""
    stored, version = codec.parse_upgraded(data, kind, name)
    changes = []
    if kind == COUNTERS:
        if model.holds_last_used(stored):
            changes.append(
                "adopted from another tool (its counters held the last numbers used, extid's "
                f"hold the next); updated {stored['updated']} -> {state.counters['updated']}"
            )
        before = dict(model.iter_counters(stored["counters"]))
        for (tool, key), value in model.iter_counters(state.counter_values):
            if before.get((tool, key), 0) != value:
                label = tool if key is None else f"{tool} {key}"
                changes.append(f"{label} {before.get((tool, key), 0)} -> {value}")
    if data != codec.encode(stored, kind, version, name) or not changes:
        changes.append("canonical form (indent 2, sorted keys, one final newline)")
    return changes


def gitignore_if_missing(state_dir: Path) -> bool:
    """Write the state directory's `.gitignore` if there is none (a user's own is left as it
    is); whether one is there now. Outside `Store._save`: not one of a save's steps."""
    path = state_dir / ".gitignore"
    if lstat(str(path)) is not None:
        return True
    try:
        atomic_write(path, GITIGNORE.encode())
    except ExtidError:  # e.g. a full disk: the save that follows reports it
        return False
    return True


def _ensure_gitignore(path: Path) -> bool:
    """Write the state directory's `.gitignore`, keeping any lines a user added."""
    data = read_bytes(path)
    if data is None:
        atomic_write(path, GITIGNORE.encode())
        return True
    lines = data.decode("utf-8", "replace").splitlines()
    missing = [line for line in IGNORED if line not in lines]
    if missing:
        text = data.decode("utf-8", "replace")
        text += ("" if text.endswith("\n") or not text else "\n") + "\n".join(missing) + "\n"
        atomic_write(path, text.encode())
    return False


def ensure_gitignore(state_dir: Path) -> list[Path]:
    """The state directory (created if missing) with its `.gitignore`, for `extid install`;
    returns what was created."""
    created = [] if state_dir.is_dir() else [state_dir]
    ensure_dir(state_dir)  # a file in its place: one line naming it, not a traceback
    gitignore = state_dir / ".gitignore"
    return created + ([gitignore] if _ensure_gitignore(gitignore) else [])
