"""Hostile and broken input: every byte sequence a branch can put into a state file is
either a document or one of extid's own one-line errors, never a traceback, never a write."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import run_extid
from hostile_helpers import (
    CORPUS,
    COUNTERS,
    COUNTERS_FILE,
    MAPPING,
    MAPPING_FILE,
    copy_doc,
    printable_lines,
    snapshot,
    write_state,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extid import checkfiles, document
from extid.errors import ParseError, Problem

CORPUS_FILES = sorted(p.name for p in CORPUS.iterdir())
# Accepted by every JSON parser, refused by extid on purpose: a duplicate key loses data.
DUPLICATE_KEY_FILES = {"y_object_duplicated_key.json", "y_object_duplicated_key_and_value.json"}
# The `i_` files (implementation-defined): None = accepted, else extid's message.
I_OUTCOMES: dict[str, str | None] = {
    "number_double_huge_neg_exp": None,  # 123.456e-789 underflows to 0.0: harmless
    "number_huge_exp": "number 0.4e006699999999999999999999999999999999 is out of range",
    "number_neg_int_huge_exp": "number -1e+9999 is out of range",
    "number_pos_double_huge_exp": "number 1.5e+9999 is out of range",
    "number_real_neg_overflow": "number -123123e100000 is out of range",
    "number_real_pos_overflow": "number 123123e100000 is out of range",
    "number_real_underflow": None,
    "number_too_big_neg_int": "integer with 30 digits is out of range",
    "number_too_big_pos_int": "integer with 21 digits is out of range",
    "number_very_big_negative_int": "integer with 48 digits is out of range",
    "object_key_lone_2nd_surrogate": "string contains a lone surrogate",
    "string_1st_surrogate_but_2nd_missing": "string contains a lone surrogate",
    "string_1st_valid_surrogate_2nd_invalid": "string contains a lone surrogate",
    "string_UTF-16LE_with_BOM": "is UTF-16/32, not UTF-8",
    "string_UTF-8_invalid_sequence": "invalid UTF-8 at byte 7",
    "string_UTF8_surrogate_U+D800": "invalid UTF-8 at byte 2",
    "string_incomplete_surrogate_and_escape_valid": "string contains a lone surrogate",
    "string_incomplete_surrogate_pair": "string contains a lone surrogate",
    "string_incomplete_surrogates_escape_valid": "string contains a lone surrogate",
    "string_invalid_lonely_surrogate": "string contains a lone surrogate",
    "string_invalid_surrogate": "string contains a lone surrogate",
    "string_invalid_utf-8": "invalid UTF-8 at byte 2",
    "string_inverted_surrogates_U+1D11E": "string contains a lone surrogate",
    "string_iso_latin_1": "invalid UTF-8 at byte 2",
    "string_lone_second_surrogate": "string contains a lone surrogate",
    "string_lone_utf8_continuation_byte": "invalid UTF-8 at byte 2",
    "string_not_in_unicode_range": "invalid UTF-8 at byte 2",
    "string_overlong_sequence_2_bytes": "invalid UTF-8 at byte 2",
    "string_overlong_sequence_6_bytes": "invalid UTF-8 at byte 2",
    "string_overlong_sequence_6_bytes_null": "invalid UTF-8 at byte 2",
    "string_truncated-utf-8": "invalid UTF-8 at byte 2",
    "string_utf16BE_no_BOM": "is UTF-16/32, not UTF-8",
    "string_utf16LE_no_BOM": "is UTF-16/32, not UTF-8",
    "structure_500_nested_arrays": "nesting deeper than 64 levels",
    "structure_UTF-8_BOM_empty_object": None,  # a BOM is read past (the next write drops it)
}


def outcome(data: bytes, name: str = "f.json") -> str | None:
    """None if `data` parses, else extid's message; any other exception fails the test."""
    try:
        parsed = document.parse(data, name)
    except ParseError as e:
        assert str(e).startswith(name + ": ")
        assert "\n" not in str(e) and printable_lines(str(e))
        return e.message
    assert parsed.canonical == (data == document.canonical(parsed.obj))
    return None


# --- JSONTestSuite ------------------------------------------------------------------------


