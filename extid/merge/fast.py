"""The byte-level merge of big canonical mapping files: only the entries that differ are parsed.

Entries equal on both sides are equal chunks and are copied without being parsed; the changed
entries are merged as the document merge merges them (collisions and field conflicts left as
conflicts), and the result is checked before it is trusted. Anything it cannot prove (not
canonical-looking, a conflict over a whole entry) declines, and the documents are merged.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from typing import Any

from ..document import MAPPING
from ..ids import TOOLS, fold
from ..migrations import CURRENT, UNKNOWN_TIME
from .chunks import (
    ENTRY_SEP,
    HEAD,
    TAIL_START,
    ChunkIndex,
    ascending,
    chunk_key,
    differences,
    entry_chunk,
    parse_chunk,
    split_chunks,
    verified,
    without,
)
from .collisions import settle_collisions
from .decide import MISSING, Conflict, Ctx, Renumbered, later, spelling, spellings
from .render import render
from .three_way import MergeResult, merge_entry


@dataclass
class BytesMerge:
    """A merge done on bytes: the file's new contents and what is left between markers."""

    data: bytes
    conflicts: list[Conflict] = field(default_factory=list)
    renumbered: list[Renumbered] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.conflicts


def fast_merge_mapping(base: bytes, ours: bytes, theirs: bytes) -> BytesMerge | None:
    """The merge of three canonical 1.0 mapping files, worked on bytes, with collisions and
    field conflicts left as conflicts; None when it does not apply (not canonical-looking, or
    a conflict over a whole entry): then merge the documents.

    In canonical form every entry is one chunk of text starting at `\n    "`, so entries equal
    on both sides are equal chunks and are copied without being parsed; only the changed
    entries are parsed and merged. The result (with ours' side of any conflict) must be sorted
    without duplicates and parse with one entry per chunk, else None. (Inner formatting of
    copied entries is taken as the sides have it: `extid format --check` names it.)
    """
    sides = [split_chunks(data) for data in (ours, theirs)]
    if sides[0] is None or sides[1] is None:
        return None
    (o_chunks, o_updated), (t_chunks, t_updated) = sides[0], sides[1]
    if not (ascending(o_chunks) and ascending(t_chunks)):
        return None  # not sorted, or one ID twice: the documents decide
    o_changed, t_changed = differences(o_chunks, t_chunks)
    if not _valid_chunks(o_changed) or not _valid_chunks(t_changed):
        return None  # the document merge names the problem and falls back to markers
    merged = _merge_chunks(base, o_changed, t_changed)
    if merged is None:
        return None
    plain, marked, conflicts = merged
    # Two sorted runs: the sort merges them in linear time (an insort each was quadratic when
    # most entries changed).
    chunks = without(o_chunks, o_changed) + plain
    chunks.sort()
    if not chunks or not ascending(chunks):
        return None
    updated = later(json.loads(o_updated), json.loads(t_updated))
    tail = b"".join(
        (
            TAIL_START,
            json.dumps(updated, ensure_ascii=False).encode("utf-8"),
            b',\n  "version": "1.0"\n}\n',
        )
    )
    out = b"".join((HEAD, b'    "', ENTRY_SEP.join(chunks)[:-1], tail))
    if not verified(out, len(chunks)):
        return None
    if marked:  # the checked text holds ours' side of each conflict: swap in the marked form
        for resolved, shown in marked:
            chunks[bisect.bisect_left(chunks, resolved)] = shown
        out = b"".join((HEAD, b'    "', ENTRY_SEP.join(chunks)[:-1], tail))
    return BytesMerge(out, conflicts)


def _valid_chunks(chunks: list[bytes]) -> bool:
    """The entries a side changed are well-formed and follow the schema (the entries both
    sides share are the same bytes on both: the merge adds nothing there)."""
    from ..validate import check_document

    entries = {}
    for chunk in chunks:
        key, entry = chunk_key(chunk), parse_chunk(chunk)
        if key is None or entry is None:
            return False
        entries[key] = entry
    doc = {"mappings": entries, "updated": UNKNOWN_TIME, "version": CURRENT}
    return not check_document(doc, MAPPING, "", semantics=False)


