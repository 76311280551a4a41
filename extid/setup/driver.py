"""The merge driver's git config: a command that runs the extid that installed it (or `extid` on
PATH), and where neither can run, ends the merge as a visible conflict with both sides.

git runs `merge.<name>.driver` through `sh -c` after replacing %O %A %B %P, and takes any exit
but 0 as a conflict, leaving whatever is in %A. A bare `extid merge-driver ...` that cannot
start (a venv not activated, a GUI client's PATH, the package removed) leaves %A as our side
without markers: the other branch's mappings vanish and `extid check` passes. So the command
is a small script: each candidate runs the driver; one that cannot even print its version did
not run, and the next is tried; when none ran, or the driver died of a bug, `git merge-file`
writes both sides with conflict markers and the merge stops.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

NAME_KEY, DRIVER_KEY = "merge.extid.name", "merge.extid.driver"
#: Marks a driver command written by this module (doctor and uninstall recognise it).
SCRIPT_MARK = "extid_merge()"

_SCRIPT = (
    "extid_merge() {{ "
    '"$@" merge-driver %O %A %B %P; s=$?; [ $s -eq 0 ] && exit 0; '
    '"$@" --version >/dev/null 2>&1 || return 0; [ $s -eq 1 ] && exit 1; extid_lines; }}; '
    "extid_lines() {{ "
    # %P outside double quotes (git substitutes it single-quoted), and no backquote in them
    'echo "extid merge driver: {reason}; both sides kept between conflict markers in" %P >&2; '
    "git merge-file -L ours -L base -L theirs %A %O %B; exit 1; }}; "
    "{candidates}extid_lines"
)
_CANDIDATE = "[ -x {python} ] && extid_merge {python} -m extid; "
_ON_PATH = "command -v extid >/dev/null 2>&1 && extid_merge extid; "


def recorded_python() -> str | None:
    """The interpreter running this extid, as pre-commit's hooks embed theirs; None if unknown."""
    python = sys.executable
    return python if python and os.path.isabs(python) and os.access(python, os.X_OK) else None


def command(python: str | None) -> str:
    """The driver command: `python -m extid` first (when given), then `extid` on PATH."""
    first = _CANDIDATE.format(python=shlex.quote(python)) if python else ""
    return _SCRIPT.format(
        candidates=first + _ON_PATH,
        reason="cannot run extid (moved or removed? run 'extid install' again)",
    )


def program(value: str) -> str | None:
    """The interpreter a driver command of ours names, or None (not ours, or PATH only)."""
    if SCRIPT_MARK not in value or "[ -x " not in value:
        return None
    try:
        return shlex.split(value.split("[ -x ", 1)[1].split(" ]", 1)[0])[0]
    except (ValueError, IndexError):
        return None


def runnable(value: str) -> str | None:
    """What would run the driver command `value` now (a path), or None when nothing would."""
    python = program(value)
    if python and os.access(python, os.X_OK):
        return python
    if SCRIPT_MARK in value:
        return shutil.which("extid")
    try:
        first = shlex.split(value)[0] if value.strip() else "extid"
    except ValueError:  # unbalanced quotes: git's shell would fail on it too
        first = value.split()[0]
    return shutil.which(first)


def configure(top: Path | None, scope: str, python: str | None) -> list[str]:
    """Set both keys in `scope` (local: the clone `top`; global); returns what it did."""
    from .. import git

    done = []
    for key, value in ((NAME_KEY, git.MERGE_DRIVER_NAME), (DRIVER_KEY, command(python))):
        changed = git.config_set(key, value, top, scope)
        done.append(f"{'set' if changed else 'kept'} {key} ({scope})")
    return done


def unconfigure(top: Path | None, scope: str) -> list[str]:
    """Remove the `merge.extid` section from `scope`; returns what it did."""
    from .. import git

    if all(git.config_get(key, top, scope) is None for key in (NAME_KEY, DRIVER_KEY)):
        return []
    git.run_git(["config", f"--{scope}", "--remove-section", "merge.extid"], top, check=False)
    return [f"removed merge.extid.* ({scope})"]
