"""The two documents as bytes: strict parse, canonical dump, kind detection.

Pure but for reading a state file (read_file, read_to_limit): bytes in, Python objects out
(and back); the strict parse itself is extid.strict's. Speed matters here (hooks run on every
commit and registries reach 100k entries), so a large file (LARGE_BYTES and up) takes a fast
path first:

* orjson parses; if the canonical dump of the result equals the input bytes, the input is
  canonical and therefore has no duplicate keys (a duplicate would make the input longer than
  the dump of its parse). Nothing else needs checking.
* anything else (a small file, a non-canonical one, or one orjson refused) goes through the
  stdlib parser with hooks that detect duplicate keys, NaN/Infinity, huge numbers and lone
  surrogates, which also gives the precise error message. For a small file this is also the
  quicker way: importing orjson costs a hook more than it saves.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections import namedtuple

from . import strict
from .errors import MARKERS_FIX, ParseError
from .ids import INTERNAL_ID_RE, TOOLS
from .strict import MAX_DEPTH

TYPE_CHECKING = False  # not typing's: see errors.py
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Literal, TypeAlias

# A string, so that typing is not needed at run time (only in annotations, never evaluated).
Kind: TypeAlias = "Literal['mapping', 'counters']"
MAPPING: Kind = "mapping"
COUNTERS: Kind = "counters"
ENVELOPE_KEY: dict[Kind, str] = {MAPPING: "mappings", COUNTERS: "counters"}
#: The standard file names in the state directory (by these names a pair is cross-checked).
MAPPING_FILE = "external_id_mapping.json"
COUNTERS_FILE = "external_id_counters.json"

#: Refuse files larger than this before reading them into a parser: a guard against a runaway
#: file, not a size a registry reaches. 1M entries of the benchmarks' shape make 158 MiB; the
#: heaviest path (a merge, ~13x one side's bytes) then stays near 3.3 GB at the limit.
MAX_BYTES = 256 * 1024 * 1024

#: Below this size the stdlib is faster end to end: importing orjson costs more (~20 ms) than
#: it saves, and hooks mostly see small files.
LARGE_BYTES = 256 * 1024
#: The same threshold counted in entries, for documents already in memory.
LARGE_ENTRIES = 1000
# A number token with a fraction or exponent in orjson's canonical output. orjson and the stdlib
# spell some floats differently (1e-05), so such documents are dumped by the stdlib. A match
# inside a string is a harmless false positive: it only costs the slower dump.
_FLOAT_TOKEN = rb"(?:\A|: |\n *)-?[0-9]+[.eE]"  # compiled on first use, by re's cache
# The same for object members only. Its literal prefix lets the regex engine skip from one ": "
# to the next: ~10x faster on 16 MB than the pattern above, which tries every position. Array
# elements and a bare top-level number are the only other places a number can be; our documents
# have neither, so the full pattern runs only when `[` or a leading number says it might match.
_FLOAT_MEMBER = rb": -?[0-9]+[.eE]"
#: A UTF-8 byte order mark: read past, never written.
BOM = b"\xef\xbb\xbf"
_CONFLICT_MARKERS = (b"<<<<<<<", b"=======", b">>>>>>>", b"|||||||")
# Compiled only when a marker substring is there (see conflict_marker_line), by re's cache.
_CONFLICT_PATTERN = rb"^(?:<<<<<<<|=======|>>>>>>>|\|\|\|\|\|\|\|)(?: |\r?$)"
# In canonical bytes every newline is structural and a value at depth d is indented 2*d, so a
# line indented deeper than this is nesting over MAX_DEPTH: the fast path must not accept it.
TOO_DEEP = b"\n" + b" " * (2 * MAX_DEPTH + 2)


class Parsed(namedtuple("Parsed", ["obj", "canonical"])):
    """A parsed document and whether its bytes were already canonical. (A
    collections.namedtuple typed by its annotations, as errors.Problem.)"""

    __slots__ = ()
    obj: Any
    canonical: bool


def canonical(obj: Any) -> bytes:
    """The one byte form every write produces: indent 2, sorted keys, UTF-8, LF, final newline.

    Defined as `json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\\n"`;
    orjson produces the same bytes faster except for some float spellings.
    """
    if not _is_large(obj):
        return _stdlib_dump(obj)
    out = orjson_canonical(obj)
    return _stdlib_dump(obj) if out is None else out + b"\n"


def orjson_canonical(obj: Any) -> bytes | None:
    """orjson's bytes (without the final newline) when they are the canonical ones; None where
    canonical() uses the stdlib (a float token, an integer beyond 64 bits)."""
    import orjson  # deferred: see LARGE_BYTES

    try:
        out: bytes = orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    return None if _has_float_token(out) else out


def _has_float_token(out: bytes) -> bool:
    if re.search(_FLOAT_MEMBER, out) is not None:
        return True
    if b"[" in out or out[:1] in (b"-", *(b"%d" % d for d in range(10))):
        return re.search(_FLOAT_TOKEN, out) is not None
    return False


def _is_large(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    inner = obj.get("mappings", obj)
    return isinstance(inner, dict) and len(inner) > LARGE_ENTRIES


def _stdlib_dump(obj: Any) -> bytes:
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", "surrogatepass") + b"\n"


def read_to_limit(f: BinaryIO, size: int) -> bytes:
    """The rest of file `f`, whose size fstat gave as `size`, up to MAX_BYTES + 1 bytes.

    Asks for `size + 1` bytes first: asking for MAX_BYTES + 1 makes Python allocate that much
    for every read (~0.8 ms for a 1.6 MB file instead of ~0.1 ms). A file that grew since the
    fstat is read on to the limit, so an oversized file is still seen as oversized.
    """
    data = f.read(min(size, MAX_BYTES) + 1)
    if len(data) > size:
        data += f.read(MAX_BYTES + 1 - len(data))
    return data


#: Never through a symlink; O_NONBLOCK so that opening a FIFO cannot hang (it is then refused
#: as not a regular file; reads of a regular file ignore the flag).
READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def too_big(path: str, size: int) -> ParseError:
    """A file over `MAX_BYTES`: refused before it is read (it could be 200 GB)."""
    return ParseError(path, "", f"file is {size} bytes, over the {MAX_BYTES}-byte limit")


def not_a_state_file(path: str, mode: int) -> ParseError:
    """A directory (or FIFO, device...) where a state file belongs: the user's to move away."""
    what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
    fix = (
        f"rename or remove it, then `git checkout -- {os.path.basename(path)}` there restores "
        "the committed file"
    )
    return ParseError(path, "", f"is {what}, not a state file", corrupt=False, fix=fix)


