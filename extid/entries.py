"""Canonical mapping bytes, entry by entry: the store's fast path of single changes.

A 10k-entry mapping file is ~1.6 MB; dumping all of it for every allocation costs as much as
the durable write, and re-parsing it after another process wrote costs ~30x more. Canonical
bytes have a layout simple enough to work on directly: every entry starts on a line indented
by exactly 4 (`    "KEY": {`), holds only strings (the schema), ends with `    }`, and
entries follow each other in key order, separated by `,\n`. This module edits and compares
such bytes, and declines (returns None) whatever it cannot show to be that layout; the caller
then dumps or parses the whole document (`extid.document`), which stays the definition.
"""

from __future__ import annotations

import json
from collections import namedtuple

from .slices import envelope_rest, envelope_tail

TYPE_CHECKING = False  # not typing's: see errors.py
if TYPE_CHECKING:
    from collections.abc import Container, Iterable
    from typing import Any

_ENTRIES_HEAD = b'{\n  "mappings": {\n'
_ENTRIES_END = b"\n  }"  # the line closing "mappings" (a line indented by exactly 2)
_ENTRY_BORDER = b',\n    "'  # a separator, then a line indented by exactly 4: the next entry
_ENTRY_SEP = b",\n"
_ENTRY_LINE = b'\n    "'  # a line indented by exactly 4 that starts with a key: an entry
_ENTRY_CLOSE = b"\n    }"  # entries hold only strings, so their closing brace ends them
_SCAN_BYTES = 2048  # below this, the place of a key is found by walking entries


def splice_mappings(old: bytes, doc: dict[str, Any], keys: Iterable[str]) -> bytes | None:
    """`canonical(doc)`, made from `old` (the canonical bytes of the previous version of the
    mapping document `doc`) by re-rendering only the entries named in `keys`.

    For the store's writes: a 10k-entry file is ~1.6 MB, and dumping all of it for every
    allocation costs as much as the durable write itself. Valid only when `doc` differs from
    what `old` encodes in those entries and the fields after "mappings" alone, and every entry
    holds only strings under an internal-ID key (the schema), which is what makes the borders
    of entries findable in the bytes. Returns None when `old` or `doc` is not laid out as
    assumed; the caller then dumps the whole document.
    """
    mappings = doc.get("mappings")
    rest = {key: value for key, value in doc.items() if key != "mappings"}
    if not (isinstance(mappings, dict) and mappings and old.startswith(_ENTRIES_HEAD)):
        return None
    body = _Body(old, len(_ENTRIES_HEAD), old.rfind(_ENTRIES_END))
    tail = envelope_tail(rest) if all(key > "mappings" for key in rest) else None
    if tail is None or body.stop < body.start or not old.startswith(b'    "', body.start):
        return None
    runs: list[bytes | memoryview] = []  # each a sequence of whole entries
    view = memoryview(old)  # unchanged runs are views: copying 1.6 MB in slices costs ~1 ms
    cursor = body.start
    for key in sorted(set(keys)):
        quoted = _plain_quoted(key)
        if quoted is None:
            return None
        start, stop = body.span(key, quoted)
        if start > cursor:
            runs.append(view[cursor : start - len(_ENTRY_SEP) if start < body.stop else start])
        entry = mappings.get(key)
        if entry is not None:
            runs.append(_render_entry(key, entry))
        cursor = max(cursor, stop)
    if cursor < body.stop:
        runs.append(view[cursor : body.stop])
    if not runs:
        return None
    parts: list[bytes | memoryview] = [_ENTRIES_HEAD]
    for run in runs:
        parts += (run, _ENTRY_SEP)
    parts[-1] = tail  # the last separator
    return b"".join(parts)


def _plain_quoted(key: str) -> bytes | None:
    """`key` as a JSON string, if it needs no escape (an internal ID never does)."""
    if not (isinstance(key, str) and key.isascii() and key.isprintable()):
        return None
    return None if '"' in key or "\\" in key else b'"' + key.encode() + b'"'


