"""The byte-level merge of big canonical mapping files: only the entries that differ are parsed.

Entries equal on both sides are equal chunks and are copied without being parsed; the changed
entries are merged as the document merge merges them (collisions, field conflicts and
deletions against changes left as conflicts, all marked in one pass by render.mark), and the
result is checked before it is trusted. Anything it cannot prove (not canonical-looking, a
changed entry that breaks the schema) declines, and the documents are merged.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable
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
    differences,
    entry_chunk,
    parse_many,
    split_chunks,
    verified,
    without,
)
from .collisions import settle_collisions
from .decide import MISSING, Conflict, Ctx, Renumbered, later, spelling, spellings
from .render import Views, mark, placeholder, whole_tasks
from .three_way import merge_entry


@dataclass
class BytesMerge:
    """A merge done on bytes: the file's new contents and what is left between markers."""

    data: bytes
    conflicts: list[Conflict] = field(default_factory=list)
    renumbered: list[Renumbered] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.conflicts


def fast_merge_mapping(
    base: bytes,
    ours: bytes,
    theirs: bytes,
    labels: Callable[[], tuple[str, str]] = lambda: ("ours", "theirs"),
) -> BytesMerge | None:
    """The merge of three canonical 1.0 mapping files, worked on bytes, with collisions,
    field conflicts and deletions against changes left as conflicts; None when it does not
    apply (not canonical-looking, a changed entry that breaks the schema): then merge the
    documents.

    In canonical form every entry is one chunk of text starting at `\n    "`, so entries equal
    on both sides are equal chunks and are copied without being parsed; only the changed
    entries are parsed and merged. The result (with ours' side of any conflict) must be sorted
    without duplicates and parse with one entry per chunk, else None. (Inner formatting of
    copied entries is taken as the sides have it: `extid format --check` names it.)
    `labels()`, asked only when there are conflicts, names the sides in the markers.
    """
    o_side, t_side = split_chunks(ours), split_chunks(theirs)
    if o_side is None or t_side is None:
        return None
    (o_chunks, o_updated), (t_chunks, t_updated) = o_side, t_side
    del o_side, t_side
    if not (ascending(o_chunks) and ascending(t_chunks)):
        return None  # not sorted, or one ID twice: the documents decide
    o_changed, t_changed = differences(o_chunks, t_chunks)
    del t_chunks  # only what theirs changed is needed from here on (memory: see verified)
    o_entries, t_entries = _side(o_changed), _side(t_changed)
    if o_entries is None or t_entries is None:
        return None  # the document merge names the problem and falls back to markers
    merged = _merge_chunks(base, o_entries, t_entries)
    if merged is None:
        return None
    settled, held, conflicts, views = merged
    # Sorted runs: the sort merges them in linear time (an insort each was quadratic when
    # most entries changed). Checked with ours' side of each conflict.
    ours_held = [chunk for chunk, _ in held if chunk is not None]
    chunks = without(o_chunks, o_changed) + settled + ours_held
    del o_chunks
    chunks.sort()
    if not chunks or not ascending(chunks) or not verified(chunks):
        return None
    updated = later(json.loads(o_updated), json.loads(t_updated))
    stamp = json.dumps(updated, ensure_ascii=False).encode("utf-8")
    tail = TAIL_START + stamp + b',\n  "version": "1.0"\n}\n'
    if not held:
        return BytesMerge(_text(chunks, tail))
    chunks = without(chunks, ours_held)  # each conflicted entry is shown marked instead
    shown = [chunk for _, chunk in held if chunk is not None]
    if any(_holds(chunks, chunk) for chunk in shown):
        return None  # a conflicted ID also in a copied entry: one ID twice
    chunks += shown
    chunks.sort()
    return BytesMerge(mark(_text(chunks, tail), conflicts, labels(), views), conflicts)


def _text(chunks: list[bytes], tail: bytes) -> bytes:
    """The file of sorted `chunks`, joined at once (each copy of a 100 MB file counts)."""
    return ENTRY_SEP.join([HEAD[:-1], *chunks[:-1], chunks[-1][:-1] + tail])


def _holds(chunks: list[bytes], chunk: bytes) -> bool:
    """Whether sorted `chunks` hold an entry under the key `chunk` starts with."""
    prefix = chunk[: chunk.find(b'": ') + 3]
    at = bisect.bisect_left(chunks, prefix)
    return at < len(chunks) and chunks[at].startswith(prefix)


Entry = tuple[str, bytes, Any]  # key, chunk, parsed entry


