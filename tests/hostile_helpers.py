"""Shared pieces of the reliability suite (tests/test_reliability_*.py): sample documents, a
state-directory writer and a snapshot of a directory's bytes to prove "nothing was written"."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from extid.document import canonical
from extid.store import Store

MAPPING_FILE = "external_id_mapping.json"
COUNTERS_FILE = "external_id_counters.json"
CORPUS = Path(__file__).resolve().parent / "corpora" / "jsontestsuite" / "test_parsing"

MAPPING: dict[str, Any] = {
    "mappings": {
        "TASK-E01-b2c4": {
            "azure_devops": "1234",
            "created": "2025-01-08T10:00:00Z",
            "epic": "EPIC-001",
            "github": "234",
            "jira": "PROJ-456",
            "linear": "TEAM-789",
        },
        "TASK-a3f2.1": {"github": "17", "jira": "TEST-11"},
    },
    "updated": "2025-01-08T10:30:00Z",
    "version": "1.0",
}
COUNTERS: dict[str, Any] = {
    "counters": {
        "azure_devops": 1235,
        "github": 235,
        "jira": {"PROJ": 457, "TEST": 12},
        "linear": {"TEAM": 790},
    },
    "updated": "2025-01-08T10:30:00Z",
    "version": "1.0",
}


def copy_doc(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(doc))
    return result


def write_state(
    directory: Path, mapping: Any = MAPPING, counters: Any = COUNTERS
) -> tuple[Path, Path]:
    """Both state files in canonical form; returns (mapping path, counters path)."""
    directory.mkdir(parents=True, exist_ok=True)
    m, c = directory / MAPPING_FILE, directory / COUNTERS_FILE
    m.write_bytes(canonical(mapping))
    c.write_bytes(canonical(counters))
    return m, c


def snapshot(directory: Path) -> dict[str, bytes | str]:
    """Every entry under `directory`: file bytes, or the target of a symlink."""
    out: dict[str, bytes | str] = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(root, name)
            rel = str(path.relative_to(directory))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                out[rel] = path.read_bytes()
    return out


def printable_lines(text: str) -> bool:
    """No control character (ANSI escape, BEL, CR...) reaches the terminal raw."""
    return all(line.isprintable() for line in text.splitlines())


@contextlib.contextmanager
def tmpfs_or_plain(path: Path) -> Iterator[Path]:
    """`path` on a private tmpfs when we may mount one: many-process tests then measure
    extid, not the disk's fsync latency. A process kill keeps the page cache either way."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield path
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)


# --- a spy/fault layer over the os functions the store calls ---------------------------

# The syscalls a save can fail in; lstat is a read and is covered by the hostile-input tests.
STEPS = ("open", "fchmod", "fchown", "write", "fsync", "close", "link", "replace", "unlink")


@dataclass
class Call:
    name: str
    target: str  # the path, or the path an fd was opened with
    index: int


@dataclass
class Syscalls:
    """Records (and optionally fails) the os calls made inside `Store._save` (the writes of
    every transaction), this thread only.

    `fail_at` is 1-based over the calls whose name is in STEPS.
    """

    fail_at: int = 0
    error: int = errno.EIO
    calls: list[Call] = field(default_factory=list)
    failed: Call | None = None
    fds: dict[int, str] = field(default_factory=dict)
    active_thread: int | None = None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in STEPS:
            monkeypatch.setattr(os, name, self._wrap(name, getattr(os, name)))
        save = Store._save

        def spying_save(store: Store, files: Any, ledger: Any = None) -> None:
            self.active_thread = threading.get_ident()
            try:
                save(store, files, ledger)
            finally:
                self.active_thread = None

        monkeypatch.setattr(Store, "_save", spying_save)

    def _wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self.active_thread != threading.get_ident():
                return real(*args, **kwargs)
            first = args[0]
            target = self.fds.get(first, "?") if isinstance(first, int) else os.fspath(first)
            record = Call(name, target, len(self.calls) + 1)
            self.calls.append(record)
            if record.index == self.fail_at:
                self.failed = record
                raise OSError(self.error, os.strerror(self.error), target)
            result = real(*args, **kwargs)
            if name == "open":
                self.fds[result] = target
            return result

        return call
