"""git's directories and the operation in progress, found by reading files without running git:
cheap enough for every allocation and hook start-up, and for the merge driver, which must not
load `extid.git`. Where the answer needs git itself (the work tree's top), see `extid.git`."""

from __future__ import annotations

import os
from pathlib import Path

#: What git leaves in its directory while a merge, cherry-pick, revert or rebase is stopped.
OPERATION_MARKERS = (
    "MERGE_HEAD",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "rebase-merge",
    "rebase-apply",
)


def _read_pointer(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def git_dir(start: str | Path | None = None) -> Path | None:
    """The git directory for `start` (default: the current directory, where git runs merge
    drivers and hooks; a path that need not exist): `$GIT_DIR`, else the nearest `.git` at or
    above it, a directory or, in a linked worktree or submodule, a file `gitdir: PATH`."""
    env = os.environ.get("GIT_DIR")
    if env:
        return Path(os.path.abspath(env))
    here = Path(os.path.abspath(start if start is not None else os.curdir))
    for directory in (here, *here.parents):
        dot_git = os.path.join(directory, ".git")
        if os.path.isdir(dot_git):
            return Path(dot_git)
        if os.path.isfile(dot_git):
            pointer = _read_pointer(dot_git) or ""
            if not pointer.startswith("gitdir:"):
                return None
            return Path(os.path.normpath(os.path.join(directory, pointer[7:].strip())))
    return None


def common_dir(start: str | Path | None = None) -> Path | None:
    """git's common directory for `start`, as `git rev-parse --git-common-dir` would say:
    `$GIT_COMMON_DIR`, else the git directory's, or the one its `commondir` names (a linked
    worktree's); shared by every worktree of a clone."""
    env = os.environ.get("GIT_COMMON_DIR")
    if env:
        return Path(os.path.abspath(env))
    found = git_dir(start)
    if found is None:
        return None
    pointer = _read_pointer(os.path.join(found, "commondir"))
    return Path(os.path.normpath(os.path.join(found, pointer))) if pointer else found


def in_operation(start: str | Path | None = None) -> bool:
    """Whether git is stopped in the middle of a merge, cherry-pick, revert or rebase."""
    found = git_dir(start)
    return found is not None and any((found / m).exists() for m in OPERATION_MARKERS)


def concluding(start: str | Path | None = None) -> bool:
    """Whether the next commit concludes a merge, cherry-pick or revert (git's `MERGE_HEAD`,
    `CHERRY_PICK_HEAD` or `REVERT_HEAD` exists): a commit git's prepare-commit-msg hook sees
    whatever `--no-verify` skipped. Not during a rebase, whose picks git commits with
    `CHERRY_PICK_HEAD` set: a stopped pick is `replayed_commit`'s, and what a rebase drops on
    purpose the post-rewrite hook settles."""
    found = git_dir(start)
    markers = OPERATION_MARKERS[:3]
    return found is not None and any((found / m).exists() for m in markers) and not rebasing(start)


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


def replayed_commit(start: str | Path | None = None) -> str | None:
    """The commit a stopped rebase is replaying (`REBASE_HEAD`) while the next commit is its
    replay: the commit `git rebase --continue` makes after a conflict, which git's sequencer
    makes without the pre-commit hook. None outside a rebase and at an `edit` stop
    (`rebase-merge/amend`), where HEAD already is the replay and a commit amends it."""
    found = git_dir(start)
    if found is None or not rebasing(start) or (found / "rebase-merge" / "amend").exists():
        return None
    commit = _read_pointer(str(found / "REBASE_HEAD")) or ""
    return commit if len(commit) in (40, 64) and commit.isalnum() else None