def read_file(path: str) -> bytes:
    """Read a state file without following a symlink and without reading an oversized file;
    every refusal a ParseError (the store's `read_bytes` words them its own way)."""
    try:
        return read_regular(path)
    except OSError as e:
        if os.path.islink(path):
            fix = "put the file itself there: extid never reads or writes through a symlink"
            raise ParseError(path, "", "is a symlink", corrupt=False, fix=fix) from None
        raise ParseError(path, "", e.strerror or str(e), fix=None) from None


def read_regular(path: str) -> bytes:
    """The bytes of the regular file `path` (`READ_FLAGS`), refused before reading if it is
    something else (`not_a_state_file`) or over `MAX_BYTES` (`too_big`); OSError as raised."""
    fd = os.open(path, READ_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # before fdopen, which refuses a directory with a bug
            raise not_a_state_file(path, st.st_mode)
        if st.st_size > MAX_BYTES:  # refuse before reading: it could be 200 GB
            raise too_big(path, st.st_size)
        with os.fdopen(fd, "rb") as f:
            fd = -1  # closed with f
            return read_to_limit(f, st.st_size)
    finally:
        if fd >= 0:
            os.close(fd)


def conflict_marker_line(data: bytes) -> int | None:
    """1-based line of the first git conflict marker, if any."""
    # Substring searches first: ~20x faster than the regex (which has no literal prefix to
    # skip ahead by), and most files have no marker at all.
    if not any(marker in data for marker in _CONFLICT_MARKERS):
        return None
    m = re.search(_CONFLICT_PATTERN, data, re.M)
    return None if m is None else data.count(b"\n", 0, m.start()) + 1


def parse(data: bytes, name: str) -> Parsed:
    """Strictly parse `data` (the contents of file `name`); raises ParseError naming the file.

    A UTF-8 BOM and CRLF line ends (what editors and git's `core.autocrlf` write) are read as
    the same document, which is then not `canonical`: the next write drops them."""
    _check_size(data, name)
    if data.startswith(BOM):
        return Parsed(load(data, name), False)
    if len(data) >= LARGE_BYTES:
        import orjson  # deferred: see LARGE_BYTES

        from .slices import parse_canonical  # the module reads slices through this one

        doc = parse_canonical(data)
        if doc is not None:
            return Parsed(doc, True)
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
    obj = strict.load(data, name)
    return Parsed(obj, data == canonical(obj))


def load(data: bytes, name: str) -> Any:
    """`parse(data, name).obj`, without finding out whether `data` is canonical.

    For readers that only need the object (`extid check`, the store): on a small file, the
    stdlib dump that `parse` compares against is most of the work (~10 ms of ~13 ms at 1k
    entries). Large files take `parse`, whose canonical check is what makes it fast.
    """
    data = data.removeprefix(BOM)  # see `parse`
    if len(data) >= LARGE_BYTES:
        return parse(data, name).obj
    _check_size(data, name)
    _check_envelope_bytes(data, name)
    return strict.load(data, name)


def _is_canonical_fast(data: bytes, obj: Any) -> bool:
    if TOO_DEEP in data:
        return False  # the slow path names the nesting error
    try:
        return data == canonical(obj)
    except RecursionError:  # orjson reads ~1000 levels, the stdlib dump recurses per level
        return False


def _check_size(data: bytes, name: str) -> None:
    if len(data) > MAX_BYTES:
        raise too_big(name, len(data))


def _check_envelope_bytes(data: bytes, name: str) -> None:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) > 1 and b"\x00" in data[:4]):
        raise ParseError(name, "line 1", "is UTF-16/32, not UTF-8")
    if not data.strip():
        raise ParseError(name, "", "file is empty")
    line = conflict_marker_line(data)
    if line is not None:
        where = f"line {line}"
        raise ParseError(
            name, where, "unresolved merge conflict (conflict marker)", fix=MARKERS_FIX
        )


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
