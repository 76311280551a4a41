"""`extid install [--no-hooks] [--global]`: set this clone up in one go, as `git lfs install` does.

Idempotent: the merge driver config (a command that runs this extid, see setup/driver.py), the
`merge=extid` lines of `.gitattributes`, the state directory's `.gitignore`, the state
directory itself when `--state-dir` names one (remembered as `extid.stateDir`), and the git
hooks, unless `.pre-commit-config.yaml` runs extid's hooks: then they are left to pre-commit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ExtidError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-hooks", action="store_true", help="leave the git hooks alone")
    # Hooks are installed by default now; `--hooks` is still accepted so that scripts and docs
    # written for 0.1 keep working.
    parser.add_argument("--hooks", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--global",
        dest="global_",
        action="store_true",
        help="configure the merge driver in the global git config (~/.gitconfig)",
    )
    on_off = parser.add_mutually_exclusive_group()
    on_off.add_argument(
        "--remote",
        metavar="NAME",
        help="reserve every new number on this git remote first (the remote ledger; without "
        "it, turned on where a remote already holds one)",
    )
    on_off.add_argument(
        "--no-remote",
        action="store_true",
        help="keep the remote ledger off (and do not look for one on the remotes)",
    )
    parser.add_argument("--ledger-ref", metavar="REF", help="default refs/extid/ledger")
    parser.add_argument("--lease-size", metavar="N", type=int, help="numbers reserved per push")


def run(
    state_dir: str | None,
    no_hooks: bool = False,
    hooks: bool = False,
    global_: bool = False,
    remote: str | None = None,
    ledger_ref: str | None = None,
    lease_size: int | None = None,
    no_remote: bool = False,
) -> int:
    from .. import git

    del hooks  # the default now
    top = git.toplevel()
    if top is None and not global_:
        raise ExtidError("not inside a git work tree (use --global to configure only the driver)")
    scope = "global" if global_ else "local"
    for line in install(top, state_dir, scope=scope, hooks=not no_hooks):
        print(line)
    print("extid installed" + ("" if top is None else f" for {top}"))
    if top is not None:
        directory = state_directory(top, state_dir)
        for line in _remote_ledger(top, directory, remote, ledger_ref, lease_size, no_remote):
            print(line)
    return 0


def _remote_ledger(
    top: Path, directory: Path, remote: str | None, ref: str | None, lease: int | None, off: bool
) -> list[str]:
    """The remote ledger's part: as asked (`--remote NAME ...`, `--no-remote`), else on where
    a remote already holds one (as `git lfs install` finds its server)."""
    from ..ledger import probe
    from ..ledger.config import configure

    if off:
        if (ref, lease) != (None, None):
            raise ExtidError(
                "--ledger-ref and --lease-size set up the remote ledger: not with --no-remote"
            )
        return probe.turn_off(top)
    if (remote, ref, lease) != (None, None, None):
        return configure(top, directory, remote, ref, lease)
    return probe.turn_on(top)


def state_directory(top: Path, state_dir: str | None) -> Path:
    """The state directory `install` and `doctor` set up: as every command finds it, but for
    the top level `top` whatever the current directory."""
    import os

    from ..store import resolve_state_dir
    from ..store.locate import configured_state_dir, usable_dir

    if state_dir or os.environ.get("EXTID_STATE_DIR") or configured_state_dir(top):
        return resolve_state_dir(state_dir)
    from ..setup.statedir import refuse_unrecorded

    refuse_unrecorded(top)
    return usable_dir(top / ".claude" / "state")


def state_paths(top: Path, state_dir: str | None) -> list[str]:
    """Both state files' tracked paths, relative to the top level."""
    from ..setup import attributes

    return attributes.state_paths(top, state_directory(top, state_dir))


