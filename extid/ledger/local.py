"""The local ledger: per clone, the highest number ever issued, recorded or seen for each
tool/key, kept in git's common directory where checkout, reset, revert, rebase, stash and
branch deletion cannot rewind it.

`<git-common-dir>/extid/ledger.jsonl` (untracked, shared by every worktree of the clone) holds
lines `{"version": 1, "marks": {...}}` (see `journal`), the marks shaped like the counters
(`"github": 7`, `"jira": {"PROJ": 12}`) but each the highest number *used*, not the next one.
Its lock, `ledger.lock` beside it, is taken inside a state directory's lock, never the other way
round, so the worktrees of one clone (each with its own state directory and lock) exclude each other
for as long as an allocation takes.

Allocation (`Store.transaction` / `Store.tracked` hold the ledger as `State.ledger`):
`Marks.issue(tool, key, floor, count)` is where this clone's part of a number is chosen:
max(the files' floor, mark + 1), recorded as the new mark. `ledger.issue` wraps it for every
caller (allocate, a merge's or repair's renumbering) and reserves the numbers on the remote
ledger too where that is on. `Marks.settle` raises the marks to the
counters about to be written and those counters to the marks; `Marks.flush` appends to the
ledger durably *before* the state files are written, so a crash in between leaves a gap, never a
number issued twice.

A clone without a ledger (a fresh clone, the first run of this version) seeds it once, under
the lock, from the state files at HEAD and at every ref (`seed`). Outside a git repository
there is no ledger and the files alone decide, as before.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import model
from ..errors import ExtidError
from ..gitstate import common_dir as git_common_dir  # files only: no git per allocation
from ..ids import KEYED_TOOLS, TOOLS
from . import journal

# The store's durable layer and lock are imported where the ledger is held, not here: the merge
# driver asks `git_common_dir` first, and outside a repository it must stay as light as before.

LEDGER_DIR = "extid"
LEDGER_FILE = "ledger.jsonl"
LEDGER_LOCK = "ledger.lock"


# --- where -----------------------------------------------------------------------------------


# --- marks -----------------------------------------------------------------------------------


def marks_of_counters(counters: dict[str, Any]) -> dict[model.CounterKey, int]:
    """The highest number a counters object may have issued (its next number - 1)."""
    return {k: value - 1 for k, value in model.iter_counters(counters) if value > 1}


def marks_of_document(kind: str, doc: dict[str, Any]) -> dict[model.CounterKey, int]:
    """What one current-version state document says was used: a mapping's highest numbers,
    a counters file's next numbers - 1."""
    body = doc.get("mappings" if kind == "mapping" else "counters")
    if not isinstance(body, dict):
        return {}
    return model.highest_used(body) if kind == "mapping" else marks_of_counters(body)


def highest(*many: dict[model.CounterKey, int]) -> dict[model.CounterKey, int]:
    """The highest mark per (tool, key) over several sets of marks."""
    marks: dict[model.CounterKey, int] = {}
    for one in many:
        for key, number in one.items():
            if number > marks.get(key, 0):
                marks[key] = number
    return marks


def marks_of_bytes(data: bytes) -> dict[model.CounterKey, int]:
    """What one version of a state file (its bytes, any format version) says was used; a
    version that is not a readable state file issued nothing."""
    from .. import document, migrations

    try:
        parsed = document.parse(data, "state file")
        kind = document.kind_of(parsed.obj)
        if kind is None:
            return {}
        doc, _ = migrations.upgrade(parsed.obj, kind, "state file")
    except (ExtidError, ValueError, TypeError, KeyError):
        return {}
    return marks_of_document(kind, doc) if isinstance(doc, dict) else {}


