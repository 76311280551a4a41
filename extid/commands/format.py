"""`extid format [--check] [FILES...]`: rewrite state files in canonical form.

The pre-commit fixer convention: prints `Fixing <file>` for each file it rewrote and exits 1 if
it rewrote any. `--check` only reports, with a diff. A file that does not parse strictly, or that
a newer extid wrote, is never rewritten: rewriting it could lose something.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import sys

from .. import document
from ..document import COUNTERS_FILE, MAPPING_FILE, read_file
from ..errors import ExtidError, ParseError, ParseProblem
from ..migrations import version_of

TYPE_CHECKING = False  # not typing's: importing typing costs every hook ~3 ms
if TYPE_CHECKING:
    import argparse
    from contextlib import AbstractContextManager

#: A diff longer than this is cut: the point is to show what kind of change is needed.
MAX_DIFF_LINES = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="state files (default: both)")
    parser.add_argument("--check", action="store_true", help="report only, with a diff")


def run(state_dir: str | None, files: list[str], check: bool = False) -> int:
    rc = 0
    if files:
        paths = files
    else:
        from .check import default_files  # deferred: hooks always pass file names

        paths = default_files(state_dir)
    for path in paths:
        try:
            with _store_lock(path, state_dir, check):
                rc |= _format_one(path, check)
        except ExtidError as e:
            said = str(ParseProblem(e.file, e.where, e.said)) if isinstance(e, ParseError) else e
            print(f"{said} (not rewritten)")
            rc = 1
    return rc


def _store_lock(path: str, state_dir: str | None, check: bool) -> AbstractContextManager[object]:
    """The store's lock when rewriting a file of the state directory: an `allocate` between
    our read and our write would otherwise be undone. Other files need no lock (and must
    not get a lock file dropped beside them)."""
    if check or os.path.basename(path) not in (MAPPING_FILE, COUNTERS_FILE):
        return contextlib.nullcontext()
    from ..store import Store, resolve_state_dir

    try:
        directory = resolve_state_dir(state_dir)
    except ExtidError:
        return contextlib.nullcontext()
    if os.path.realpath(os.path.dirname(os.path.abspath(path))) != os.path.realpath(directory):
        return contextlib.nullcontext()
    return Store(directory).lock()


def _format_one(path: str, check_only: bool) -> int:
    data = read_file(path)
    # A large canonical mapping file is shown canonical slice by slice, its parse never held
    # whole (which would be ~5x the file); only its version needs reading.
    rest = None
    if len(data) >= document.LARGE_BYTES:
        from ..slices import is_canonical_mapping  # deferred: large files only

        rest = is_canonical_mapping(data)
    if rest is not None:
        version_of({"mappings": {}, **rest}, document.MAPPING, path)
        return 0
    parsed = document.parse(data, path)
    kind = document.kind_of(parsed.obj, path)
    if kind is not None:
        version_of(parsed.obj, kind, path)  # raises for a newer format: never touch it
    if parsed.canonical:
        return 0
    new = document.canonical(parsed.obj)
    if check_only:
        only = _only_difference(data, new)
        if only:
            print(f"{path}: not in canonical form: {only} (run `extid format`)")
            return 1
        print(f"{path}: not in canonical form (run `extid format`)")
        _print_diff(path, data, new)
        return 1
    from ..store import atomic_write  # deferred: only a rewrite needs the durable layer

    atomic_write(path, new)
    print(f"Fixing {path}")
    return 1


def _only_difference(old: bytes, new: bytes) -> str:
    """What an editor or `core.autocrlf` changed, when that is all that differs (a diff of
    every line would hide it); "" otherwise."""
    bom = old.startswith(document.BOM)
    crlf = b"\r\n" in old
    if old.removeprefix(document.BOM).replace(b"\r\n", b"\n") != new:
        return ""
    what = ["a UTF-8 byte order mark"] if bom else []
    what += ["CRLF line ends"] if crlf else []
    return f"the only difference is {' and '.join(what)} (canonical: LF, no BOM)" if what else ""


def _print_diff(path: str, old: bytes, new: bytes) -> None:
    diff = difflib.unified_diff(
        old.decode("utf-8", "replace").splitlines(keepends=True),
        new.decode("utf-8").splitlines(keepends=True),
        fromfile=f"{path} (now)",
        tofile=f"{path} (canonical)",
    )
    for i, line in enumerate(diff):
        if i == MAX_DIFF_LINES:
            sys.stdout.write("... (diff cut)\n")
            break
        sys.stdout.write(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
