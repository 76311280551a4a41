"""The remote ledger: numbers reserved on a git remote (one ref, a compare-and-swap by push)
before they are issued, handed out locally in leases, and never reserved twice.

Opt-in with `extid install --remote NAME` (settings: `config.py`). What this clone remembers
lives in `<git common dir>/extid-remote/` (shared by its worktrees, under one lock):
`state.json` (the last tip seen, the commit being pushed, the leases) and `ledger.git` (the
private repository of `wire.py`).

Why each step: a ledger tip that does not descend from the last one seen was rolled back or
deleted (the server does not protect refs outside `refs/heads/`), so it is refused; the commit
is recorded as pending before it is pushed, so a kill after the push landed is noticed and its
numbers handed out rather than lost or issued twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ExtidError
from ..git import run_git
from ..gitstate import common_dir
from ..store.durable import atomic_write, ensure_dir, read_bytes
from ..store.lock import DirLock, timeout_setting
from . import wire
from .config import LedgerError, Settings, refused, resolve_remote, rolled_back, unreachable

BACKOFF_BASE, BACKOFF_CAP = 0.02, 2.0
DIRECTORY = "extid-remote"


def mark_name(tool: str, key: str | None) -> str:
    """The ledger's name of a counter: `jira:PROJ`, `github`."""
    return tool if key is None else f"{tool}:{key}"


@dataclass
class LocalState:
    """What this clone remembers of the remote ledger (`state.json`)."""

    remote: str = ""
    ref: str = ""
    tip: str | None = None
    marks: dict[str, int] = field(default_factory=dict)  # those of `tip`: no read per push
    #: The commit being pushed: its first block as `name`, `low`, `high` (the format of
    #: earlier versions), any others as `more` {name: [low, high]}.
    pending: dict[str, Any] | None = None
    leases: dict[str, list[int]] = field(default_factory=dict)  # name -> [next, last]
    #: Numbers issued here without the remote (`--offline`, or a renumbering while it was
    #: out of reach): the next push raises the remote marks past them.
    unpushed: dict[str, int] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True, indent=1).encode() + b"\n"

    def take(self, name: str, floor: int, count: int = 1) -> int | None:
        """The first of `count` consecutive leased numbers of `name` not below `floor`, taken
        from the lease; None when the lease cannot give them all."""
        lease = self.leases.get(name)
        if lease is None:
            return None
        number = max(lease[0], floor)
        if number > lease[1]:
            del self.leases[name]
            return None
        if number + count - 1 > lease[1]:
            return None
        lease[0] = number + count
        return number

    def set_pending(self, commit: str, blocks: dict[str, list[int]]) -> None:
        (name, (low, high)), *others = blocks.items()
        self.pending = {"commit": commit, "name": name, "low": low, "high": high}
        if others:
            self.pending["more"] = dict(others)

    def blocks(self) -> dict[str, list[int]]:
        """The pending commit's blocks, name -> [low, high]."""
        p = self.pending or {}
        return {p["name"]: [p["low"], p["high"]], **p.get("more", {})} if p else {}


