"""Shared pieces of the store, mapper and core CLI tests: sample documents, a state writer,
a byte snapshot of a directory (to prove "nothing was written") and a committed git repo."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path
from typing import Any

from extid.document import canonical
from extid.store.maintenance import GITIGNORE

MAPPING_FILE = "external_id_mapping.json"
COUNTERS_FILE = "external_id_counters.json"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
GUARDKIT = FIXTURES / "guardkit-v1.0"

MAPPING: dict[str, Any] = {
    "mappings": {
        "TASK-E01-b2c4": {
            "azure_devops": "1234",
            "created": "2025-01-08T10:00:00Z",
            "epic": "EPIC-001",
            "github": "234",
            "jira": "PROJ-456",
            "linear": "TEAM-789",
        }
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


def sample(doc: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(doc)


def write_state(
    directory: Path,
    mapping: object = MAPPING,
    counters: object = COUNTERS,
) -> tuple[Path, Path]:
    """Write the two files (canonical JSON of objects, or raw bytes as given)."""
    directory.mkdir(parents=True, exist_ok=True)
    m, c = directory / MAPPING_FILE, directory / COUNTERS_FILE
    for path, content in ((m, mapping), (c, counters)):
        path.write_bytes(content if isinstance(content, bytes) else canonical(content))
    return m, c


def snapshot(directory: Path) -> dict[str, bytes]:
    """name -> bytes of every entry (symlinks as their target), to compare before/after.
    The empty lock file is left out: taking the lock may create it, and that writes nothing.
    So is the `.gitignore` that keeps it out of git, which is written with it (only if it
    holds exactly extid's lines: any other change to it still shows)."""
    out: dict[str, bytes] = {}
    for name in sorted(os.listdir(directory)):
        path = directory / name
        if path.is_symlink():
            out[name] = b"-> " + os.readlink(path).encode()
        elif name == ".extid.lock":
            continue
        elif path.is_file():
            out[name] = path.read_bytes()
    if out.get(".gitignore") == GITIGNORE.encode():
        del out[".gitignore"]
    return out


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def committed_repo(root: Path) -> Path:
    """A git repository at `root` whose HEAD holds the sample state in `.claude/state`."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    state = root / ".claude" / "state"
    write_state(state)
    git(root, "add", ".claude/state")
    git(root, "commit", "-q", "-m", "state")
    return state


def corrupt_files(directory: Path) -> list[str]:
    """The names of the quarantined copies in `directory`."""
    return sorted(n for n in os.listdir(directory) if ".corrupt-" in n)


def temp_files(directory: Path) -> list[str]:
    """The names of temp files (writes in progress or left over) in `directory`."""
    return sorted(n for n in os.listdir(directory) if ".tmp-" in n)
