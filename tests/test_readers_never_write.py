"""Reading commands never write, and only unparseable bytes are corrupt.

Read-only commands (lookup, list, reverse, check, doctor, their --json forms, migrate --dry-run,
new-id) leave every byte and every name in the state directory as it was, whatever the files
hold; a broken file is reported in one line with its place and the fix, exit non-zero. A file
that parses but breaks the schema or the rules is the user's to fix: no command replaces it. A
BOM and CRLF line ends are the same document; the next write drops them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import InProcess
from store_helpers import (
    COUNTERS_FILE,
    MAPPING,
    MAPPING_FILE,
    committed_repo,
    git,
    sample,
)

from extid import document
from extid.store import Store

BOM = b"\xef\xbb\xbf"

READERS = [
    ("lookup", "TASK-a3f2"),
    ("list",),
    ("reverse", "jira", "PROJ-457"),
    ("reverse", "jira", "PROJ-457", "--json"),
    ("check",),
    ("check", "--json"),
    ("doctor",),
    ("doctor", "--json"),
    ("migrate", "--dry-run"),
    ("repair", "--dry-run"),
    ("new-id",),
]


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` (directories as None) with its bytes, .git left out."""
    out: dict[str, bytes | None] = {}
    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for d in dirs:
            out[os.path.relpath(os.path.join(top, d), root)] = None
        for f in files:
            path = os.path.join(top, f)
            out[os.path.relpath(path, root)] = Path(path).read_bytes()
    return out


def newest_mapping_repo(root: Path) -> Path:
    """A repo whose HEAD and work tree hold TASK-a3f2 (PROJ-457); `.bak` is one write older."""
    state = committed_repo(root)
    with Store(state).transaction() as s:
        s.mappings["TASK-a3f2"] = {"jira": "PROJ-457"}
    git(root, "add", ".claude/state")
    git(root, "commit", "-q", "-m", "newest")
    return state


def schema_break(data: bytes) -> bytes:
    return data.replace(b'"github": "234"', b'"github": 7')


def unknown_field(data: bytes) -> bytes:
    return data.replace(b'"jira": "PROJ-457"', b'"jira": "PROJ-457", "colour": "red"')


def duplicate_key(data: bytes) -> bytes:
    return data.replace(b'"jira": "PROJ-457"', b'"jira": "PROJ-457", "jira": "PROJ-457"')


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


#: What editors and `core.autocrlf` do to a file: the same document.
EDITED = {
    "bom": lambda data: BOM + data,
    "crlf": lambda data: data.replace(b"\n", b"\r\n"),
}
Breaker = Callable[[str], Path]


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Breaker:
    """`newest_mapping_repo` with its mapping file changed `how` (BROKEN, EDITED), as the
    current directory; returns the mapping file's path."""

    def make(how: str) -> Path:
        m = newest_mapping_repo(tmp_path / "repo") / MAPPING_FILE
        m.write_bytes({**BROKEN, **EDITED}[how](m.read_bytes()))
        monkeypatch.chdir(tmp_path / "repo")
        return m

    return make


BROKEN = {
    "schema": schema_break,
    "unknown field": unknown_field,
    "duplicate key": duplicate_key,
    "truncated": truncated,
}


@pytest.mark.parametrize("how", sorted(BROKEN))
@pytest.mark.parametrize("argv", READERS, ids=lambda a: " ".join(a))
def test_readers_change_nothing_on_a_broken_file(
    tmp_path: Path, broken: Breaker, in_process: InProcess, argv: tuple[str, ...], how: str
) -> None:
    m = broken(how)
    before = tree(tmp_path)
    result = in_process(*argv)
    assert tree(tmp_path) == before
    assert result.returncode != 0
    assert str(m) in result.stdout + result.stderr


@pytest.mark.parametrize("argv", READERS, ids=lambda a: " ".join(a))
def test_readers_create_nothing_where_no_state_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process: InProcess, argv: tuple[str, ...]
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    monkeypatch.chdir(root)
    before = tree(tmp_path)
    in_process(*argv)
    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    "how, fix",
    [
        ("truncated", "extid repair"),
        ("schema", "by hand"),
        ("duplicate key", "by hand"),
        ("unknown field", "by hand"),
    ],
)
def test_reader_error_is_one_line_with_place_and_fix(
    broken: Breaker, in_process: InProcess, how: str, fix: str
) -> None:
    m = broken(how)
    result = in_process("lookup", "TASK-a3f2")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert str(m) in line and fix in line
    assert "line " in line or "$." in line
    if how != "truncated":
        assert "extid repair" not in line  # a repair could only throw the user's edit away


