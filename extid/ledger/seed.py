"""Seeding a clone's first ledger: the highest numbers the state files hold at HEAD and at every
ref the clone has (branches, remote-tracking branches, tags, the stash), read in one
`git cat-file --batch`, so that a fresh clone never re-issues a number some branch already has.
"""

from __future__ import annotations

from pathlib import Path

from .. import model
from ..document import COUNTERS_FILE, MAPPING_FILE
from ..errors import ExtidError
from .local import highest, marks_of_bytes


def seed(state_dir: Path) -> dict[model.CounterKey, int]:
    """The marks of the state files of `state_dir` at HEAD and at every ref (empty when git
    cannot tell: no work tree, no commit yet)."""
    from .. import git

    cwd = state_dir
    while not cwd.is_dir() and cwd != cwd.parent:
        cwd = cwd.parent
    try:
        top = git.toplevel(cwd)
        if top is None:
            return {}
        rel = git.rel_to(top, state_dir)
        refs = git.run_git(["for-each-ref", "--format=%(objectname)"], top).stdout.split()
        head = git.run_git(["rev-parse", "-q", "--verify", "HEAD"], top, check=False)
        revs = list(dict.fromkeys([*head.stdout.split(), *refs]))
        if not revs:
            return {}
        prefix = "" if rel == "." else rel + "/"
        specs = [
            f"{rev.decode()}:{prefix}{name}"
            for rev in revs
            for name in (MAPPING_FILE, COUNTERS_FILE)
        ]
        out = git.run_git(["cat-file", "--batch"], top, input="\n".join(specs).encode() + b"\n")
    except ExtidError:
        return {}
    return marks_of_batch(out.stdout)


def marks_of_batch(out: bytes) -> dict[model.CounterKey, int]:
    """The marks of every state file in `git cat-file --batch` output (each blob parsed once;
    a version that is not a readable state file is skipped: it issued nothing)."""
    found: list[dict[model.CounterKey, int]] = []
    seen: set[bytes] = set()
    pos = 0
    while pos < len(out):
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) != 3 or not header[2].isdigit():  # "<spec> missing", "ambiguous"
            continue
        size = int(header[2])
        data, pos = out[pos : pos + size], pos + size + 1
        if header[1] != b"blob" or header[0] in seen:
            continue
        seen.add(header[0])
        found.append(marks_of_bytes(data))
    return highest(*found)


__all__ = ["marks_of_batch", "seed"]