def test_corpus_is_complete() -> None:
    assert len(CORPUS_FILES) == 318
    assert {name[:2] for name in CORPUS_FILES} == {"y_", "n_", "i_"}
    assert {n[2:-5] for n in CORPUS_FILES if n.startswith("i_")} == set(I_OUTCOMES)
    assert (CORPUS.parent / "LICENSE").read_text().startswith("MIT License")


@pytest.mark.parametrize("padded", [False, True], ids=["small", "large"])
@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_file(name: str, padded: bool) -> None:
    data = (CORPUS / name).read_bytes()
    if padded:  # trailing whitespace changes nothing, but sends the input through orjson first
        data += b" " * document.LARGE_BYTES
    result = outcome(data, name)
    if name.startswith("n_"):
        assert result is not None
    elif name in DUPLICATE_KEY_FILES:
        assert result == "duplicate key 'a'"
    elif name.startswith("y_"):
        assert result is None
    else:
        assert result == I_OUTCOMES[name[2:-5]]


def test_check_command_over_the_whole_corpus(tmp_path: Path) -> None:
    before = snapshot(CORPUS)
    paths = [str(CORPUS / name) for name in CORPUS_FILES]
    result = run_extid("check", *paths)
    assert result.returncode == 1
    assert result.stderr == ""
    named = {line.split(": ", 1)[0] for line in result.stdout.splitlines()}
    # Every file is reported (y_ files are valid JSON but no extid document).
    assert named == set(paths)
    assert printable_lines(result.stdout)
    assert snapshot(CORPUS) == before


# --- named cases --------------------------------------------------------------------------

VALID = document.canonical(MAPPING)
COUNTERS_TEMPLATE = (
    '{"counters": {"azure_devops": 1, "github": %s, "jira": {}, "linear": {}}, '
    '"updated": "2025-01-08T10:30:00Z", "version": "1.0"}'
)

NAMED: list[tuple[str, bytes, str]] = [
    ("empty", b"", "file is empty"),
    ("whitespace", b" \n\t\r\n ", "file is empty"),
    ("utf16", VALID.decode().encode("utf-16"), "line 1: is UTF-16/32, not UTF-8"),
    ("utf16be", VALID.decode().encode("utf-16-be"), "line 1: is UTF-16/32, not UTF-8"),
    ("utf32", VALID.decode().encode("utf-32"), "line 1: is UTF-16/32, not UTF-8"),
    ("invalid utf8", VALID.replace(b"PROJ", b"PR\xc3\x28J"), "line 8: invalid UTF-8 at byte 178"),
    ("lone surrogate", b'{"a": {"b": "x\\udc00"}}', "$.a.b: string contains a lone surrogate"),
    ("lone surrogate key", b'{"\\ud800": 1}', "$: string contains a lone surrogate"),
    (
        "duplicate key",
        b'{"version": "1.0", "version": "1.0"}',
        "line 1 column 20: duplicate key 'version'",
    ),
    (
        "nested duplicate",
        b'{"mappings": {"TASK-a3f2": {"jira": "P-1", "jira": "P-2"}}}',
        "line 1 column 44: duplicate key 'jira'",
    ),
    ("NaN", b'{"github": NaN}', "line 1 column 12: NaN is not valid JSON"),
    ("Infinity", b'{"github":\n Infinity}', "line 2 column 2: Infinity is not valid JSON"),
    ("-Infinity", b"[-Infinity]", "line 1 column 2: -Infinity is not valid JSON"),
    ("1e400", b'{"github": 1e400}', "line 1 column 12: number 1e400 is out of range"),
    (
        "5000 digits",
        b'{"github": ' + b"7" * 5000 + b"}",
        "line 1 column 12: integer with 5000 digits is out of range",
    ),
    ("nesting 100000", b"[" * 100_000 + b"]" * 100_000, "nesting deeper than 64 levels"),
    (
        "object nesting 100000",
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        "nesting deeper than 64 levels",
    ),
    (
        "conflict markers",
        b'{\n<<<<<<< ours\n  "a": 1\n=======\n  "a": 2\n>>>>>>> theirs\n}\n',
        "line 2: unresolved merge conflict (conflict marker)",
    ),
    (
        "diff3 conflict markers",
        b'{\n  "a": 1\n||||||| base\n  "a": 0\n=======\n',
        "line 3: unresolved merge conflict (conflict marker)",
    ),
    ("raw control char", b'{"a\x1b[31m": 1}', "line 1 column 4: invalid control character here"),
    (
        "ANSI escape in a key",
        b'{"\\u001b[2J\\u001b[31m": {"x": "\\ud800"}}',
        '$["\\u001b[2J\\u001b[31m"].x: string contains a lone surrogate',
    ),
    (
        "ANSI escape in a duplicate key",
        b'{"\\u001b]0;pwned\\u0007": 1, "\\u001b]0;pwned\\u0007": 2}',
        "line 1 column 29: duplicate key '\\x1b]0;pwned\\x07'",
    ),
    ("huge duplicate key", b'{"%s": 1, "%s": 2}' % (b"k" * 9000, b"k" * 9000), "k" * 76 + "..."),
    ("trailing garbage", VALID + b"x", "line 19 column 1: extra data"),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in NAMED], ids=[c[0] for c in NAMED])