@pytest.mark.parametrize("how", ["schema", "unknown field", "duplicate key"])
@pytest.mark.parametrize(
    "argv",
    [
        ("allocate", "TASK-b3f2", "jira", "--project", "PROJ"),
        ("record", "TASK-b3f2", "github", "900"),
        ("remove", "TASK-a3f2"),
        ("repair",),
        ("migrate",),
    ],
    ids=lambda a: a[0],
)
def test_writers_refuse_a_parseable_file_that_breaks_the_rules(
    broken: Breaker, in_process: InProcess, argv: tuple[str, ...], how: str
) -> None:
    m = broken(how)
    before = {k: v for k, v in tree(m.parent).items() if k != ".extid.lock"}
    result = in_process(*argv)
    assert result.returncode == 1
    assert {k: v for k, v in tree(m.parent).items() if k != ".extid.lock"} == before
    assert str(m) in result.stderr and "by hand" in result.stderr


def test_a_writer_still_restores_unparseable_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process: InProcess
) -> None:
    state = newest_mapping_repo(tmp_path / "repo")
    (state / MAPPING_FILE).write_bytes(b"{ broken")
    monkeypatch.chdir(tmp_path / "repo")
    assert in_process("repair").returncode == 0
    assert "TASK-E01-b2c4" in Store(state).load().mappings


@pytest.mark.parametrize("form", ["bom", "crlf", "bom+crlf"])
def test_bom_and_crlf_are_read_as_the_same_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process: InProcess, form: str
) -> None:
    state = newest_mapping_repo(tmp_path / "repo")
    monkeypatch.chdir(tmp_path / "repo")
    for name in (MAPPING_FILE, COUNTERS_FILE):
        path = state / name
        data = path.read_bytes()
        if "crlf" in form:
            data = data.replace(b"\n", b"\r\n")
        if "bom" in form:
            data = BOM + data
        path.write_bytes(data)
    before = tree(tmp_path)
    for argv in READERS:
        assert in_process(*argv).returncode in (0, 1)  # lookup of a task without IDs: 1
    assert tree(tmp_path) == before
    found = in_process("lookup", "TASK-a3f2")
    assert (found.returncode, found.stdout, found.stderr) == (0, "jira: PROJ-457\n", "")
    assert in_process("check").returncode == 0
    # The next write drops them: canonical bytes, the newest mapping kept.
    assert in_process("allocate", "TASK-b3f2", "jira", "--project", "PROJ").stdout == "PROJ-458\n"
    data = (state / MAPPING_FILE).read_bytes()
    assert document.parse(data, "m").canonical
    assert b'"PROJ-457"' in data
    assert not [n for n in os.listdir(state) if ".corrupt-" in n]


def test_format_check_names_crlf_as_the_only_difference(
    tmp_path: Path, broken: Breaker, in_process: InProcess
) -> None:
    m = broken("crlf")
    before = tree(tmp_path)
    result = in_process("format", "--check")
    assert result.returncode == 1
    assert tree(tmp_path) == before
    [line] = result.stdout.splitlines()
    assert str(m) in line and "CRLF line ends" in line and "only difference" in line
    assert in_process("format").returncode == 1  # the pre-commit fixer convention
    assert document.parse(m.read_bytes(), "m").canonical
    assert in_process("format", "--check").returncode == 0


def test_bom_migrate_dry_run_keeps_the_newest_mapping(
    tmp_path: Path, broken: Breaker, in_process: InProcess
) -> None:
    """The reported loss: a BOM made `migrate --dry-run` restore the one-write-old `.bak`."""
    m = broken("bom")
    state = m.parent
    before = tree(tmp_path)
    assert in_process("migrate", "--dry-run").returncode == 0
    assert tree(tmp_path) == before
    assert "TASK-a3f2" in Store(state).load().mappings
    assert sample(MAPPING)["mappings"].keys() <= Store(state).load().mappings.keys()


UNPARSEABLE = [
    b"",
    b" \n",
    b'{"mappings": {',
    b"\x00\xff garbage",
    b'{"a": 1}'.decode().encode("utf-16"),
    b'{"a": "\xc3\x28"}',
    b'{"github": NaN}',
    b"<<<<<<< ours\n{}\n=======\n{}\n>>>>>>> theirs\n",
    b'{"a": 1}x',
]
PARSEABLE_BUT_REFUSED = [
    b'{"a": 1, "a": 2}',
    b'{"github": 1e400}',
    b'{"github": ' + b"7" * 30 + b"}",
    b"[" * 100 + b"]" * 100,
    b'{"a": "\\ud800"}',
    b"[]",
    b'{"mappings": {}, "version": 7}',
    b'{"mappings": {}, "version": "0.9"}',
]


@pytest.mark.parametrize("data", UNPARSEABLE)
def test_only_bytes_that_are_not_json_are_corrupt(data: bytes) -> None:
    from extid.errors import ParseError, is_corrupt
    from extid.store import decode

    with pytest.raises(ParseError) as info:
        decode(data, "mapping", "m.json")
    assert is_corrupt(info.value)


@pytest.mark.parametrize("data", PARSEABLE_BUT_REFUSED)
def test_parseable_json_that_is_refused_is_not_corrupt(data: bytes) -> None:
    from extid.errors import ExtidError, is_corrupt
    from extid.store import decode

    with pytest.raises(ExtidError) as info:
        decode(data, "mapping", "m.json")
    assert not is_corrupt(info.value)
