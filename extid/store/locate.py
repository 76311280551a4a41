"""Where the state directory is: `--state-dir`, `$EXTID_STATE_DIR`, the clone's `extid.stateDir`
or the git toplevel's `.claude/state`, kept inside the repository it describes.

The toplevel is git's own answer (`git rev-parse`, in `extid.git`), never a walk up for `.git`:
git alone knows `GIT_DIR`/`GIT_WORK_TREE`, `core.worktree`, linked worktrees, submodules and
bare repositories, and a wrong answer here starts a second registry that issues numbers again.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ExtidError, UnsafePathError

#: The clone's git config key that remembers `extid install --state-dir` (relative to the top).
STATE_DIR_KEY = "extid.stateDir"


def resolve_state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--state-dir`, else `$EXTID_STATE_DIR`, else the clone's `extid.stateDir` (relative to
    the top level), else `<git toplevel>/.claude/state`, else `./.claude/state`; an absolute
    path. Inside a git repository a setting must stay inside it (a typo must not scatter state
    files over the disk); a repository without a work tree (bare) is refused with
    `git.NoWorkTreeError`."""
    return usable_dir(_resolve(explicit))


def _resolve(explicit: str | os.PathLike[str] | None) -> Path:
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
    configured = configured_state_dir(top)
    if configured:
        return _checked_setting(str(top / configured), STATE_DIR_KEY, cwd, top)
    from ..setup.statedir import refuse_unrecorded

    refuse_unrecorded(top)  # an empty registry at the default would issue the numbers again
    # A branch can commit `.claude` or `.claude/state` as a symlink to anywhere.
    return _checked_setting(str(top / ".claude" / "state"), "the state directory", cwd, top)


def usable_dir(path: Path) -> Path:
    """`path`, unless it or the first of its parents that exists is something else than a
    directory: every command then says so in one line instead of failing file by file."""
    for place in (path, *path.parents):
        if os.path.lexists(place):
            if not os.path.isdir(place):  # a symlink to a directory is a directory here
                inside = "there" if place == path else f"in {path}"
                raise ExtidError(
                    f"{place}: is not a directory, and extid keeps its state files {inside}: "
                    "rename or remove it (keep the registry here: another --state-dir would start "
                    "an empty one)"
                )
            return path
    return path


def configured_state_dir(top: Path) -> str | None:
    """`extid.stateDir` from the clone's own config (`git config --local`), or None.

    Every command and hook asks, so the usual answer (not set) must be cheap: the config file
    is read directly (~20 us) and git is asked only when the key's name appears in it (a
    subprocess is ~2 ms); a config that includes other files is always asked about."""
    try:
        with open(_local_config(top), "rb") as f:
            text = f.read().lower()
    except OSError:  # no readable config: nothing configured (git would say the same)
        return None
    if b"statedir" not in text and b"[include" not in text:
        return None
    from ..git import config_get

    return config_get(STATE_DIR_KEY, top, "local") or None


def _local_config(top: Path) -> str:
    """The path of the clone's config file, in its common directory (shared by worktrees)."""
    from ..gitstate import common_dir

    found = common_dir(top)
    return os.path.join(found if found is not None else os.path.join(top, ".git"), "config")


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