def test_named_case(data: bytes, expected: str) -> None:
    with pytest.raises(ParseError) as info:
        document.parse(data, "f.json")
    message = str(info.value)
    assert message.startswith("f.json: ")
    assert message.endswith(expected) if "..." in expected else message == f"f.json: {expected}"
    assert "\x1b" not in message and printable_lines(message)


def test_named_cases_through_check_command(tmp_path: Path) -> None:
    """The same inputs as files: one line per file naming it, exit 1, files untouched."""
    paths = []
    for i, (_, data, _expected) in enumerate(NAMED):
        path = tmp_path / f"case{i:02d}_{MAPPING_FILE}"
        path.write_bytes(data)
        paths.append(str(path))
    before = snapshot(tmp_path)
    result = run_extid("check", *paths)
    assert (result.returncode, result.stderr) == (1, "")
    lines = result.stdout.splitlines()
    assert len(lines) == len(NAMED)
    for line, path, (_, _, expected) in zip(lines, paths, NAMED, strict=True):
        assert line.startswith(f"{path}: ")
        said, _, fix = line.partition("; ")
        assert "`extid " in fix, line  # check's line ends in the fix
        if "..." not in expected:
            assert said == f"{path}: {expected}"
    assert "\x1b" not in result.stdout and printable_lines(result.stdout)
    assert snapshot(tmp_path) == before


def test_truncated_at_every_offset(tmp_path: Path) -> None:
    """Every proper prefix of a valid file is refused (the one missing only the final newline is
    still the same document), in-process and through `extid check`."""
    paths = []
    for cut in range(len(VALID)):
        data = VALID[:cut]
        if cut == len(VALID) - 1:
            assert document.parse(data, "f").obj == MAPPING
            continue
        assert outcome(data) is not None, cut
        path = tmp_path / f"cut{cut:04d}_{MAPPING_FILE}"
        path.write_bytes(data)
        paths.append(str(path))
    result = run_extid("check", *paths)
    assert (result.returncode, result.stderr) == (1, "")
    assert {line.split(": ", 1)[0] for line in result.stdout.splitlines()} == set(paths)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", "$.counters.github: counter must be an integer, got true"),
        ("457.0", "$.counters.github: counter must be an integer, got 457.0"),
        ("-1", "$.counters.github: counter -1 is negative"),
        (str(10**100), "line 1 column 44: integer with 101 digits is out of range"),
        (str(2**53 + 1), "$.counters.github: counter 9007199254740993 is above 2**53"),
        ('"5"', '$.counters.github: counter must be an integer, got "5"'),
        ("null", "$.counters.github: counter must be an integer, got null"),
    ],
)
def test_hostile_counter(tmp_path: Path, value: str, expected: str) -> None:
    path = tmp_path / COUNTERS_FILE
    path.write_text(COUNTERS_TEMPLATE % value)
    said = [str(p).partition("; ")[0] for p in checkfiles.check_paths([str(path)])]
    assert said == [f"{path}: {expected}"]


