"""Reading a large canonical mapping document slice by slice agrees with the plain definition.

`document.parse` reads a large file that looks like a canonical mapping document one slice of
entries at a time (to bound memory at 100k entries) and calls it canonical only if every slice
dumps back to its own bytes. These tests hold that to `data == canonical(json.loads(data))` on
canonical documents and on ones broken at slice borders, by duplicates, floats and stray bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extid import document, slices, strict


@pytest.fixture(autouse=True)
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slices, "SLICE_BYTES", 300)  # ~3 entries a slice: many borders


def _doc(n: int = 20, **extra: Any) -> dict[str, Any]:
    mappings = {
        f"TASK-{i:05x}": {"created": "2025-01-08T10:00:00Z", "jira": f"PROJ-{i + 1}"}
        for i in range(n)
    }
    return {"mappings": mappings, "updated": "2025-01-08T10:30:00Z", "version": "1.0", **extra}


def _stdlib(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"


def _sliced(data: bytes) -> bool:
    """Whether the slice reader accepts `data`; checked against the plain definition."""
    doc = slices.parse_canonical(data)
    if doc is not None:
        assert data == document.canonical(json.loads(data))
        assert doc == json.loads(data) and list(doc["mappings"]) == list(
            json.loads(data)["mappings"]
        )
    return doc is not None


@pytest.mark.parametrize("n", [1, 2, 3, 4, 20])
def test_canonical_documents_are_read_in_slices(n: int) -> None:
    assert _sliced(_stdlib(_doc(n)))


def test_envelope_variants() -> None:
    assert _sliced(_stdlib({"mappings": _doc()["mappings"]}))
    assert _sliced(_stdlib(_doc(zzz=[1, "a"])))
    # Other keys holding objects: left to the whole-file path, which agrees.
    data = _stdlib(_doc(zzz={"a": [1, 2], "b": {}}))
    assert not _sliced(data)
    assert document.parse(data, "f") == (json.loads(data), True)
    # A key sorting before "mappings" is another layout: left to the whole-file path.
    assert not _sliced(_stdlib(_doc(aaa=1)))


def _entries(data: bytes) -> list[bytes]:
    head = b'{\n  "mappings": {\n'
    body = data[len(head) : data.index(b"\n  }")]
    return body.split(b',\n    "')


def test_keys_out_of_order_anywhere() -> None:
    doc = _doc()
    keys = list(doc["mappings"])
    for i in range(len(keys) - 1):
        swapped = dict(doc["mappings"])
        order = [*keys[:i], keys[i + 1], keys[i], *keys[i + 2 :]]
        data = json.dumps({**doc, "mappings": {k: swapped[k] for k in order}}, indent=2).encode()
        assert not _sliced(data + b"\n"), i


@pytest.mark.parametrize("where", [0, 2, 3, 10, 19])
def test_duplicate_keys_are_never_accepted(where: int) -> None:
    data = _stdlib(_doc())
    key = f'    "TASK-{where:05x}"'.encode()
    start = data.index(key)
    end = data.index(b"\n    }", start) + len(b"\n    }")
    entry = data[start:end]
    assert not _sliced(data[:end] + b",\n" + entry + data[end:])  # the same entry twice
    at_end = data.replace(b"\n  },\n", b",\n" + entry + b"\n  },\n")
    assert at_end != data and not _sliced(at_end)  # again as the last entry


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d[:-1],  # no final newline
        lambda d: d + b"\n",  # two
        lambda d: d.replace(b'"version": "1.0"', b'"version":  "1.0"'),
        lambda d: d.replace(b'"PROJ-20"', b'"PROJ-20" '),  # in the last slice
        lambda d: d.replace(b'"PROJ-5"', b'"PROJ-\\u0035"'),  # an escape the dump does not use
        lambda d: d.replace(b"\n", b"\r\n"),
        lambda d: d.replace(b'"version": "1.0"\n}', b'"version": "1.0"\n}\n{}'),
        lambda d: d.replace(b'  "updated"', b'  "mappings": {},\n  "updated"'),
    ],
)
def test_non_canonical_spellings(edit: Any) -> None:
    data = edit(_stdlib(_doc()))
    assert not _sliced(data)


def test_floats_and_huge_integers_are_left_to_the_stdlib() -> None:
    for value in (1e-05, 0.5, 2**64 + 1):
        doc = _doc()
        doc["mappings"]["TASK-00003"]["x"] = value
        assert not _sliced(_stdlib(doc))
        assert not _sliced(_stdlib(_doc(zzz=value)))


def test_parse_takes_the_slices_for_a_large_file_and_agrees_otherwise() -> None:
    data = _stdlib(_doc(3000))
    assert len(data) >= document.LARGE_BYTES
    parsed = document.parse(data, "big")
    assert parsed.canonical and parsed.obj == json.loads(data)
    loose = data.replace(b'"PROJ-2999"', b'"PROJ-2999"  ')
    parsed = document.parse(loose, "big")
    assert not parsed.canonical and parsed.obj == json.loads(loose)


# --- the quick limits pass of the stdlib path -------------------------------------------


def _nest(depth: int, leaf: Any) -> Any:
    obj = leaf
    for i in range(depth):
        obj = {"k": obj} if i % 2 else [obj]
    return obj


def _tree_passes(obj: Any) -> bool:
    try:
        strict.check_tree(obj, "$", 0, "f")
    except document.ParseError:
        return False
    return True


@pytest.mark.parametrize("depth", [0, 1, 63, 64, 65, 66])
@pytest.mark.parametrize("leaf", ["x", 1, "\ud800", [], {}, {"\udc00": 1}])
def test_quick_nesting_walk_agrees_with_check_tree(depth: int, leaf: Any) -> None:
    obj = _nest(depth, leaf)
    has_surrogate = not isinstance(leaf, (int, list)) and "\\ud" in json.dumps(leaf)
    if not has_surrogate:  # the parser skips string checks only when no escape could make one
        assert strict.nesting_within_limit(obj) == _tree_passes(obj)
    else:  # the parser then takes the full walk, which names the surrogate
        assert not _tree_passes(obj)


def test_slow_parse_still_names_lone_surrogates_and_depth() -> None:
    with pytest.raises(document.ParseError, match="lone surrogate"):
        document.parse(b'{"a": ["\\ud800"]}', "f")
    with pytest.raises(document.ParseError, match="lone surrogate"):
        document.parse(b'{"\\uDC00": 1}', "f")
    with pytest.raises(document.ParseError, match="nesting"):
        document.parse(b"[" * 65 + b"1" + b"]" * 65, "f")
    assert document.parse(b"[" * 64 + b"1" + b"]" * 64, "f").obj is not None
    assert document.parse(b'{"a": "\\ud83d\\ude00"}', "f").obj == {"a": "\U0001f600"}


# --- load: parse without the canonical flag ---------------------------------------------

CORPUS = Path(__file__).resolve().parent / "corpora" / "jsontestsuite" / "test_parsing"


def _outcome(f: Any, data: bytes) -> Any:
    try:
        return ("ok", f(data))
    except document.ParseError as e:
        return ("error", str(e))


def test_load_is_parse_without_the_flag() -> None:
    samples = [
        _stdlib(_doc(3)),
        _stdlib(_doc(3000)),  # large: the slice path
        _stdlib(_doc(3000)).replace(b'"PROJ-1"', b'"PROJ-1" '),  # large, not canonical
        b'{"a": 1, "a": 2}',
        b'{"a": NaN}',
        b"\xef\xbb\xbf{}",
        b"<<<<<<< ours\n{}\n",
        b'{"a": "\\ud800"}',
        b"[" * 70 + b"]" * 70,
        b"",
    ]
    samples += [p.read_bytes() for p in sorted(CORPUS.glob("*.json"))] if CORPUS.is_dir() else []
    for data in samples:
        want = _outcome(lambda d: document.parse(d, "f").obj, data)
        assert _outcome(lambda d: document.load(d, "f"), data) == want, data[:80]
