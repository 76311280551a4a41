"""Pure three-way merge of the two state documents -> merged document, conflicts, renumberings.

No I/O, no git, no jsonschema: the merge driver's clean path imports this and `document` only.
The modules, in the order a merge runs through them:

- `decide`: how one place is decided three ways; the records a merge keeps (Conflict, ...);
- `three_way`: the per-entry, per-field merge of two documents (envelope, mappings, counters);
- `collisions`: two tasks holding one external ID after the merge: a conflict, or renumbered;
- `render`: the merged document as canonical text, each conflict as the smallest marked region;
- `chunks` and `fast`: the byte-level path for big canonical files, which parses only the
  entries that differ between the sides.
"""

from __future__ import annotations

from .collisions import committed_line, keeper_order, renumber_committed, settle_committed
from .decide import (
    MISSING,
    ON_COLLISION_CHOICES,
    Conflict,
    CounterKey,
    OnCollision,
    OnConflict,
    Renumbered,
    Reserve,
    time_key,
)
from .fast import BytesMerge, fast_merge_mapping
from .render import MARK_OURS, MARK_SEP, MARK_THEIRS, render
from .three_way import MergeResult, merge, merge_counter_floor, newer_version

__all__ = [
    "MARK_OURS",
    "MARK_SEP",
    "MARK_THEIRS",
    "MISSING",
    "ON_COLLISION_CHOICES",
    "BytesMerge",
    "Conflict",
    "CounterKey",
    "MergeResult",
    "OnCollision",
    "OnConflict",
    "Renumbered",
    "Reserve",
    "committed_line",
    "fast_merge_mapping",
    "keeper_order",
    "merge",
    "merge_counter_floor",
    "newer_version",
    "render",
    "renumber_committed",
    "settle_committed",
    "time_key",
]