def test_control_characters_in_keys_never_reach_the_terminal(tmp_path: Path) -> None:
    mapping = copy_doc(MAPPING)
    mapping["mappings"]["\x1b[31mTASK-a3f2\x1b[0m"] = {"jira": "PROJ-1"}
    mapping["mappings"]["TASK-a3f2.1"] = {"jira": "\x1b]0;pwned\x07", "n\u202eote": "x\r"}
    counters = copy_doc(COUNTERS)
    counters["counters"]["\x1b[2J"] = 1
    counters["counters"]["jira"]["\x08\x08\x08"] = 3
    counters["\x07"] = 1
    m, c = write_state(tmp_path / "s", mapping, counters)
    result = run_extid("check", str(m), str(c))
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout.splitlines() == [
        f'{m}: $.mappings["\\u001b[31mTASK-a3f2\\u001b[0m"]: "\\u001b[31mTASK-a3f2\\u001b[0m" '
        "is not an internal ID PREFIX-[SUB-]HASH[.N]",
        f'{m}: $.mappings["TASK-a3f2.1"].jira: "\\u001b]0;pwned\\u0007" is not a jira ID KEY-n '
        "(e.g. PROJ-456)",
        f'{m}: $.mappings["TASK-a3f2.1"]["n\\u202eote"]: unknown field (typo?)',
        f'{c}: $["\\u0007"]: unknown top-level field',
        f'{c}: $.counters["\\u001b[2J"]: unknown tool (expected one of azure_devops, github, '
        "jira, linear)",
        f'{c}: $.counters.jira["\\b\\b\\b"]: "\\b\\b\\b" is not a project key (e.g. PROJ)',
    ]


# --- size and depth limits ----------------------------------------------------------------

_MAXRSS_OF_CHILD = """
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(r.stdout)
sys.stderr.write(r.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(r.returncode)
"""


#: Over document.MAX_BYTES (256 MiB): a runaway file.
OVERSIZED = 300 * 1024 * 1024


def sparse_file(path: Path, size: int = OVERSIZED) -> None:
    """A file of `size` bytes that costs no disk (a hole after one byte)."""
    with open(path, "wb") as f:
        f.write(b"{")
        os.truncate(f.fileno(), size)


def run_measured(*args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """`extid ARGS` in a child; returns the result and the child's peak RSS in KiB."""
    exe = [sys.executable, "-m", "extid", *args]
    result = subprocess.run(
        [sys.executable, "-c", _MAXRSS_OF_CHILD, *exe], capture_output=True, text=True, timeout=60
    )
    peak_kib = int(result.stderr.splitlines()[-1])
    return result, peak_kib


TOO_BIG = "file is 314572800 bytes, over the 268435456-byte limit"


def test_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """`extid check`: the child's peak memory shows the file was never read."""
    path = tmp_path / MAPPING_FILE
    sparse_file(path)
    result, peak_kib = run_measured("check", str(path))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{path}: {TOO_BIG}; run `extid repair`")
    assert peak_kib < 100 * 1024, f"extid read the file: peak RSS {peak_kib} KiB"


def test_a_million_entry_registry_is_not_refused_for_its_size(tmp_path: Path) -> None:
    """1M entries of the benchmarks' shape make a 158 MiB file, once over the limit: it is read
    now (a sparse file of that size, whose NUL bytes are what `check` then names)."""
    path = tmp_path / MAPPING_FILE
    sparse_file(path, 158 * 1024 * 1024)
    result, _ = run_measured("check", str(path))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{path}: line 1: is UTF-16/32, not UTF-8; ")


def test_oversized_state_file_in_the_store(tmp_path: Path) -> None:
    """Regression: the store read 128 MB of it (twice) and reported a wrong size."""
    directory = tmp_path / "s"
    mapping, _ = write_state(directory)
    sparse_file(mapping)
    result, peak_kib = run_measured("--state-dir", str(directory), "lookup", "TASK-E01-b2c4")
    assert result.returncode == 1
    assert result.stderr.splitlines()[0].startswith(f"extid: error: {mapping}: {TOO_BIG} (")
    assert "extid repair" in result.stderr  # a reader only names the fix
    assert peak_kib < 100 * 1024, f"extid read the file: peak RSS {peak_kib} KiB"
    assert mapping.stat().st_size == OVERSIZED  # a reader changes nothing


def test_parse_refuses_oversized_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(document, "MAX_BYTES", 1000)
    with pytest.raises(ParseError, match="file is 1001 bytes, over the 1000-byte limit"):
        document.parse(b" " * 1001, "f")


def _large_with_deep_value(depth: int) -> bytes:
    """A canonical-looking file over LARGE_BYTES (orjson fast path) with a deep value inside."""
    head = b'{\n  "mappings": {\n    "TASK-a3f2": {\n      "deep": '
    tail = b',\n      "pad": "' + b"x" * document.LARGE_BYTES + b'"\n    }\n  }\n}\n'
    return head + b"[" * depth + b"1" + b"]" * depth + tail


@pytest.mark.parametrize("depth", [100, 1000, 1023, 1100])
def test_deep_value_in_a_large_file(depth: int) -> None:
    """Regression: 1000 levels in a file over 256 KiB crashed the fast path's dump with a
    RecursionError traceback, and canonical files 65..990 deep skipped the depth limit."""
    message = outcome(_large_with_deep_value(depth))
    assert message == "nesting deeper than 64 levels"


def test_deep_canonical_file_takes_no_shortcut() -> None:
    value: object = 1
    for _ in range(80):
        value = [value]
    pad = {"pad": "x" * document.LARGE_BYTES, "deep": value}
    data = document.canonical(pad)  # json.dumps copes with 80 levels
    assert len(data) > document.LARGE_BYTES
    assert outcome(data) == "nesting deeper than 64 levels"


# --- fuzzing ------------------------------------------------------------------------------

_LARGE_MAPPING = copy_doc(MAPPING)
_LARGE_MAPPING["mappings"].update(
    {f"TASK-{i:04x}": {"jira": f"PROJ-{i + 1}", "github": str(i + 300)} for i in range(4000)}
)
SEEDS = [
    document.canonical(MAPPING),
    document.canonical(COUNTERS),
    document.canonical(_LARGE_MAPPING),  # over LARGE_BYTES: the orjson path
]
INTERESTING = [b"\x00", b"\xff", b'"', b"\\", b"{", b"}", b"[", b"]", b",", b":", b"\n", b"-"]
INTERESTING += [b"1e999", b"NaN", b"\\ud800", b"\xef\xbb\xbf", b"<<<<<<< x\n", b"\x1b[2J"]
INTERESTING += [b"9" * 30, b'"jira": "X-1", "jira"', b"true", b"457.0", b"\r\n", b"\xc0\x80"]

mutation = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "duplicate", "replace"]),
    st.floats(0, 1, exclude_max=True),
    st.integers(1, 64),
    st.one_of(st.binary(min_size=1, max_size=8), st.sampled_from(INTERESTING)),
)


