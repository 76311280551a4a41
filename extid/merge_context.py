"""What a merge of the state files learns from git around it: the counters a renumbering stays
above (every version in sight, their side's included), the mappings already published (whose
holders keep their IDs), and the room the merged counters leave for the renumbered numbers.

Only a merge that renumbers pays for these reads (a few git calls); the driver's clean path
never calls them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .document import COUNTERS, COUNTERS_FILE, MAPPING, MAPPING_FILE
from .errors import ExtidError
from .guards import held
from .model import get_counter, iter_counters, set_counter


def floor_docs(floor_blobs: Callable[[], list[bytes]] | None) -> list[dict[str, Any]]:
    """The counters documents `floor_blobs()` gives that can be read (the others are skipped)."""
    from .commands.merge_driver import load_side  # deferred: the driver imports this module

    docs = []
    for data in floor_blobs() if floor_blobs else ():
        try:
            side = load_side(data, COUNTERS_FILE, COUNTERS)
        except ExtidError:
            continue
        docs.append(side.obj)
    return docs


def published(
    published_blobs: Callable[[], list[bytes]] | None,
) -> frozenset[tuple[str, str, str]]:
    """(folded internal ID, tool, external ID) held in the published mapping files."""
    from .commands.merge_driver import load_side

    found: set[tuple[str, str, str]] = set()
    for data in published_blobs() if published_blobs else ():
        try:
            side = load_side(data, MAPPING_FILE, MAPPING)
        except ExtidError:
            continue
        found.update(
            (task, tool, value) for (task, tool), (value, _) in held(side.obj["mappings"]).items()
        )
    return frozenset(found)


def published_mappings(path: str | None) -> Callable[[], list[bytes]]:
    """The mapping file at `path` as published: on the remote-tracking branches."""

    def blobs() -> list[bytes]:
        from .git import published_blobs, rel_to, toplevel

        with contextlib.suppress(ExtidError):  # outside a repository git opens: none known
            top = toplevel()
            if path and top is not None:
                return published_blobs(top, rel_to(top, path))
        return []

    return blobs


def sibling_counters(path: str | None) -> Callable[[], list[bytes]]:
    """Counters files next to the mapping being merged: the work tree's, HEAD's and the
    merged/picked head's (a renumbering goes above all of them)."""

    def blobs() -> list[bytes]:
        if not path:
            return []
        sibling = os.path.join(os.path.dirname(path), COUNTERS_FILE)
        found = []
        if os.path.isfile(sibling):
            found.append(Path(sibling).read_bytes())
        from .git import operation_blobs, rel_to, toplevel

        with contextlib.suppress(ExtidError):  # outside the repo: no more to find
            top = toplevel()
            if top is not None:
                found.extend(operation_blobs(top, rel_to(top, sibling)))
        return found

    return blobs


def make_room(
    merged: dict[str, Any],
    base: dict[str, Any] | None,
    ours: dict[str, Any],
    theirs: dict[str, Any],
    on_collision: Callable[[], str],
    counter_floor: Callable[[], dict[tuple[str, str | None], int]],
    issued: Callable[[], dict[tuple[str, str | None], int]] = dict,
) -> None:
    """Counters merged where both sides issued numbers of one tool/key since the base: those
    numbers collide in the mapping, whose driver renumbers one task of each pair from above
    every counter in sight (`counter_floor()`; the renumbering also stays above the ledger). The
    merged counter goes up by as many, from that floor, so the merge result (the merge commit,
    merge-tree's tree) is consistent without a rewrite. Only where collisions are renumbered
    (`on_collision()` is not "conflict": renumber, or `resolve --ours/--theirs`, which renumber
    the other task); a gap costs nothing. The counter is also above `issued()`, the clone's
    ledger: git's default strategy (ort) merges the mapping file first, whose renumbering
    recorded its numbers there, above the floor when the remote ledger gave higher ones."""
    bc, oc, tc = ((d or {}).get("counters") or {} for d in (base, ours, theirs))
    room: dict[tuple[str, str | None], int] = {}
    for (tool, key), mine in iter_counters(oc):
        start = max(get_counter(bc, tool, key), 1)
        other = get_counter(tc, tool, key)
        if mine > start and other > start:
            room[(tool, key)] = min(mine, other) - start
    if not room or on_collision() == "conflict":
        return
    floor = counter_floor()
    counters = merged["counters"]
    marks = issued()
    for (tool, key), extra in sorted(room.items(), key=str):
        start = max(get_counter(counters, tool, key), floor.get((tool, key), 0))
        set_counter(counters, tool, key, max(start + extra, marks.get((tool, key), 0) + 1))