def _merge_chunks(
    base: bytes, o_changed: list[bytes], t_changed: list[bytes]
) -> tuple[list[bytes], list[tuple[bytes, bytes]], list[Conflict]] | None:
    """The merged chunks of the entries that differ between the sides (each conflicted entry
    with ours' side of its conflicts), (that chunk, its marked form) for each conflicted entry,
    and the conflicts; None where only the document merge can answer."""
    groups: dict[str, list[Any]] = {}
    for side, chunks in ((0, o_changed), (1, t_changed)):
        for chunk in chunks:
            key = chunk_key(chunk)
            if key is None:
                return None
            group = groups.setdefault(fold(key), [None, None])
            if group[side] is not None:
                return None  # two spellings of one ID on one side: let the documents decide
            group[side] = (key, chunk)
    base_index = ChunkIndex(base)
    ctx = Ctx("conflict")
    entries: dict[str, Any] = {}
    merged: dict[str, bytes] = {}
    for folded, (o, t) in sorted(groups.items()):
        seen = len(ctx.conflicts)  # look at this entry's conflicts only: linear in the entries
        result = _merge_group(folded, o, t, base_index, ctx)
        if result is None or any(len(c.path) != 3 for c in ctx.conflicts[seen:]):
            return None  # a conflict over a whole entry: the document merge renders it
        if result is not MISSING:
            key, entry, chunk = result
            entries[key], merged[key] = entry, chunk
    if _collides(entries):
        o_side, t_side = _side_entries(groups, 0), _side_entries(groups, 1)
        if o_side is None or t_side is None:
            return None
        settle_collisions(entries, list(entries), o_side, t_side, "conflict", {}, ctx)
        if any(c.collision for c in ctx.conflicts):
            return None  # shown as both tasks whole, a region across entries: the document merge
    marked = _marked(entries, merged, ctx.conflicts)
    if marked is None:
        return None
    return list(merged.values()), marked, ctx.conflicts


def _marked(
    entries: dict[str, Any], merged: dict[str, bytes], conflicts: list[Conflict]
) -> list[tuple[bytes, bytes]] | None:
    """(merged chunk, its marked form) of each conflicted entry, in key order."""
    by_key: dict[str, list[Conflict]] = {}
    for c in conflicts:  # grouped in one pass: an entry's own conflicts, in the order found
        by_key.setdefault(c.path[1], []).append(c)
    marked = []
    for key in sorted(by_key):
        shown = _marked_chunk(key, entries[key], by_key[key])
        if shown is None:
            return None
        marked.append((merged[key], shown))
    return marked


def _side_entries(groups: dict[str, list[Any]], side: int) -> dict[str, Any] | None:
    """One side's entries of the changed IDs (for who-gave-what in a collision)."""
    out = {}
    for pair in groups.values():
        if pair[side] is not None:
            entry = parse_chunk(pair[side][1])
            if entry is None:
                return None
            out[pair[side][0]] = entry
    return out


def _marked_chunk(key: str, entry: Any, conflicts: list[Conflict]) -> bytes | None:
    """The chunk of one entry with its conflicts between markers, rendered as the document
    merge renders it (an entry's regions never reach outside the entry)."""
    doc = {"mappings": {key: entry}, "updated": UNKNOWN_TIME, "version": CURRENT}
    text = render(MergeResult(MAPPING, doc, conflicts))
    start = len(HEAD)
    end = text.rfind(TAIL_START)
    member = text[start:end]
    if not member.startswith(b'    "'):
        return None
    return member[5:] + b","


def _merge_group(
    folded: str, o: Any, t: Any, base: ChunkIndex, ctx: Ctx
) -> tuple[str, Any, bytes] | Any | None:
    """(key, entry, chunk) of one changed ID, MISSING if it is deleted, None if not clean."""
    if not base.ok:
        return None
    if t is not None and base.has(t[1]):  # theirs left it as base had it: ours decides
        return _taken(o)
    if o is not None and base.has(o[1]):
        return _taken(t)
    o_entry = parse_chunk(o[1]) if o is not None else MISSING
    t_entry = parse_chunk(t[1]) if t is not None else MISSING
    if o_entry is None or t_entry is None:
        return None
    found = base.entry(spellings(folded, o[0] if o else None, t[0] if t else None))
    b_key, b_entry = found if found is not MISSING else (None, MISSING)
    key = spelling(b_key, o[0] if o else None, t[0] if t else None)
    entry = merge_entry(key, b_entry, o_entry, t_entry, ctx)
    if entry is MISSING:
        return MISSING
    return key, entry, entry_chunk(key, entry)


def _taken(side: Any) -> tuple[str, Any, bytes] | Any | None:
    if side is None:
        return MISSING
    entry = parse_chunk(side[1])
    return None if entry is None else (side[0], entry, side[1])


def _collides(entries: dict[str, Any]) -> bool:
    seen: set[tuple[str, Any]] = set()
    for entry in entries.values():
        if not isinstance(entry, dict):
            return True
        for tool in TOOLS:
            if tool in entry:
                if (tool, entry[tool]) in seen:
                    return True
                seen.add((tool, entry[tool]))
    return False
