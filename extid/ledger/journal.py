"""The ledger's bytes on disk: an append-only file of JSON lines, each line the whole set of
marks (`{"version": 1, "marks": {...}}`), the last complete line that parses being current.

Appending a line costs one fsync; an atomic rename would cost a second one for the directory,
on every allocation. A crash mid-append leaves a torn last line, which readers skip: its fsync
never returned, so the state files after it were never written and its number never printed.
The next append starts on a fresh line. Past `COMPACT_AT` bytes the file is rewritten as one
line (atomic write, directory fsync), so reading it stays cheap.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ExtidError

VERSION = 1
COMPACT_AT = 32 * 1024
_FLAGS = os.O_RDWR | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def line(marks: dict[str, Any]) -> bytes:
    return json.dumps({"version": VERSION, "marks": marks}, sort_keys=True).encode() + b"\n"


def current(data: bytes, name: str) -> dict[str, Any]:
    """The marks of the last complete line that is a ledger entry; refuses a file with none."""
    complete = data[: data.rfind(b"\n") + 1]
    for raw in reversed(complete.splitlines()):
        try:
            doc = json.loads(raw)
        except ValueError:
            continue  # a torn line a later append started after
        if isinstance(doc, dict) and doc.get("version") == VERSION:
            marks = doc.get("marks")
            if isinstance(marks, dict):
                return marks
    raise ExtidError(
        f"{name}: not an extid ledger (no readable entry, or an unknown version); move it aside "
        "and run the command again to rebuild it from the state files at every git ref"
    )


def append(path: Path, marks: dict[str, Any], size: int) -> int:
    """Add `marks` durably to the ledger file of `size` bytes (0: none yet; at `COMPACT_AT` or
    more it is rewritten whole); returns the new size."""
    from ..store.durable import atomic_write, reason, refuse_symlink

    data = line(marks)
    if size == 0 or size >= COMPACT_AT:
        atomic_write(path, data)
        return len(data)
    name = str(path)
    try:
        fd = os.open(name, _FLAGS)
    except OSError as e:
        refuse_symlink(name, _lstat_or_none(name))
        raise ExtidError(f"{name}: cannot write ({reason(e)})") from e
    try:
        if os.pread(fd, 1, size - 1) != b"\n":  # after a torn line: start a fresh one
            data = b"\n" + data
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
    except OSError as e:
        raise ExtidError(f"{name}: cannot write ({reason(e)})") from e
    finally:
        os.close(fd)
    return size + len(data)


def _lstat_or_none(name: str) -> os.stat_result | None:
    try:
        return os.lstat(name)
    except OSError:
        return None