class RemoteLedger:
    """Reservations on one clone's configured remote ledger."""

    def __init__(self, common_dir: Path, remote: wire.Remote, settings: Settings) -> None:
        self.directory = common_dir / DIRECTORY
        self.repo = self.directory / "ledger.git"
        self.state_path = self.directory / "state.json"
        self.remote = remote
        self.settings = settings
        #: `--offline`: numbers are noted as issued here alone, not reserved (`issue`).
        self.offline = False
        self._lock = DirLock(self.directory / "ledger.lock", timeout_setting())

    @classmethod
    def configured(cls, cwd: Path, budget: float | None = None) -> RemoteLedger | None:
        """The ledger of the repository at `cwd`, or None (no `extid.remote`, or no git);
        `budget`: seconds allowed per network call and for a contended ref (a merge's)."""
        while not os.path.isdir(cwd) and cwd != cwd.parent:  # a state directory not made yet
            cwd = cwd.parent
        if not os.access(cwd, os.X_OK):  # the store names that problem, with its fix
            return None
        settings = Settings.read(cwd)
        if settings is None:
            return None
        common = common_dir(cwd)
        if common is None:  # git found the settings, so there is a repository: ask git
            proc = run_git(["rev-parse", "--path-format=absolute", "--git-common-dir"], cwd)
            common = Path(proc.stdout.decode("utf-8", "surrogateescape").strip())
        remote = resolve_remote(cwd, settings)
        if budget is not None:
            settings.timeout = min(settings.timeout, budget)
            remote = remote._replace(timeout=budget)
        return cls(common, remote, settings)

    # --- local state, under the lock ------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[LocalState]:
        """This clone's ledger state under the lock shared by all its worktrees; saved by the
        caller (`save`) at each step that must survive a crash."""
        ensure_dir(self.directory)
        with self._lock.hold((os.getpid(), str(self._lock.path))):
            wire.ensure_repo(self.repo)
            yield self.load()

    def load(self) -> LocalState:
        data = read_bytes(self.state_path)
        state = LocalState(self.remote.name, self.remote.ref)
        if data is None:
            return state
        try:
            saved = LocalState(**json.loads(data))
        except (ValueError, TypeError):
            raise ExtidError(
                f"{self.state_path}: unreadable; remove it only after checking the ledger "
                "(`extid ledger`): it holds the last tip this clone saw"
            ) from None
        # Another remote or ref: its tip and leases say nothing about this one.
        return saved if (saved.remote, saved.ref) == (state.remote, state.ref) else state

    def save(self, state: LocalState) -> None:
        atomic_write(self.state_path, state.to_bytes())

    # --- the protocol ---------------------------------------------------------------------

    def reserve(self, tool: str, key: str | None, floor: int) -> int:
        """A number of `tool`/`key`, at least `floor`, that no clone was or will be given:
        from this clone's lease, else from a new lease reserved on the remote."""
        name = mark_name(tool, key)
        return self.reserve_blocks({name: (floor, 1)})[name]

    def reserve_blocks(self, wants: dict[str, tuple[int, int]]) -> dict[str, int]:
        """For each name, `count` consecutive numbers at least `floor` that no clone was or will
        be given ({name: (floor, count)}): the first of each. Taken from this clone's leases
        where one holds them all, the rest reserved in one push of at least a lease each (what
        is left over stays leased here)."""
        with self.locked() as state:
            got = {}
            for name, (floor, count) in wants.items():
                first = state.take(name, floor, count)
                if first is not None:
                    got[name] = first
            rest = {n: w for n, w in wants.items() if n not in got}
            if rest:
                got |= self.push_marks(state, rest)
            elif state.unpushed:
                # The lease gave them: numbers issued here alone go up now if the remote is
                # in reach, else they stay noted for the next push.
                with contextlib.suppress(LedgerError):
                    self.push_marks(state, {})
            self.save(state)
            return got

    def raise_mark(self, tool: str, key: str | None, number: int) -> None:
        """Raise the remote mark of `tool`/`key` to at least `number` (`record`); offline,
        note it for the next push."""
        if self.offline:
            self.note_unpushed({mark_name(tool, key): number})
            return
        with self.locked() as state:
            self.push_marks(state, {mark_name(tool, key): (number, 0)})

    def note_unpushed(self, marks: dict[str, int]) -> None:
        """Numbers issued here without the remote (`--offline`, or a renumbering while it was
        out of reach): the next push of this clone raises the remote marks past them."""
        with self.locked() as state:
            for name, number in marks.items():
                state.unpushed[name] = max(state.unpushed.get(name, 0), number)
            self.save(state)

    def push_marks(self, state: LocalState, wants: dict[str, tuple[int, int]]) -> dict[str, int]:
        """Reserve, in one push, `count` numbers (at least a lease) of each name from `floor`
        up (count 0: only raise the mark to `floor`); the first of each. The first `count` are
        the caller's, the rest stay leased to this clone. Numbers noted as issued here alone go
        up with them (with no `wants`, alone)."""
        deadline = time.monotonic() + self.settings.timeout
        for attempt in range(1_000_000):
            tip, marks = self.sync(state)
            got = {}
            for name, (floor, count) in wants.items():
                if count and (first := state.take(name, floor, count)) is not None:
                    got[name] = first  # a landed pending commit was reclaimed
                elif not count and marks.get(name, 0) >= floor:
                    got[name] = floor
            wants = {n: w for n, w in wants.items() if n not in got}
            if not wants and not state.unpushed:
                self.save(state)
                return got
            blocks, new_marks = _plan(marks, state.unpushed, wants, self.settings.lease)
            what = ", ".join(f"{n} {lo}..{hi}" if hi >= lo else n for n, (lo, hi) in blocks.items())
            what = what or "issued alone: " + ", ".join(sorted(state.unpushed))
            commit = wire.build(self.repo, new_marks, parents(tip), message(what, 0, -1))
            if blocks:  # only marks (numbers issued alone): no lease to reclaim after a kill
                state.set_pending(commit, blocks)
            self.save(state)  # before the push: a kill after it landed is noticed next time
            try:
                contended = wire.push(self.repo, self.remote, commit, tip)
            except wire.Refused as e:
                self._drop_pending(state)
                raise refused(self.remote, str(e)) from None
            except wire.Unreachable as e:  # it may have landed: the pending commit says so
                raise unreachable(self.remote, str(e)) from None
            if contended is None:
                state.tip, state.marks, state.pending = commit, new_marks, None
                state.unpushed = {}
                for name, (low, high) in blocks.items():
                    if low + wants[name][1] <= high:
                        state.leases[name] = [low + wants[name][1], high]
                    got[name] = low
                self.save(state)
                return got
            self._drop_pending(state)
            pause = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))
            if time.monotonic() + pause > deadline:
                raise LedgerError(
                    f"remote ledger {self.remote.ref} on {self.remote.name}: still contended "
                    f"after {self.settings.timeout:g}s ({contended}); nothing was allocated; "
                    "retry, raise extid.leaseSize, or use --offline"
                )
            time.sleep(pause)
        raise AssertionError("unreachable")

    def _drop_pending(self, state: LocalState) -> None:
        state.pending = None
        self.save(state)

    def sync(self, state: LocalState) -> tuple[str | None, dict[str, int]]:
        """The remote's tip and marks, fetched if new; refuses a rollback; reclaims a pending
        commit that landed. Remembers the tip in `state` (saved by the caller)."""
        try:
            tip = wire.remote_tip(self.repo, self.remote)
            if tip not in (None, state.tip) and not wire.has_commit(self.repo, tip):
                tip = wire.fetch(self.repo, self.remote)
        except wire.Unreachable as e:
            raise unreachable(self.remote, str(e)) from None
        if state.tip is not None and (
            tip is None or not wire.is_ancestor(self.repo, state.tip, tip)
        ):
            raise LedgerError(rolled_back(self.remote, state.tip, tip))
        pending = state.pending
        if pending is not None:
            blocks, state.pending = state.blocks(), None
            if tip is not None and wire.is_ancestor(self.repo, pending["commit"], tip):
                for name, (low, high) in blocks.items():
                    if high >= low:
                        state.leases[name] = [low, high]
        if tip != state.tip:
            state.tip, state.marks = tip, wire.read_marks(self.repo, tip)
        # Numbers issued here alone stay noted until the remote marks are past them.
        state.unpushed = {n: v for n, v in state.unpushed.items() if state.marks.get(n, 0) < v}
        return tip, state.marks