def _render_entry(key: str, entry: Any) -> bytes:
    """One entry as it appears in the canonical dump of the whole document (at depth 2)."""
    text = json.dumps({key: entry}, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    # `{\n  "key": {...}\n}` -> `    "key": {...}`: each line moved one level further in.
    inner = text.encode("utf-8", "surrogatepass")[2:-2]
    return b"  " + inner.replace(b"\n", b"\n  ")


class _Body(namedtuple("_Body", ["data", "start", "stop"])):
    """The entries of a canonical mapping document: `data[start:stop]`, `,\n` between them."""

    __slots__ = ()
    data: bytes
    start: int
    stop: int

    def span(self, key: str, quoted: bytes) -> tuple[int, int]:
        """(start, stop) of `key`'s entry, `stop` being where the next entry starts; for a key
        not there, (start, start) at the place where it belongs in sorted order."""
        at = self.slot(key)
        needle = b"    " + quoted + b": {"
        if not self.data.startswith(needle, at, self.stop):
            return at, at
        brace = at + len(needle)
        if self.data.startswith(b"}", brace):  # an empty entry: `"key": {}`
            close = brace + 1
        else:
            close = self.data.find(_ENTRY_CLOSE, brace, self.stop) + len(_ENTRY_CLOSE)
        return at, min(close + len(_ENTRY_SEP), self.stop)

    def slot(self, key: str) -> int:
        """Where the first entry with a key at or above `key` starts (`stop` if none): a
        binary search over byte offsets (scanning 1.6 MB for a key costs ~0.5 ms), then a
        short walk over entries."""
        lo, hi = self.start, self.stop  # entries starting before lo sort below key
        while hi - lo > _SCAN_BYTES:
            mid = (lo + hi) // 2
            at = self.next_entry(mid)
            if at >= hi:
                hi = mid
            elif self.key_at(at) < key:
                lo = at + 1
            else:
                hi = at
        at = self.next_entry(lo)
        while at < self.stop and self.key_at(at) < key:
            at = self.next_entry(at + 1)
        return at

    def next_entry(self, pos: int) -> int:
        """Start of the first entry at or after `pos` (`stop` if none)."""
        if pos <= self.start:
            return self.start
        at = self.data.find(_ENTRY_LINE, pos - 1, self.stop)
        return self.stop if at < 0 else at + 1

    def key_at(self, at: int) -> str:
        # Keys are internal IDs: no escapes, so the next quote closes the key.
        return self.data[at + 5 : self.data.index(b'"', at + 5)].decode()


class EntryDiff(namedtuple("EntryDiff", ["changed", "removed", "rest"])):
    """How a canonical mapping document differs from an earlier one, entry by entry:
    `changed` key -> entry (new or different), `removed` the keys gone, `rest` the fields
    besides "mappings" (the envelope)."""

    __slots__ = ()
    changed: dict[str, Any]
    removed: set[str]
    rest: dict[str, Any]


#: Above this many differing entries a whole parse is as quick, and simpler to trust.
DIFF_LIMIT = 2000


def diff_entries(old: bytes, new: bytes, old_keys: Container[str]) -> EntryDiff | None:
    """The entries `new` changed compared with `old`, when both are canonical mapping
    documents and `new` was most likely written by extid too; None when that cannot be shown
    cheaply (the caller parses `new` whole, which also names any problem).

    For the store, when another process wrote the registry since this one last read it:
    comparing the two files as runs of entry bytes (C-speed splits and set operations) and
    parsing only what differs costs ~3 ms at 10k entries, against ~60 ms for a whole parse
    and validation. `old_keys` are the keys of `old` as parsed (to rule out a key twice).
    Every changed entry must be exactly its own canonical rendering, and the entries of
    `new` must ascend, so `new` is the canonical dump of the document returned.
    """
    if not (old.startswith(_ENTRIES_HEAD + b'    "') and new.startswith(_ENTRIES_HEAD + b'    "')):
        return None
    envelope = envelope_rest(new)
    if envelope is None:
        return None
    end, rest = envelope
    before = old[len(_ENTRIES_HEAD) + 5 : old.rfind(_ENTRIES_END)].split(_ENTRY_BORDER)
    after = new[len(_ENTRIES_HEAD) + 5 : end].split(_ENTRY_BORDER)
    gone, came = set(before), set(after)
    gone.difference_update(after)
    came.difference_update(before)
    if len(gone) + len(came) > DIFF_LIMIT or after != sorted(after):
        return None
    removed = {chunk[: chunk.index(b'"')].decode() for chunk in gone}
    changed: dict[str, Any] = {}
    for chunk in came:
        entry = _entry_of(chunk)
        if (
            entry is None
            or entry[0] in changed
            or (entry[0] in old_keys and entry[0] not in removed)
        ):
            return None  # not canonical, or a key twice
        changed[entry[0]] = entry[1]
    return EntryDiff(changed, removed - changed.keys(), rest)


def _entry_of(chunk: bytes) -> tuple[str, Any] | None:
    """(key, entry) of one entry's bytes as split out by `diff_entries` (`KEY": {...}`), if
    they are exactly the canonical rendering of that entry."""
    try:
        parsed = json.loads(b'{"' + chunk + b"}")
    except ValueError:
        return None
    if not isinstance(parsed, dict) or len(parsed) != 1:
        return None
    ((key, entry),) = parsed.items()
    quoted = _plain_quoted(key)
    if quoted is None or _render_entry(key, entry) != b'    "' + chunk:
        return None
    return key, entry
