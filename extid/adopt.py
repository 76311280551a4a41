"""Adopting a repository: what git tracks in the state directory that it should not (the
locks, backups, quarantined and temp files, extid's or the original tool's), and the state
files found there brought to extid's canonical form. `install`, `doctor` and `repair` call
these in a line or two."""

from __future__ import annotations

import fnmatch
import posixpath
from pathlib import Path

from . import git
from .store import Store
from .store.maintenance import IGNORED as STRAY_PATTERNS


def stray_tracked(top: Path, state_dir: Path) -> list[str]:
    """Paths (relative to `top`) of extid's lock, backups, quarantined or temp files that git
    tracks in `state_dir`: an ignore pattern does not stop git tracking what it already does,
    and every later merge would conflict on them."""
    try:
        rel_dir = git.rel_to(top, state_dir)
    except git.GitError:  # a state directory outside the repository: nothing git tracks
        return []
    parent = "" if rel_dir in ("", ".") else rel_dir
    return [
        rel
        for rel in git.tracked_files(top, rel_dir)
        if posixpath.dirname(rel) == parent
        and any(fnmatch.fnmatchcase(posixpath.basename(rel), p) for p in STRAY_PATTERNS)
    ]


def doctor_findings(top: Path, state_dir: Path) -> list[tuple[str, str]]:
    """(what is wrong, its fix) for each `stray_tracked` file, as `extid doctor` reports it."""
    return [
        (
            f"{rel} is tracked by git (ignoring it does not untrack it)",
            "extid install (runs `git rm --cached`; the file stays on disk; commit the removal)",
        )
        for rel in stray_tracked(top, state_dir)
    ]


def untrack_strays(state_dir: Path, top: Path | None = None) -> list[str]:
    """`git rm --cached` each `stray_tracked` file (outside a git work tree: nothing); one line
    per file."""
    if top is None:
        try:
            top = git.toplevel()
        except git.GitError:  # no git at all: nothing it could track
            return []
        if top is None:
            return []
    strays = stray_tracked(top, state_dir)
    if strays:
        git.untrack(top, strays)
    return [
        f"untracked {rel} (git rm --cached: the file stays on disk; commit the removal)"
        for rel in strays
    ]


def adopt(top: Path, state_dir: Path) -> list[str]:
    """Everything `extid install` does to a state directory it finds: strays untracked, the
    `.gitignore` written if missing, the files in canonical form (another tool's counters read
    as last used, `model.adopt_counters`). One line per change."""
    return untrack_strays(state_dir, top) + Store(state_dir).adopt()