def _plan(
    marks: dict[str, int],
    unpushed: dict[str, int],
    wants: dict[str, tuple[int, int]],
    lease: int,
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """The blocks a push reserves (name -> [low, high]: `count` numbers, at least a `lease`,
    from above the remote mark and `floor`; none for count 0) and the marks it sets (`unpushed`
    numbers issued here alone included)."""
    blocks = {}
    for name, (floor, count) in wants.items():
        low = max(marks.get(name, 0) + 1, floor)
        blocks[name] = [low, low + (max(count, lease) if count else 0) - 1]
    new_marks = {**marks}
    for name, number in unpushed.items():
        new_marks[name] = max(new_marks.get(name, 0), number)
    for name, (_, high) in blocks.items():
        new_marks[name] = max(new_marks.get(name, 0), high, wants[name][0])
    return blocks, new_marks


def parents(tip: str | None) -> list[str]:
    return [] if tip is None else [tip]


def message(name: str, low: int, high: int) -> str:
    """Unique per commit: two identical commits would both "win" a push (`= [up to date]`)."""
    what = f"{name} {low}..{high}" if high >= low else name
    nonce = f"{secrets.token_hex(8)} {socket.gethostname()} {os.getpid()}"
    return f"extid ledger: {what}\n\nnonce: {nonce}\n"