class Marks:
    """The ledger's marks while its lock is held: read once per hold, raised in memory, written
    by `flush`. Never lowered."""

    def __init__(self, ledger: Ledger, marks: dict[str, Any], size: int) -> None:
        self.ledger = ledger
        self.values = marks
        self.dirty = size == 0  # a new ledger is written even if empty: a clone is seeded once
        self.size = size

    def get(self, tool: str, key: str | None) -> int:
        return model.get_counter(self.values, tool, key)

    def raise_to(self, marks: dict[model.CounterKey, int]) -> None:
        for (tool, key), number in marks.items():
            if number > self.get(tool, key):
                model.set_counter(self.values, tool, key, number)
                self.dirty = True

    def issue(self, tool: str, key: str | None, floor: int, count: int = 1) -> int:
        """The first of `count` consecutive numbers to issue next for (tool, key): at least
        `floor` (the files' next number) and above every number this clone ever issued,
        recorded or saw; all recorded as used. Called through `extid.ledger.issue`, which
        reserves them on a remote ledger too."""
        number = max(floor, self.get(tool, key) + 1)
        self.raise_to({(tool, key): number + count - 1})
        return number

    def settle(self, counters: dict[str, Any]) -> None:
        """Before the files are written: the marks rise to what `counters` (reconciled with the
        mappings) may have issued, and `counters` to the marks' next numbers."""
        self.raise_to(marks_of_counters(counters))
        for tool in TOOLS:
            if tool in KEYED_TOOLS:
                for key in self.values.get(tool) or {}:
                    _raise_counter(counters, tool, key, self.get(tool, key) + 1)
            elif tool in self.values:
                _raise_counter(counters, tool, None, self.get(tool, None) + 1)

    def flush(self) -> None:
        """Write the marks durably if they rose (`journal.append`: one fsync)."""
        if self.dirty:
            self.size = journal.append(self.ledger.path, self.values, self.size)
            self.dirty = False


def _raise_counter(counters: dict[str, Any], tool: str, key: str | None, value: int) -> None:
    if model.get_counter(counters, tool, key) < value:
        model.set_counter(counters, tool, key, value)


class Ledger:
    """The ledger file of one clone, seen from one state directory (whose files at each ref
    seed it)."""

    def __init__(self, common_dir: Path, state_dir: Path) -> None:
        self.directory = common_dir / LEDGER_DIR
        self.path = self.directory / LEDGER_FILE
        self.state_dir = state_dir
        self._lock: Any = None
        self._key = (os.getpid(), "ledger:" + str(self.path))

    @classmethod
    def of(cls, state_dir: Path) -> Ledger | None:
        """The ledger of the clone holding `state_dir`, None outside a git repository (or
        where `.git` names a directory that does not exist: nothing is created there)."""
        common = git_common_dir(state_dir)
        return None if common is None or not common.is_dir() else cls(common, state_dir)

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    @contextlib.contextmanager
    def hold(self) -> Iterator[Marks]:
        """Hold the ledger's lock (re-entrant per thread: a nested hold shares the marks)."""
        from ..store.durable import ensure_dir
        from ..store.lock import DirLock, held, timeout_setting

        if self._lock is None:
            self._lock = DirLock(self.directory / LEDGER_LOCK, timeout_setting())
        if self._key[0] != os.getpid():  # a forked child has its own holds
            self._key = (os.getpid(), self._key[1])
        ensure_dir(self.directory)
        with self._lock.hold(self._key) as outermost:
            hold = held()[self._key]
            if outermost:
                hold[1] = self._open()
            yield hold[1]

    def _open(self) -> Marks:
        from ..store.durable import read_bytes

        data = read_bytes(self.path)
        if data:
            return Marks(self, journal.current(data, str(self.path)), len(data))
        from .seed import seed

        marks = Marks(self, {}, 0)
        marks.raise_to(seed(self.state_dir))
        marks.flush()
        return marks

    def read(self) -> dict[str, Any]:
        """The marks on disk, without the lock (a reader: never seeds or writes)."""
        from ..store.durable import read_bytes

        data = read_bytes(self.path)
        return {} if not data else journal.current(data, str(self.path))


def raise_seen(start: Path, marks: dict[model.CounterKey, int]) -> None:
    """Raise the ledger of the clone holding `start` to numbers seen in files (a merge's
    sides); nothing outside a git repository."""
    ledger = Ledger.of(start)
    if ledger is None or not marks:
        return
    with ledger.hold() as held_marks:
        held_marks.raise_to(marks)
        held_marks.flush()
