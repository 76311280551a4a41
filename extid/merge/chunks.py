"""A canonical 1.0 mapping file as a sorted list of entry chunks, worked on as bytes.

In canonical form every entry is one chunk of text starting at `\n    "`: split the file there,
compare and subtract sorted chunk lists, parse one chunk, find one of base's entries by binary
search over its bytes, and write an entry back as its canonical chunk.
"""

from __future__ import annotations

import bisect
import itertools
import json
import operator
import re
from collections.abc import Iterable
from typing import Any

from .render import member

HEAD = b'{\n  "mappings": {\n'
ENTRY_SEP = b'\n    "'
TAIL_START = b'\n  },\n  "updated": '
_TAIL_RE = re.compile(rb'\n  },\n  "updated": ("[^"\\\n]*"),\n  "version": "1\.0"\n}\n')
_EMPTY_RE = re.compile(
    rb'\{\n  "mappings": \{\},\n  "updated": "[^"\\\n]*",\n  "version": "1\.0"\n\}\n'
)


def ascending(chunks: list[bytes]) -> bool:
    """Strictly sorted: canonical order, and no chunk twice."""
    return all(map(operator.lt, chunks, itertools.islice(chunks, 1, None)))


#: Entries compared at once while the two sides run equal (list equality runs in C): the block
#: doubles while they do, and shrinks near a difference, so that even one changed entry in ten
#: leaves most entries to the C comparison (a fixed block of 128 almost always held one).
_BLOCK, _MAX_BLOCK = 128, 1024