def _side(chunks: list[bytes]) -> list[Entry] | None:
    """The entries a side changed, parsed, if they are well-formed and follow the schema (the
    entries both sides share are the same bytes on both: the merge adds nothing there)."""
    from ..validate import check_document

    out = []
    for chunk, parsed in zip(chunks, parse_many(chunks), strict=True):
        if parsed is None:
            return None
        out.append((parsed[0], chunk, parsed[1]))
    doc = {"mappings": {k: e for k, _, e in out}, "updated": UNKNOWN_TIME, "version": CURRENT}
    return None if check_document(doc, MAPPING, "", semantics=False) else out


Held = tuple["bytes | None", "bytes | None"]  # ours' side of a conflicted entry, what it shows


def _merge_chunks(
    base: bytes, o_changed: list[Entry], t_changed: list[Entry]
) -> tuple[list[bytes], list[Held], list[Conflict], Views] | None:
    """The merged chunks of the entries that differ between the sides and have no conflict,
    ours' chunk (None: ours deleted it) and the placeholder chunk of each conflicted entry
    (see render.mark), and the conflicts; None where only the document merge can answer."""
    groups: dict[str, list[Any]] = {}
    for side, entries in ((0, o_changed), (1, t_changed)):
        for item in entries:
            group = groups.setdefault(fold(item[0]), [None, None])
            if group[side] is not None:
                return None  # two spellings of one ID on one side: let the documents decide
            group[side] = item
    index = ChunkIndex(base)
    if not index.ok:
        return None
    results: dict[str, Any] = {}
    todo: list[tuple[str, Entry | None, Entry | None, tuple[str, bytes] | None]] = []
    for folded, (o, t) in sorted(groups.items()):
        if t is not None and index.has(t[1]):  # theirs left it as base had it: ours decides
            results[folded] = o or MISSING
        elif o is not None and index.has(o[1]):
            results[folded] = t or MISSING
        else:
            keys = (o[0] if o else None, t[0] if t else None)
            todo.append((folded, o, t, index.chunk(spellings(folded, *keys))))
            results[folded] = None  # its place in key order: collisions are looked for in it
    del index
    # Base's entries of the IDs changed on both sides, parsed in one call (in byte order:
    # folded order differs where a key has lower-case letters).
    wanted = sorted({b[1] for *_, b in todo if b is not None})
    found = dict(zip(wanted, parse_many(wanted), strict=True))
    ctx = Ctx("conflict")
    for folded, o, t, b in todo:
        parsed = found[b[1]] if b is not None else None
        b_key, b_entry = (b[0], parsed[1]) if b is not None and parsed else (None, MISSING)
        key = spelling(b_key, o[0] if o else None, t[0] if t else None)
        o_entry, t_entry = (s[2] if s else MISSING for s in (o, t))
        entry = merge_entry(key, b_entry, o_entry, t_entry, ctx)
        results[folded] = MISSING if entry is MISSING else (key, b"", entry)
    return _settle(results, groups, ctx)


def _settle(
    results: dict[str, Any], groups: dict[str, list[Any]], ctx: Ctx
) -> tuple[list[bytes], list[Held], list[Conflict], Views] | None:
    """The merged entries as chunks: settled, or held for `mark` with their conflicts'
    placeholders in place (a collision shown whole: at its first task, the second taken out,
    as render does), and the collisions shown whole."""
    entries = {r[0]: r[2] for r in results.values() if r is not MISSING}
    views: Views = {}
    if _collides(entries):
        o_side, t_side = ({g[s][0]: g[s][2] for g in groups.values() if g[s]} for s in (0, 1))
        settle_collisions(entries, list(entries), o_side, t_side, "conflict", {}, ctx)
        views = whole_tasks({"mappings": entries}, ctx.conflicts)
    shown: dict[str, Any] = {}  # what each conflicted entry shows (None: nothing)
    for n, c in enumerate(ctx.conflicts):  # in one pass: linear in the conflicts
        if n in views:
            first, second = sorted(views[n][0])
            shown[first], shown[second] = placeholder(n), None
            continue
        entry = shown.get(c.path[1], entries.get(c.path[1], MISSING))
        if len(c.path) == 2:
            shown[c.path[1]] = placeholder(n)
        elif isinstance(entry, dict):
            shown[c.path[1]] = {**entry, c.path[2]: placeholder(n)}
        else:
            return None
    settled = [
        chunk or entry_chunk(key, entry)
        for r in results.values()
        if r is not MISSING and r[0] not in shown
        for key, chunk, entry in (r,)
    ]
    held = [
        (
            None if key not in entries else entry_chunk(key, entries[key]),
            None if value is None else entry_chunk(key, value),
        )
        for key, value in shown.items()
    ]
    return settled, held, ctx.conflicts, views


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
