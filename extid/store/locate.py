"""Where the state directory is: `--state-dir`, `$EXTID_STATE_DIR` or the git toplevel's
`.claude/state`, kept inside the repository it describes.

The toplevel is git's own answer (`git rev-parse`, in `extid.git`), never a walk up for `.git`:
git alone knows `GIT_DIR`/`GIT_WORK_TREE`, `core.worktree`, linked worktrees, submodules and
bare repositories, and a wrong answer here starts a second registry that issues numbers again.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UnsafePathError


def resolve_state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--state-dir`, else `$EXTID_STATE_DIR`, else `<git toplevel>/.claude/state`, else
    (outside any repository) `./.claude/state`; an absolute path. Inside a git repository an
    explicit setting must stay inside it (a typo must not scatter state files over the disk);
    a repository without a work tree (bare) is refused with `git.NoWorkTreeError`."""
    from .. import git  # git's own view: see git.toplevel

    cwd = Path(os.path.abspath(os.curdir))
    top = git.require_work_tree(cwd)
    if explicit is not None and os.fspath(explicit) != "":
        return _checked_setting(os.fspath(explicit), "--state-dir", cwd, top)
    env = os.environ.get("EXTID_STATE_DIR", "")
    if env:
        return _checked_setting(env, "EXTID_STATE_DIR", cwd, top)
    if top is None:
        return cwd / ".claude" / "state"
    # A branch can commit `.claude` or `.claude/state` as a symlink to anywhere.
    return _checked_setting(str(top / ".claude" / "state"), "the state directory", cwd, top)


def absolute(value: str | os.PathLike[str]) -> Path:
    """A directory a program names, made absolute (trusted: only a NUL byte is refused)."""
    text = os.fspath(value)
    if "\x00" in text:
        raise UnsafePathError("state directory contains a NUL byte; refused")
    return Path(os.path.abspath(text))


def _checked_setting(value: str, source: str, cwd: Path, top: Path | None) -> Path:
    if "\x00" in value:
        raise UnsafePathError(f"{source} contains a NUL byte; refused")
    path = Path(os.path.normpath(cwd / value))
    if top is not None:
        real, real_top = os.path.realpath(path), os.path.realpath(top)
        if real != real_top and not real.startswith(real_top.rstrip(os.sep) + os.sep):
            raise UnsafePathError(
                f"{source} {value!r} points outside the git repository {top}; refused "
                "(state files belong inside the repository they describe)"
            )
    return path
