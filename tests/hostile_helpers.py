"""Shared pieces of the reliability suite (tests/test_reliability_*.py): sample documents, a
state-directory writer and a snapshot of a directory's bytes to prove "nothing was written"."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from extid.document import canonical

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
