"""Which git operation is in progress, read from the git directory's state files without
running git: cheap enough for the merge driver, which must not load `extid.git`."""

from __future__ import annotations

import os
from pathlib import Path


def git_dir(top: str | Path | None = None) -> Path | None:
    """The git directory of the work tree whose top is `top` (default: the current directory,
    where git runs merge drivers and hooks): `$GIT_DIR`, else `.git`, a directory or, in a
    linked worktree or submodule, a file `gitdir: PATH`."""
    base = Path(top) if top is not None else Path.cwd()
    env = os.environ.get("GIT_DIR")
    if env:
        return Path(os.path.abspath(env))
    dot = base / ".git"
    if dot.is_dir():
        return dot
    try:
        text = dot.read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("gitdir:"):
        return None
    return base / text[len("gitdir:") :].strip()  # an absolute PATH replaces base


def rebasing(top: str | Path | None = None) -> bool:
    """Whether a rebase is in progress. There git's "ours" is the upstream being rebased onto
    and "theirs" the user's own commit, and the way on is `git rebase --continue`, not a
    commit. `git am` (which also uses rebase-apply, with a file `applying`) is not one."""
    found = git_dir(top)
    if found is None:
        return False
    apply = found / "rebase-apply"
    return (found / "rebase-merge").is_dir() or (
        apply.is_dir() and not (apply / "applying").exists()
    )
