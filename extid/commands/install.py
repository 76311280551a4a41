"""`extid install [--hooks] [--global]`: set this clone up for the merge driver.

Idempotent: sets `merge.extid.name` and `merge.extid.driver` (local config, or global with
`--global`), adds `merge=extid` lines for both state files to the top-level `.gitattributes`
(creating or appending, never duplicating) and, with `--hooks`, installs the post-merge,
post-rewrite and pre-commit hooks into the hooks directory git really uses (core.hooksPath
honoured). An existing hook that is not extid's is kept as `<hook>.pre-extid` and run first.
"""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

from ..errors import ExtidError

#: First-line marker that tells extid's hooks from anyone else's.
HOOK_MARKER = "# extid-hook:"
CHAINED_SUFFIX = ".pre-extid"

_HOOK_TEMPLATE = """#!/bin/sh
{marker} {name} - installed by `extid install --hooks`; {purpose}
# A hook that was here before is kept as {name}{suffix} and runs first.
hook_dir=$(dirname "$0")
if [ -x "$hook_dir/{name}{suffix}" ]; then
    "$hook_dir/{name}{suffix}" "$@" || exit $?
fi
if ! command -v extid >/dev/null 2>&1; then
    echo "extid {name} hook: 'extid' is not on PATH (install it: pip install extid)," \\
        "or remove $0" >&2
    exit 1
fi
exec extid {command}
"""

_HOOKS: dict[str, tuple[str, str]] = {
    "post-merge": ("post-merge", "checks the state files after a merge or pull"),
    "post-rewrite": ("post-merge", "checks the state files after a rebase or amend"),
    "pre-commit": ("check", "refuses to commit invalid state files"),
}


def hook_script(name: str) -> str:
    """The text of one of extid's hooks (the same as the repository's hooks/<name>)."""
    command, purpose = _HOOKS[name]
    return _HOOK_TEMPLATE.format(
        marker=HOOK_MARKER, name=name, purpose=purpose, suffix=CHAINED_SUFFIX, command=command
    )


HOOK_NAMES = tuple(_HOOKS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hooks", action="store_true", help="also install the git hooks")
    parser.add_argument(
        "--global",
        dest="global_",
        action="store_true",
        help="configure the merge driver in the global git config (~/.gitconfig)",
    )
    parser.add_argument(
        "--remote",
        metavar="NAME",
        help="reserve every new number on this git remote first (the remote ledger)",
    )
    parser.add_argument("--ledger-ref", metavar="REF", help="default refs/extid/ledger")
    parser.add_argument("--lease-size", metavar="N", type=int, help="numbers reserved per push")


def state_patterns(top: Path, state_dir: str | None) -> list[str]:
    """`.gitattributes` patterns of both state files, relative to the work tree root."""
    from .. import git
    from ..document import COUNTERS_FILE, MAPPING_FILE
    from ..store import resolve_state_dir

    if state_dir or os.environ.get("EXTID_STATE_DIR"):
        chosen = resolve_state_dir(state_dir)
    else:  # the default directory of `top` itself, whatever the current directory is
        chosen = top / ".claude" / "state"
    directory = git.rel_to(top, chosen)
    prefix = "" if directory in ("", ".") else directory + "/"
    return [prefix + MAPPING_FILE, prefix + COUNTERS_FILE]


def run(
    state_dir: str | None,
    hooks: bool = False,
    global_: bool = False,
    remote: str | None = None,
    ledger_ref: str | None = None,
    lease_size: int | None = None,
) -> int:
    from .. import git

    top = git.toplevel()
    if top is None and not global_:
        raise ExtidError("not inside a git work tree (use --global to configure only the driver)")
    scope = "global" if global_ else "local"
    for line in install(top, state_dir, scope=scope, hooks=hooks):
        print(line)
    print("extid merge driver installed" + ("" if top is None else f" for {top}"))
    if top is not None and (remote, ledger_ref, lease_size) != (None, None, None):
        from ..ledger.config import configure

        for line in configure(top, remote, ledger_ref, lease_size):
            print(line)
    return 0


def install(
    top: Path | None,
    state_dir: str | None = None,
    *,
    scope: str = "local",
    hooks: bool = False,
    driver_command: str | None = None,
) -> list[str]:
    """Everything `extid install` does, as a function (the demo calls it on a throwaway repo):
    driver config in `scope`, `.gitattributes` lines in `top`, hooks if asked. Idempotent;
    returns what it did. `driver_command` overrides `extid merge-driver %O %A %B %P`, e.g.
    with `sys.executable -m extid ...` where `extid` may not be on PATH."""
    from .. import git

    done = []
    for key, value in (
        ("merge.extid.name", git.MERGE_DRIVER_NAME),
        ("merge.extid.driver", driver_command or git.MERGE_DRIVER_COMMAND),
    ):
        changed = git.config_set(key, value, top, scope)
        done.append(f"{'set' if changed else 'kept'} {key} ({scope})")
    if top is not None:
        for line in git.ensure_attributes(top, state_patterns(top, state_dir)):
            done.append(f"added to .gitattributes: {line}")
        if hooks:
            directory = git.hooks_dir(top)
            done += [install_hook(directory, name) for name in HOOK_NAMES]
    return done


def install_hook(directory: Path, name: str) -> str:
    """Write extid's hook `name` into `directory`, chaining onto a foreign hook."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    content = hook_script(name)
    if path.exists() or path.is_symlink():
        existing = path.read_bytes().decode("utf-8", "replace") if path.exists() else ""
        if HOOK_MARKER in existing:
            if existing == content:
                return f"kept hook {path}"
            _write_executable(path, content)
            return f"updated hook {path}"
        chained = directory / (name + CHAINED_SUFFIX)
        if chained.exists() or chained.is_symlink():
            raise ExtidError(
                f"{path}: not extid's hook, and {chained.name} already exists; merge them by hand"
            )
        os.rename(path, chained)
        _make_executable(chained)
        _write_executable(path, content)
        return f"installed hook {path} (the previous one runs first, as {chained.name})"
    _write_executable(path, content)
    return f"installed hook {path}"


def _write_executable(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.extid-tmp")
    tmp.write_text(content, "utf-8")
    _make_executable(tmp)
    os.replace(tmp, path)


def _make_executable(path: Path) -> None:
    mode = path.stat().st_mode
    path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
