"""The two documents as bytes: strict parse, canonical dump, kind detection.

Pure: bytes in, Python objects out (and back). Speed matters here (hooks run on every commit and
registries reach 100k entries), so the common case takes a fast path:

* orjson parses; if the canonical dump of the result equals the input bytes, the input is
  canonical and therefore has no duplicate keys (a duplicate would make the input longer than
  the dump of its parse). Nothing else needs checking.
* anything else (non-canonical, or orjson refused it) goes through the stdlib parser with hooks
  that detect duplicate keys, NaN/Infinity, huge numbers and lone surrogates, which also gives
  the precise error message.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, NamedTuple

from .errors import ParseError, jpath
from .ids import INTERNAL_ID_RE, TOOLS

Kind = Literal["mapping", "counters"]
MAPPING: Kind = "mapping"
COUNTERS: Kind = "counters"
ENVELOPE_KEY: dict[Kind, str] = {MAPPING: "mappings", COUNTERS: "counters"}

#: Refuse files larger than this before reading them into a parser (100k entries is ~20 MB).
MAX_BYTES = 128 * 1024 * 1024
#: Our documents are 4 levels deep; anything far deeper is hostile.
MAX_DEPTH = 64
#: Integers with more digits than this are refused (2**53 has 16).
MAX_INT_DIGITS = 20

#: Below this size the stdlib is faster end to end: importing orjson costs more (~20 ms) than
#: it saves, and hooks mostly see small files.
LARGE_BYTES = 256 * 1024
#: The same threshold counted in entries, for documents already in memory.
LARGE_ENTRIES = 1000
# A number token with a fraction or exponent in orjson's canonical output. orjson and the stdlib
# spell some floats differently (1e-05), so such documents are dumped by the stdlib. A match
# inside a string is a harmless false positive: it only costs the slower dump.
_FLOAT_TOKEN_RE = re.compile(rb"(?:\A|: |\n *)-?[0-9]+[.eE]")
# The same for object members only. Its literal prefix lets the regex engine skip from one ": "
# to the next: ~10x faster on 16 MB than the pattern above, which tries every position. Array
# elements and a bare top-level number are the only other places a number can be; our documents
# have neither, so the full pattern runs only when `[` or a leading number says it might match.
_FLOAT_MEMBER_RE = re.compile(rb": -?[0-9]+[.eE]")
_CONFLICT_RE = re.compile(rb"^(?:<<<<<<<|=======|>>>>>>>|\|\|\|\|\|\|\|)(?: |\r?$)", re.M)
# In canonical bytes every newline is structural and a value at depth d is indented 2*d, so a
# line indented deeper than this is nesting over MAX_DEPTH: the fast path must not accept it.
_TOO_DEEP = b"\n" + b" " * (2 * MAX_DEPTH + 2)


class Parsed(NamedTuple):
    """A parsed document and whether its bytes were already canonical."""

    obj: Any
    canonical: bool


def canonical(obj: Any) -> bytes:
    """The one byte form every write produces: indent 2, sorted keys, UTF-8, LF, final newline.

    Defined as `json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\\n"`;
    orjson produces the same bytes faster except for some float spellings.
    """
    if not _is_large(obj):
        return _stdlib_dump(obj)
    import orjson  # deferred: see LARGE_BYTES

    try:
        out = orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits
        return _stdlib_dump(obj)
    if _has_float_token(out):
        return _stdlib_dump(obj)
    return out + b"\n"


def _has_float_token(out: bytes) -> bool:
    if _FLOAT_MEMBER_RE.search(out) is not None:
        return True
    if b"[" in out or out[:1] in (b"-", *(b"%d" % d for d in range(10))):
        return _FLOAT_TOKEN_RE.search(out) is not None
    return False


def _is_large(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    inner = obj.get("mappings", obj)
    return isinstance(inner, dict) and len(inner) > LARGE_ENTRIES


def _stdlib_dump(obj: Any) -> bytes:
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", "surrogatepass") + b"\n"


def conflict_marker_line(data: bytes) -> int | None:
    """1-based line of the first git conflict marker, if any."""
    m = _CONFLICT_RE.search(data)
    return None if m is None else data.count(b"\n", 0, m.start()) + 1


def parse(data: bytes, name: str) -> Parsed:
    """Strictly parse `data` (the contents of file `name`); raises ParseError naming the file."""
    _check_size(data, name)
    if len(data) >= LARGE_BYTES:
        import orjson  # deferred: see LARGE_BYTES

        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        else:
            # orjson accepted it, so it has no conflict marker (a line that starts with one is
            # never JSON, and a JSON string cannot span lines): _check_envelope_bytes, whose
            # marker scan costs ~70 ms at 100k entries, has nothing to find.
            if _is_canonical_fast(data, obj):
                return Parsed(obj, True)
    _check_envelope_bytes(data, name)
    obj = _slow_parse(data, name)
    return Parsed(obj, data == canonical(obj))


def _is_canonical_fast(data: bytes, obj: Any) -> bool:
    if _TOO_DEEP in data:
        return False  # the slow path names the nesting error
    try:
        return data == canonical(obj)
    except RecursionError:  # orjson reads ~1000 levels, the stdlib dump recurses per level
        return False


def _check_size(data: bytes, name: str) -> None:
    if len(data) > MAX_BYTES:
        raise ParseError(name, "", f"file is {len(data)} bytes, over the {MAX_BYTES}-byte limit")


def _check_envelope_bytes(data: bytes, name: str) -> None:
    if data.startswith(b"\xef\xbb\xbf"):
        raise ParseError(name, "line 1", "starts with a UTF-8 byte order mark (BOM)")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) > 1 and b"\x00" in data[:4]):
        raise ParseError(name, "line 1", "is UTF-16/32, not UTF-8")
    if not data.strip():
        raise ParseError(name, "", "file is empty")
    line = conflict_marker_line(data)
    if line is not None:
        raise ParseError(name, f"line {line}", "unresolved merge conflict (conflict marker)")


def _slow_parse(data: bytes, name: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ParseError(name, f"line {line}", f"invalid UTF-8 at byte {e.start}") from None
    try:
        obj = json.loads(
            text,
            object_pairs_hook=_unique_object,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except json.JSONDecodeError as e:
        raise ParseError(name, f"line {e.lineno} column {e.colno}", e.msg) from None
    except _Refused as e:
        raise ParseError(name, e.where or _locate(text, e.token), str(e)) from None
    except RecursionError:
        raise ParseError(name, "", f"nesting deeper than {MAX_DEPTH} levels") from None
    _check_tree(obj, "$", 0, name)
    return obj


class _Refused(ValueError):
    def __init__(self, message: str, where: str = "", token: str = "") -> None:
        super().__init__(message)
        self.where, self.token = where, token


def _locate(text: str, token: str) -> str:
    """Line and column of a refused number or constant (the parser's hooks get no position).

    The first occurrence that is not part of a longer word or number; one inside a string that
    spells the same huge number could be named instead, which only makes the hint imprecise.
    """
    if not token:
        return ""
    m = re.search(r"(?<![\w.+\"-])" + re.escape(token) + r"(?![\w.\"])", text)
    if m is None:
        return ""
    line = text.count("\n", 0, m.start()) + 1
    return f"line {line} column {m.start() - text.rfind(chr(10), 0, m.start())}"


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {_short_repr(key)}")
            seen.add(key)
    return obj


def _short_repr(key: str) -> str:
    """repr escapes control characters, so ANSI escapes never reach a terminal raw; cut long."""
    text = repr(key)
    return text if len(text) <= 80 else text[:77] + "..."


def _reject_constant(token: str) -> Any:
    raise _Refused(f"{token} is not valid JSON", token=token)


def _parse_float(token: str) -> float:
    value = float(token)
    if value in (float("inf"), float("-inf")):
        raise _Refused(f"number {token[:40]} is out of range", token=token)
    return value


def _parse_int(token: str) -> int:
    if len(token.lstrip("-")) > MAX_INT_DIGITS:
        digits = len(token.lstrip("-"))
        raise _Refused(f"integer with {digits} digits is out of range", token=token)
    return int(token)


def _check_tree(obj: Any, path: str, depth: int, name: str) -> None:
    """Depth limit and lone surrogates, which the stdlib parser lets through."""
    if depth > MAX_DEPTH:
        where = path if len(path) <= 200 else path[:197] + "..."
        raise ParseError(name, where, f"nesting deeper than {MAX_DEPTH} levels")
    if isinstance(obj, str):
        _check_string(obj, path, name)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _check_string(key, path, name)
            _check_tree(value, jpath(path, key), depth + 1, name)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            _check_tree(value, f"{path}[{i}]", depth + 1, name)


def _check_string(value: str, path: str, name: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ParseError(name, path, "string contains a lone surrogate") from None


def kind_of(obj: Any, name: str = "") -> Kind | None:
    """Which document this is: by envelope key, then by file name, then by its keys."""
    if isinstance(obj, dict):
        if "mappings" in obj:
            return MAPPING
        if "counters" in obj:
            return COUNTERS
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if "counter" in base:
        return COUNTERS
    if "mapping" in base:
        return MAPPING
    if isinstance(obj, dict) and obj:
        if all(k in TOOLS for k in obj):
            return COUNTERS
        if all(INTERNAL_ID_RE.fullmatch(k) for k in obj):
            return MAPPING
    return None