def install(
    top: Path | None,
    state_dir: str | None = None,
    *,
    scope: str = "local",
    hooks: bool = True,
    python: str | None = None,
) -> list[str]:
    """Everything `extid install` does, as a function: the driver config in `scope`, and for
    a work tree `top` the rest (`hooks=False`: no git hooks). Idempotent; returns what it did.
    `python` is the interpreter the driver and hooks run (default: the one running this,
    falling back to `extid` on PATH)."""
    from ..setup import attributes, driver

    python = python or driver.recorded_python()
    found = [] if top is None else _find_registry(top, state_dir)  # may refuse: before any change
    done = driver.configure(top, scope, python)
    if top is None:
        return done
    directory = state_directory(top, state_dir)
    done += found + _remember(top, directory, state_dir)
    done += attributes.ensure(top, attributes.state_paths(top, directory))
    done += _prepare_state(top, directory)
    if hooks:
        done += _install_hooks(top, python)
    return done


def _find_registry(top: Path, state_dir: str | None) -> list[str]:
    """Where the registry is before this install: refused when a state directory named here
    would leave it behind (`statedir.refuse_leaving`); without one, the directory
    `.gitattributes` records taken as `extid.stateDir` in a clone that has none yet."""
    import os

    from .. import git
    from ..setup.statedir import DEFAULT, recorded_elsewhere, refuse_leaving
    from ..store.locate import STATE_DIR_KEY, configured_state_dir

    configured = configured_state_dir(top)
    if state_dir or os.environ.get("EXTID_STATE_DIR"):
        try:
            current = configured or recorded_elsewhere(top) or DEFAULT
        except ExtidError:  # several recorded: the one named here is the user's choice
            current = DEFAULT
        refuse_leaving(top, top / current, state_directory(top, state_dir))
        return []
    found = None if configured else recorded_elsewhere(top)
    if found is None:
        return []
    git.config_set(STATE_DIR_KEY, found, top, "local")
    return [f"set {STATE_DIR_KEY} = {found} (local): .gitattributes records the registry there"]


def _remember(top: Path, directory: Path, state_dir: str | None) -> list[str]:
    """Store a state directory named on the command line (or by EXTID_STATE_DIR) in the
    clone's config, so every later command and hook finds it without being told."""
    import os

    from .. import git
    from ..store.locate import STATE_DIR_KEY

    if not (state_dir or os.environ.get("EXTID_STATE_DIR")):
        return []
    rel = git.rel_to(top, directory)
    changed = git.config_set(STATE_DIR_KEY, rel, top, "local")
    return [f"{'set' if changed else 'kept'} {STATE_DIR_KEY} = {rel} (local)"]


def _prepare_state(top: Path, directory: Path) -> list[str]:
    """The state directory's side of the set-up: its `.gitignore` (created with the directory
    when missing), then what `adopt` does to what it finds there (strays untracked, the files
    in canonical form, another tool's counters taken as used)."""
    from ..adopt import adopt
    from ..store.maintenance import ensure_gitignore

    return [f"created {path}" for path in ensure_gitignore(directory)] + adopt(top, directory)


def _install_hooks(top: Path, python: str | None) -> list[str]:
    """extid's hooks where git runs them, except those pre-commit does: each git hook whose
    work `.pre-commit-config.yaml` already does, or whose script pre-commit generated."""
    from .. import git
    from ..setup import precommit
    from ..setup.hooks import HOOK_NAMES, install_hook, unchain_pre_commit

    directory = git.hooks_dir(top)
    done = []
    for name in HOOK_NAMES:
        done += unchain_pre_commit(directory, name)
        hook_id = precommit.covering(top, name)
        if hook_id is not None:
            done.append(f"hook {name}: left to pre-commit ({precommit.CONFIG} runs {hook_id})")
            if not precommit.generated_by_pre_commit(directory / name):
                done.append(f"  run `pre-commit install --hook-type {name}` to install it")
            continue
        done.append(install_hook(directory, name, python))
        if precommit.generated_by_pre_commit(directory / name):
            wanted = precommit.COVERING_IDS[name][0]
            print(
                f"extid install: {directory / name} is pre-commit's; add `id: {wanted}` to "
                f"{precommit.CONFIG} (docs/hooks.md) so that it runs extid",
                file=sys.stderr,
            )
    return done
