"""A small file's parse is the strict parse and a comparison with the canonical dump: same
object, same flag, same error as that definition, whatever the bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extid import document, strict
from extid.errors import ParseError


def _strict(data: bytes, name: str = "f.json") -> tuple[Any, bool] | str:
    """The definition of `document.parse` for a small file: the strict parse with every
    hook (past a UTF-8 BOM, read as the same document), then the comparison with the
    canonical dump."""
    try:
        document._check_size(data, name)
        document._check_envelope_bytes(data.removeprefix(document.BOM), name)
        obj = strict.load(data.removeprefix(document.BOM), name)
    except ParseError as e:
        return str(e)
    return obj, data == document.canonical(obj)


def _now(data: bytes, name: str = "f.json") -> tuple[Any, bool] | str:
    try:
        parsed = document.parse(data, name)
    except ParseError as e:
        return str(e)
    return parsed.obj, parsed.canonical


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"


DOC = {
    "mappings": {"TASK-ab12": {"created": "2025-01-08T10:00:00Z", "jira": "PROJ-1"}},
    "updated": "2025-01-08T10:30:00Z",
    "version": "1.0",
}


def _nested(depth: int) -> bytes:
    obj: Any = 1
    for _ in range(depth):
        obj = {"a": obj}
    return _canonical(obj)


CASES = {
    "canonical": _canonical(DOC),
    "not canonical": json.dumps(DOC).encode(),
    "duplicate key, canonical layout": b'{\n  "a": 1,\n  "a": 1\n}\n',
    "duplicate key, last differs": b'{\n  "a": 1,\n  "a": 2\n}\n',
    "duplicate entry key": _canonical(DOC).replace(
        b'"jira": "PROJ-1"', b'"jira": "PROJ-1",\n      "jira": "PROJ-1"'
    ),
    "NaN": b'{\n  "a": NaN\n}\n',
    "Infinity": b'{\n  "a": -Infinity\n}\n',
    "float overflow": b'{\n  "a": 1e999\n}\n',
    "float spelling": b'{\n  "a": 1e5\n}\n',
    "float canonical": b'{\n  "a": 100000.0\n}\n',
    "huge integer, canonical layout": b'{\n  "a": ' + b"9" * 25 + b"\n}\n",
    "integer at the limit": b'{\n  "a": ' + b"9" * 20 + b"\n}\n",
    "lone surrogate escape": b'{\n  "a": "\\ud800"\n}\n',
    "raw surrogate bytes": b'{\n  "a": "\xed\xa0\x80"\n}\n',
    "invalid UTF-8": b'{\n  "a": "\xff"\n}\n',
    "BOM": b"\xef\xbb\xbf" + _canonical(DOC),
    "UTF-16": _canonical(DOC).decode().encode("utf-16"),
    "empty": b"",
    "blank": b"\n \n",
    "conflict marker": b'<<<<<<< ours\n{\n  "a": 1\n}\n=======\n{}\n>>>>>>> theirs\n',
    "marker-like text in a string": b'{\n  "a": "<<<<<<< x ======= y"\n}\n',
    "nesting at the limit": _nested(document.MAX_DEPTH),
    "nesting over the limit": _nested(document.MAX_DEPTH + 1),
    "nesting far over the limit": b"[" * 5000 + b"]" * 5000,
    "top-level string": b'"x"\n',
    "top-level number": b"5\n",
    "no final newline": _canonical(DOC)[:-1],
    "CRLF": _canonical(DOC).replace(b"\n", b"\r\n"),
    "trailing garbage": _canonical(DOC) + b"x",
    "control character": b'{\n  "a": "\x01"\n}\n',
}


@pytest.mark.parametrize("data", CASES.values(), ids=CASES.keys())
def test_parse_agrees_with_the_strict_definition(data: bytes) -> None:
    assert _now(data) == _strict(data)


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**22), 10**22)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_json, st.integers(0, 200), st.binary(max_size=3))
def test_generated_documents_and_edits_agree(obj: Any, at: int, edit: bytes) -> None:
    data = _canonical(obj)
    assert _now(data) == _strict(data)
    edited = data[:at] + edit + data[at + len(edit) :]
    assert _now(edited) == _strict(edited)


def _deep(depth: int, leaf: Any, wide: bool) -> Any:
    obj = leaf
    for level in range(depth):
        obj = [obj, {}] if wide and level % 2 else {"k": obj, "s": "x"}
    return obj


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("leaf", [1, "x", {}, [], {"a": 1}, [[]]])
@pytest.mark.parametrize("depth", [0, 1, 62, 63, 64, 65, 66])
def test_nesting_walk_agrees_with_check_tree(depth: int, leaf: Any, wide: bool) -> None:
    obj = _deep(depth, leaf, wide)
    try:
        strict.check_tree(obj, "$", 0, "f")
    except ParseError:
        passes = False
    else:
        passes = True
    assert strict.nesting_within_limit(obj) == passes