def differences(a: list[bytes], b: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Chunks only in `a` and only in `b`, for two strictly ascending lists: a merge walk that
    compares whole blocks while they are equal, so cost follows the differences, not the size."""
    only_a: list[bytes] = []
    only_b: list[bytes] = []
    i = j = 0
    n, m = len(a), len(b)
    block = _BLOCK
    while i < n and j < m:
        if a[i : i + block] == b[j : j + block]:
            i += block
            j += block
            block = min(block * 2, _MAX_BLOCK)
            continue
        if block > 4:
            block //= 4
            continue
        x, y = a[i], b[j]
        if x == y:
            i += 1
            j += 1
        elif x < y:
            only_a.append(x)
            i += 1
        else:
            only_b.append(y)
            j += 1
    only_a += a[i:]
    only_b += b[j:]
    return only_a, only_b


def without(chunks: list[bytes], remove: list[bytes]) -> list[bytes]:
    """Sorted `chunks` less the few in `remove`, found by binary search."""
    positions = sorted(bisect.bisect_left(chunks, chunk) for chunk in remove)
    out: list[bytes] = []
    start = 0
    for i in positions:
        out += chunks[start:i]
        start = i + 1
    out += chunks[start:]
    return out


def split_chunks(data: bytes) -> tuple[list[bytes], bytes] | None:
    """Entry chunks `KEY": {...},` (each with a trailing comma) and the raw `updated` token."""
    if not data.startswith(HEAD):
        return None
    at = data.rfind(TAIL_START)
    m = _TAIL_RE.fullmatch(data, at) if at > 0 else None
    if m is None:
        return None
    chunks = data.split(ENTRY_SEP)  # the first separator ends HEAD
    if len(chunks) < 2 or chunks[0] != HEAD[:-1]:
        return None
    del chunks[0]
    chunks[-1] = chunks[-1][: len(chunks[-1]) - (len(data) - at)] + b","
    return chunks, m.group(1)


def chunk_key(chunk: bytes) -> str | None:
    end = chunk.find(b'": ')
    if end <= 0:
        return None
    try:
        key = json.loads(b'"' + chunk[:end] + b'"')
    except ValueError:
        return None
    return key if isinstance(key, str) else None


#: From this many chunks on, `parse_many` tries one orjson call (its import costs ~20 ms).
_BATCH = 64


def parse_many(chunks: list[bytes]) -> list[tuple[str, Any] | None]:
    """(key, entry) of each chunk as `chunk_key` and `parse_chunk` give them (None for a chunk
    that is not one well-formed member).

    Many chunks are parsed in one orjson call, and its answer is kept only when dumping it
    gives the chunks back byte for byte: such text has no duplicate key (the dump would be
    shorter), and orjson refuses NaN and lone surrogates, so it passes the stdlib's strict
    hooks (extid.strict) with the same values. Otherwise each chunk is parsed on its own."""
    if len(chunks) >= _BATCH:
        import orjson  # deferred: large files only

        body = ENTRY_SEP.join(chunks)[:-1]
        try:
            obj = orjson.loads(b'{\n    "' + body + b"\n  }")
            option = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
            dump = orjson.dumps({"mappings": obj}, option=option)
        except (orjson.JSONDecodeError, TypeError):
            dump = b""
        if dump == HEAD + b'    "' + body + b"\n  }\n}":
            return list(obj.items())
    return [_parsed(chunk_key(chunk), parse_chunk(chunk)) for chunk in chunks]


def _parsed(key: str | None, entry: Any) -> tuple[str, Any] | None:
    return None if key is None or entry is None else (key, entry)


def parse_chunk(chunk: bytes) -> Any:
    """The entry of one chunk, parsed strictly; None if it is not one well-formed member."""
    try:
        obj = json.loads(b'{"' + chunk[:-1] + b"}", object_pairs_hook=_unique, parse_constant=_no)
    except (ValueError, RecursionError):  # too deep: the document parse names it
        return None
    if not isinstance(obj, dict) or len(obj) != 1:
        return None
    return next(iter(obj.values()))


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


def _no(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


class ChunkIndex:
    """Base's entries found by binary search over its bytes (never split: only the changed
    IDs are looked up). Canonical files are sorted; an unsorted base only makes a lookup miss,
    and a missed entry counts as new, which never drops anything."""

    def __init__(self, base: bytes) -> None:
        self.data = base
        self.ok = True
        self.lo = self.hi = 0
        if base.strip() and _EMPTY_RE.fullmatch(base) is None:
            at = base.rfind(TAIL_START)
            self.ok = base.startswith(HEAD) and at > 0 and _TAIL_RE.fullmatch(base, at) is not None
            self.lo, self.hi = len(HEAD) - 1, at
        self._found: dict[bytes, bytes | None] = {}
        self._last = (b"", self.lo)  # the last prefix found, and where its chunk's separator is

    def _find(self, prefix: bytes) -> bytes | None:
        """The chunk that starts with `prefix` (`KEY": `), or None; each prefix is searched
        once (a changed entry asks for its key up to three times)."""
        if prefix not in self._found:
            self._found[prefix] = self._search(prefix)
        return self._found[prefix]

    def _search(self, prefix: bytes) -> bytes | None:
        data, sep, width = self.data, ENTRY_SEP, len(ENTRY_SEP)
        lo, hi = self._near(prefix)
        while lo < hi:
            mid = (lo + hi) // 2
            start = data.find(sep, mid, hi + width - 1)
            if start < 0:
                hi = mid
                continue
            head = data[start + width : start + width + len(prefix)]
            if head == prefix:
                self._last = (prefix, start)
                end = data.find(sep, start + 1, self.hi + width - 1)
                return data[start + width : end if end >= 0 else self.hi] + (
                    b"" if end >= 0 else b","
                )
            if head < prefix:
                lo = start + 1
            else:
                hi = start
        return None

    def _near(self, prefix: bytes) -> tuple[int, int]:
        """The byte range to search for `prefix`: the IDs are asked for mostly in ascending
        order, so from the last one found, in steps that double until one passes `prefix`
        (a few steps where the changed IDs are dense, instead of a search over the file)."""
        data, sep, width = self.data, ENTRY_SEP, len(ENTRY_SEP)
        lo, hi = self.lo, self.hi
        if not self._last[0] or prefix <= self._last[0]:
            return lo, hi
        lo, step = self._last[1] + 1, 4096
        while lo + step < hi:
            start = data.find(sep, lo + step, hi + width - 1)
            if start < 0:
                return lo, lo + step
            if data[start + width : start + width + len(prefix)] >= prefix:
                return lo, start + 1
            lo, step = start + 1, step * 2
        return lo, hi

    def has(self, chunk: bytes) -> bool:
        return self._find(chunk[: chunk.find(b'": ') + 3]) == chunk

    def chunk(self, spellings: Iterable[str]) -> tuple[str, bytes] | None:
        """(key, chunk) of base's entry under the first of `spellings` it has, None if none.

        The spellings tried are the sides' and the upper- and lower-case forms; an ID that
        base spells in yet another mixed case is taken as new, which at worst keeps a field
        one side deleted (never drops one)."""
        for key in spellings:
            prefix = json.dumps(key, ensure_ascii=False)[1:-1].encode("utf-8") + b'": '
            chunk = self._find(prefix)
            if chunk is not None:
                return key, chunk
        return None


def entry_chunk(key: str, entry: Any) -> bytes:
    """The canonical chunk of one entry."""
    return member(key, entry, 4)[5:].encode("utf-8") + b","


#: Entries parsed at once by `verified`: a slice of ~300 kB.
_SLICE = 2048


def verified(chunks: list[bytes]) -> bool:
    """The entries of sorted `chunks` are valid JSON, one entry per chunk, their keys strictly
    ascending (so no key twice). Parsed a slice at a time: the registry decoded whole would
    take ~6x its text, which was most of a clean merge's peak memory."""
    import orjson  # deferred: large files only

    last = ""
    for at in range(0, len(chunks), _SLICE):
        part = chunks[at : at + _SLICE]
        try:
            keys = list(orjson.loads(b'{"' + ENTRY_SEP.join(part)[:-1] + b"}"))
        except orjson.JSONDecodeError:
            return False
        if len(keys) != len(part) or not (last < keys[0] and ascending(keys)):
            return False
        last = keys[-1]
    return True
