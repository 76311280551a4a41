"""extid's git hook scripts: their text, writing them (chaining onto a foreign hook, never onto
pre-commit's) and taking them out again (restoring what they chained).

A hook script runs the extid that installed it (its interpreter, as pre-commit's scripts embed
theirs), else `extid` on PATH, else fails with a message. pre-commit's generated script must
never be chained: run as `<hook>.pre-extid` it stops every commit ("installed in migration
mode"), and the extid hooks belong in `.pre-commit-config.yaml` there anyway.
"""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from ..errors import ExtidError
from .precommit import generated_by_pre_commit

#: Second-line marker that tells extid's hooks from anyone else's.
HOOK_MARKER = "# extid-hook:"
CHAINED_SUFFIX = ".pre-extid"
#: Where pre-commit keeps the hook it found when it installed its own (and runs it first).
PRE_COMMIT_LEGACY = ".legacy"

_HOOK_TEMPLATE = """#!/bin/sh
{marker} {name} - installed by `extid install`; {purpose}
# A hook that was here before is kept as {name}{suffix} and runs first.
hook_dir=$(dirname "$0")
if [ -x "$hook_dir/{name}{suffix}" ]; then
    "$hook_dir/{name}{suffix}" "$@" || exit $?
fi
# The extid that installed this hook, else the one on PATH.
extid_python={python}
if [ -n "$extid_python" ] && [ -x "$extid_python" ]; then
    exec "$extid_python" -m extid {command}
fi
if ! command -v extid >/dev/null 2>&1; then
    echo "extid {name} hook: cannot run extid (${{extid_python:+$extid_python is gone, }}none" \\
        "on PATH): run 'extid install' with the extid you use, or remove $0" >&2
    exit 1
fi
exec extid {command}
"""

_HOOKS: dict[str, tuple[str, str]] = {
    "post-merge": ("post-merge", "checks the state files after a merge or pull"),
    # git passes amend|rebase as $1 and the replaced commits on stdin, which exec hands on.
    "post-rewrite": (
        'post-merge --rewritten "$1"',
        "checks the state files after a rebase or amend",
    ),
    "pre-commit": ("check --staged", "refuses to commit invalid state files"),
    # git commits a merge it made without conflicts (`-s ours` too) without the pre-commit hook.
    # History only: a counter the merge left at a renumbered ID is post-merge's to raise.
    "pre-merge-commit": (
        "check --staged --history-only",
        "refuses a merge commit that lost a mapping",
    ),
    # The one hook git's sequencer runs before `git rebase --continue` commits a stopped pick.
    "prepare-commit-msg": (
        "check --staged --replaying",
        "refuses to continue a rebase whose resolution lost a mapping",
    ),
}
HOOK_NAMES = tuple(_HOOKS)


def hook_script(name: str, python: str | None = None) -> str:
    """The text of extid's hook `name`; without `python`, the repository's hooks/<name>."""
    command, purpose = _HOOKS[name]
    return _HOOK_TEMPLATE.format(
        marker=HOOK_MARKER,
        name=name,
        purpose=purpose,
        suffix=CHAINED_SUFFIX,
        command=command,
        python=shlex.quote(python or ""),
    )


def recorded_python(text: str) -> str | None:
    """The interpreter an extid hook script runs first (None: it relies on PATH alone)."""
    for line in text.splitlines():
        if line.startswith("extid_python="):
            value = shlex.split(line.partition("=")[2] or "''")
            return value[0] if value and value[0] else None
    return None


def runs_extid(text: str) -> bool:
    """Whether an extid hook script with this text would find an extid to run now."""
    import shutil

    python = recorded_python(text)
    return bool(python and os.access(python, os.X_OK)) or shutil.which("extid") is not None


def is_extid_hook(path: Path) -> bool:
    return HOOK_MARKER in read_hook(path)


def install_hook(directory: Path, name: str, python: str | None) -> str:
    """Write extid's hook `name` into `directory`, chaining onto a foreign hook; a hook that
    pre-commit generated is left alone (the caller says what to do instead)."""
    directory.mkdir(parents=True, exist_ok=True)
    path, chained = directory / name, directory / (name + CHAINED_SUFFIX)
    content = hook_script(name, python)
    if not (path.exists() or path.is_symlink()):
        _write_executable(path, content)
        return f"installed hook {path}"
    if generated_by_pre_commit(path):
        return f"left pre-commit's hook {path} alone"
    if not is_extid_hook(path):
        if chained.exists() or chained.is_symlink():
            raise ExtidError(
                f"{path}: not extid's hook, and {chained.name} already exists; merge them by hand"
            )
        os.rename(path, chained)
        _make_executable(chained)
        _write_executable(path, content)
        return f"installed hook {path} (the previous one runs first, as {chained.name})"
    if read_hook(path) == content:
        return f"kept hook {path}"
    _write_executable(path, content)
    return f"updated hook {path}"


def unchain_pre_commit(directory: Path, name: str) -> list[str]:
    """Put back pre-commit's script that an older `extid install --hooks` chained behind its
    own hook (as `<hook>.pre-extid`, where it failed every commit)."""
    path, chained = directory / name, directory / (name + CHAINED_SUFFIX)
    if not (is_extid_hook(path) and generated_by_pre_commit(chained)):
        return []
    os.replace(chained, path)
    return [f"restored pre-commit's hook {path} (extid no longer chains onto it)"]


def uninstall_hook(directory: Path, name: str) -> list[str]:
    """Remove extid's hook `name` (also where pre-commit moved it, `<hook>.legacy`), putting
    back the hook it chained; any other hook is left alone."""
    chained = directory / (name + CHAINED_SUFFIX)
    done = []
    for path in (directory / name, directory / (name + PRE_COMMIT_LEGACY)):
        if not is_extid_hook(path):
            continue
        if chained.exists() or chained.is_symlink():
            os.replace(chained, path)
            done.append(f"restored {path} (the hook extid had chained)")
        else:
            path.unlink()
            done.append(f"removed hook {path}")
    return done


def read_hook(path: Path) -> str:
    """A hook's text (empty when it is missing or unreadable)."""
    try:
        return path.read_bytes().decode("utf-8", "replace") if path.is_file() else ""
    except OSError:
        return ""


def _write_executable(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.extid-tmp")
    tmp.write_text(content, "utf-8")
    _make_executable(tmp)
    os.replace(tmp, path)


def _make_executable(path: Path) -> None:
    mode = path.stat().st_mode
    path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
