"""Where a clone's registry already is: before `extid install` points extid at another state
directory, and when a clone without `extid.stateDir` would start an empty one at the default
while `.gitattributes` says the registry lives elsewhere. Either would issue numbers again.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..document import COUNTERS_FILE, MAPPING_FILE
from ..errors import ExtidError

STATE_FILES = (MAPPING_FILE, COUNTERS_FILE)
DEFAULT = ".claude/state"


def in_work_tree(directory: Path) -> bool:
    """Whether a state file is in `directory` on disk (cheap: every command may ask)."""
    return any(os.path.lexists(directory / name) for name in STATE_FILES)


def holds_state(top: Path, directory: Path) -> bool:
    """Whether a state file is in `directory` in the work tree, git's index or HEAD: a
    deletion staged or committed by hand still leaves the registry there for git."""
    from .. import git

    if in_work_tree(directory):
        return True
    try:
        rel = git.rel_to(top, directory)
    except git.GitError:  # outside the repository: git holds nothing there
        return False
    prefix = "" if rel in ("", ".") else rel + "/"
    wanted = {prefix + name for name in STATE_FILES}
    if wanted & set(git.tracked_files(top, rel)):
        return True
    return any(git.head_blob(top, path) is not None for path in sorted(wanted))


def refuse_leaving(top: Path, old: Path, new: Path) -> None:
    """Refuse to point extid from `old` (where commands find the registry now) at `new` when
    `old` holds the registry and `new` none: extid would start an empty one there, and git
    would let the old files be deleted. Moving them first is the way."""
    from .. import git

    if os.path.realpath(old) == os.path.realpath(new):
        return
    if not holds_state(top, old) or holds_state(top, new):
        return
    rel_old, rel_new = git.rel_to(top, old), git.rel_to(top, new)
    if os.path.lexists(new):
        move = f"git mv {rel_old}/{MAPPING_FILE} {rel_old}/{COUNTERS_FILE} {rel_new}/"
    else:
        parent = os.path.dirname(rel_new)
        mkdir = f"mkdir -p {parent} && " if parent and not os.path.lexists(top / parent) else ""
        move = f"{mkdir}git mv {rel_old} {rel_new}"
    raise ExtidError(
        f"{rel_old}: holds this repository's registry and {rel_new} holds none; refused "
        f"(extid would start an empty registry there and issue its numbers again): move it "
        f"first (`{move}`), then `extid install --state-dir {rel_new}`"
    )


def recorded_elsewhere(top: Path) -> str | None:
    """The state directory `.gitattributes` names (relative to the top) when the default holds
    no state file on disk and exactly that one other directory does: a clone whose
    `extid.stateDir` (local config, never cloned) is not set yet. None when the default is
    right; refused when several directories could be it."""
    if in_work_tree(top / DEFAULT):
        return None
    from .attributes import state_dirs

    found = [d for d in state_dirs(top) if d != DEFAULT and in_work_tree(top / d)]
    if len(found) > 1:
        raise ExtidError(
            f"{', '.join(found)}: .gitattributes names state files in each, and "
            f"{DEFAULT} holds none: say which is the registry with "
            "`extid install --state-dir DIR`"
        )
    return (found[0] or ".") if found else None


def refuse_unrecorded(top: Path) -> None:
    """Refuse a command that would start an empty registry at the default while
    `.gitattributes` records it elsewhere (`recorded_elsewhere`), naming `extid install`."""
    where = recorded_elsewhere(top)
    if where is None:
        return
    raise ExtidError(
        f"{where}: .gitattributes names this repository's registry there, but this clone "
        f"looks in {DEFAULT} (extid.stateDir is not set): run `extid install` (it sets "
        f"extid.stateDir = {where})"
    )
