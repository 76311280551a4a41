"""A canonical mapping document read in slices of whole entries (large files): each slice
parsed and dumped back on its own, so that `check`, `format --check` and the parse of a large
registry never hold orjson's parse of the whole file at once."""

from __future__ import annotations

from .document import TOO_DEEP, orjson_canonical

TYPE_CHECKING = False  # not typing's: see errors.py
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


#: A canonical mapping document is read in slices of about this many bytes of whole entries:
#: orjson's parse of a whole 16 MB file needs ~30 MB on top of the result for a moment, which
#: was the peak of `extid format --check` at 100k entries.
SLICE_BYTES = 256 * 1024
_SLICE_HEAD = b'{\n  "mappings": {\n'
_SLICE_END = b"\n  }"  # the line closing "mappings" (a line indented by exactly 2)
_ENTRY_BORDER = b',\n    "'  # in canonical form, a line indented by exactly 4 starts an entry


class NotCanonical(Exception):
    """Raised by the parts of `canonical_slices` at the first slice that is not canonical."""


def canonical_slices(data: bytes) -> tuple[dict[str, Any], Iterator[dict[str, Any]]] | None:
    """The fields after "mappings" of a canonical mapping document in `data`, and its entries
    as dicts of about SLICE_BYTES each; None where the layout around the entries is not
    canonical.

    Each slice of whole entries is parsed and dumped on its own and must come back byte for
    byte, and keys must ascend across slices; so once every part was taken without raising
    NotCanonical, the whole file equals the canonical dump of its parse, which also rules out
    duplicate keys (see the module docstring). A reader that needs only some of each part
    (`extid check`, `format --check`) drops it before taking the next, and never holds the
    whole parse. NotCanonical says nothing about validity: the caller then parses the whole
    file the ordinary way.
    """
    if not data.startswith(_SLICE_HEAD) or TOO_DEEP in data:
        return None
    envelope = envelope_rest(data)
    if envelope is None:
        return None
    end, rest = envelope
    return rest, _slices(data, end)


def _slices(data: bytes, end: int) -> Iterator[dict[str, Any]]:
    pos, last = len(_SLICE_HEAD), None
    while pos < end:
        cut = data.find(_ENTRY_BORDER, min(pos + SLICE_BYTES, end), end)
        stop = end if cut < 0 else cut
        chunk = data[pos:stop]
        part = _loads_or_none(b"{" + chunk + b"}")
        if not part or (last is not None and last >= next(iter(part))):
            raise NotCanonical
        dumped = orjson_canonical({"mappings": part})  # puts the entries at their indentation
        if dumped is None or dumped[len(_SLICE_HEAD) : -len(_SLICE_END + b"\n}")] != chunk:
            raise NotCanonical
        pos, last = stop + len(b",\n"), next(reversed(part))
        yield part


def is_canonical_mapping(data: bytes) -> dict[str, Any] | None:
    """The fields after "mappings" if `data` is a canonical mapping document (shown slice by
    slice, no parse held), else None: not canonical, or another kind of document."""
    slices = canonical_slices(data)
    if slices is None:
        return None
    try:
        for _ in slices[1]:
            pass
    except NotCanonical:
        return None
    return slices[0]


def parse_canonical(data: bytes) -> dict[str, Any] | None:
    """The document in `data` if `data` is a canonical mapping document, else None."""
    slices = canonical_slices(data)
    if slices is None:
        return None
    mappings: dict[str, Any] = {}
    try:
        for part in slices[1]:
            mappings.update(part)
    except NotCanonical:
        return None
    return {"mappings": mappings, **slices[0]}


def envelope_rest(data: bytes) -> tuple[int, dict[str, Any]] | None:
    """Where the entries of a canonical mapping document end (the line closing "mappings")
    and its fields after them, if those bytes are canonical; None for another layout.

    Found from the end: only the short rest of the envelope follows (a document whose other
    top-level keys hold objects fails the checks and is read another way).
    """
    end = data.rfind(_SLICE_END, len(_SLICE_HEAD))
    if end < 0:
        return None
    doc = _loads_or_none(b'{"mappings": {}' + data[end + len(_SLICE_END) :])
    if not isinstance(doc, dict) or any(key < "mappings" for key in doc):
        return None
    rest = {key: value for key, value in doc.items() if key != "mappings"}
    return (end, rest) if data[end:] == envelope_tail(rest) else None


def envelope_tail(rest: dict[str, Any]) -> bytes | None:
    """The canonical bytes after the last entry of a mapping document: the end of
    "mappings", then the other keys (`rest`); None where orjson would not dump canonically."""
    if not rest:
        return _SLICE_END + b"\n}\n"
    out = orjson_canonical(rest)
    return None if out is None else _SLICE_END + b",\n" + out[len(b"{\n") :] + b"\n"


def _loads_or_none(data: bytes) -> Any:
    import orjson  # deferred: see LARGE_BYTES

    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
