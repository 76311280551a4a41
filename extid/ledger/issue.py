"""Picking the numbers an operation issues, an allocation's one or a renumbering's block: above
this clone's ledger marks and, with the remote ledger on, reserved there first.

The one implementation of "the next number": `mapper.Batch` (allocate), the merge driver and
`extid resolve` (a merge's renumberings), `extid repair` and the post-merge hook (committed
collisions) all come through `issue`. A renumbering reserves all its numbers in one push; where
the remote cannot be reached (or refuses) it falls back to this clone's floor and says so in one
line (`renumbering_reserve`): a merge must not fail, or hang, over the ledger.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ExtidError
from ..model import CounterKey

if TYPE_CHECKING:
    from ..merge import Reserve
    from .local import Ledger, Marks
    from .remote import RemoteLedger

#: Seconds a renumbering waits for the remote ledger per git call (and for a contended ref)
#: before it falls back: git runs a merge driver per file, and a merge must not hang on it.
RENUMBER_BUDGET = 10.0


def issue(
    marks: Marks | None,
    remote: RemoteLedger | None,
    wants: dict[CounterKey, tuple[int, int]],
) -> dict[CounterKey, int]:
    """For each (tool, key): `count` consecutive numbers from at least `floor` ({(tool, key):
    (floor, count)}) above the local `marks` (recorded there as issued) and, with a `remote`
    ledger, reserved on it (one push for all, or none where this clone's lease holds them);
    the first of each. An `offline` remote ledger only notes them as issued here alone (before
    the files are written), for the next push of this clone to raise the remote marks past."""
    firsts = issue_locally(marks, wants)
    if remote is None:
        return firsts
    if remote.offline:
        remote.note_unpushed(issued_marks(wants, firsts))
        return firsts
    return reserve_remotely(marks, remote, wants, firsts)


def issued_marks(
    wants: dict[CounterKey, tuple[int, int]], firsts: dict[CounterKey, int]
) -> dict[str, int]:
    """The remote ledger's names of the counters, each with the last number issued."""
    from .remote import mark_name

    return {mark_name(*k): firsts[k] + count - 1 for k, (_, count) in wants.items()}


def issue_locally(
    marks: Marks | None, wants: dict[CounterKey, tuple[int, int]]
) -> dict[CounterKey, int]:
    """`issue` by this clone's ledger alone (outside a repository: the floors as they are)."""
    return {
        (tool, key): marks.issue(tool, key, floor, count) if marks is not None else floor
        for (tool, key), (floor, count) in wants.items()
    }


def reserve_remotely(
    marks: Marks | None,
    remote: RemoteLedger,
    wants: dict[CounterKey, tuple[int, int]],
    firsts: dict[CounterKey, int],
) -> dict[CounterKey, int]:
    """The blocks `issue_locally` gave, reserved on the remote ledger at or above where they
    start; the local marks follow what the remote gave."""
    from .remote import mark_name

    asked = {mark_name(*k): (firsts[k], count) for k, (_, count) in wants.items()}
    got = remote.reserve_blocks(asked)
    reserved = {}
    for k, (_, count) in wants.items():
        reserved[k] = got[mark_name(*k)]
        if marks is not None:
            marks.raise_to({k: reserved[k] + count - 1})
    return reserved


def remote_for_merge(start: Path) -> RemoteLedger | None:
    """The remote ledger of the clone at `start`, with the time budget of a merge; None when
    it is off (or its settings cannot be read: said in one line, the merge goes on)."""
    from .remote import RemoteLedger

    try:
        return RemoteLedger.configured(start, budget=RENUMBER_BUDGET)
    except ExtidError as e:
        print(f"extid: warning: {e}; renumbering from this clone's floor", file=sys.stderr)
        return None


def renumbering_reserve(ledger: Ledger | None, remote: RemoteLedger | None) -> Reserve:
    """What a renumbering reserves its numbers through: the clone's `ledger` (held around the
    call; a hold already open in this thread is joined) and the `remote` ledger. A remote that
    cannot reserve costs one line on stderr, and the numbers come from the local floor alone;
    they are noted for the next push to raise the remote marks past them."""

    def reserve(wants: dict[CounterKey, tuple[int, int]]) -> dict[CounterKey, int]:
        with ledger.hold() if ledger is not None else contextlib.nullcontext() as marks:
            firsts = issue_locally(marks, wants)
            try:
                if remote is not None:
                    firsts = reserve_remotely(marks, remote, wants, firsts)
            except ExtidError as e:  # LedgerError and the private repository's own errors
                what = getattr(e, "what", str(e))
                assert remote is not None
                _note_unpushed(remote, issued_marks(wants, firsts))
                numbers = ", ".join(_describe(k, firsts[k], c) for k, (_, c) in wants.items())
                print(
                    f"extid: warning: {what}; renumbered {numbers} reserved in this clone only: "
                    f"`extid ledger --repair` once {remote.remote.name} is in reach (or the next "
                    "allocation) raises the remote marks past them; a clone that took one "
                    "meanwhile meets it as a collision in a later merge",
                    file=sys.stderr,
                )
            if marks is not None:
                marks.flush()  # before the merged file is written
            return firsts

    return reserve


def _note_unpushed(remote: RemoteLedger, issued: dict[str, int]) -> None:
    # e.g. the lock is busy: the local marks still keep this clone right
    with contextlib.suppress(ExtidError):
        remote.note_unpushed(issued)


def _describe(key: CounterKey, first: int, count: int) -> str:
    tool, project = key
    label = f"{tool} {project}-" if project else f"{tool} "
    last = f"..{first + count - 1}" if count > 1 else ""
    return f"{label}{first}{last}"