def mutate(data: bytes, ops: list[tuple[str, float, int, bytes]]) -> bytes:
    buf = bytearray(data)
    for op, where, width, blob in ops:
        i = int(where * len(buf)) if buf else 0
        if op == "flip" and buf:
            buf[i] ^= 1 << (width % 8)
        elif op == "insert":
            buf[i:i] = blob
        elif op == "delete":
            del buf[i : i + width]
        elif op == "duplicate":
            buf[i:i] = buf[i : i + width]
        else:
            buf[i : i + len(blob)] = blob
    return bytes(buf)


# EXTID_FUZZ_EXAMPLES raises the budget for a long local hunt.
@settings(
    max_examples=int(os.environ.get("EXTID_FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
@given(seed=st.sampled_from(SEEDS), ops=st.lists(mutation, min_size=1, max_size=6))
def test_mutated_files_are_documents_or_extid_errors(
    seed: bytes, ops: list[tuple[str, float, int, bytes]]
) -> None:
    data = mutate(seed, ops)
    outcome(data)  # asserts: parsed, or a one-line ParseError naming the file
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        name = COUNTERS_FILE if b'"counters"' in seed else MAPPING_FILE
        (directory / name).write_bytes(data)
        before = snapshot(directory)
        problems = checkfiles.check_paths([str(directory / name)])
        assert all(isinstance(p, Problem) and printable_lines(str(p)) for p in problems)
        assert snapshot(directory) == before


def test_a_duplicate_key_is_placed_in_its_own_object() -> None:
    """The same key in sibling objects is no duplicate; the line named is the repeat's."""
    data = (
        b'{\n  "mappings": {\n'
        b'    "TASK-0001": {\n      "jira": "PROJ-1"\n    },\n'
        b'    "TASK-0002": {\n      "jira": "PROJ-2"\n    },\n'
        b'    "TASK-0003": {\n      "epic": "EPIC-001",\n      "jira": "PROJ-3",\n'
        b'      "jira": "PROJ-4"\n    }\n  }\n}\n'
    )
    with pytest.raises(ParseError) as e:
        document.parse(data, "m.json")
    assert str(e.value) == "m.json: line 12 column 7: duplicate key 'jira'"
