"""`extid uninstall [--global]`: undo `extid install`, so that removing extid leaves no driver
that fails every merge.

Removes the `merge.extid` driver config, the `merge=extid` lines of `.gitattributes` and the
hooks extid wrote (putting back the hooks they had chained). State files, their `.gitignore`,
`extid.stateDir` and the remote ledger's settings (`extid.remote`, said so) stay: settings of
the clone, which do nothing without extid. Idempotent: a second run finds nothing to do.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ExtidError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--global",
        dest="global_",
        action="store_true",
        help="remove the merge driver from the global git config (~/.gitconfig) too",
    )


def run(state_dir: str | None, global_: bool = False) -> int:
    from .. import git
    from ..setup import driver

    del state_dir  # every extid line and hook goes, whatever directory it was for
    top = git.toplevel()
    if top is None and not global_:
        raise ExtidError("not inside a git work tree (use --global for the global config)")
    done = uninstall(top, global_=global_)
    for line in done:
        print(line)
    if top is not None and not global_ and git.config_get(driver.DRIVER_KEY, top, "global"):
        print("the global git config still configures the driver: extid uninstall --global")
    print("extid uninstalled" if done else "nothing of extid's to remove")
    if top is not None and (remote := git.config_get("extid.remote", top, "local")):
        # As extid.stateDir: a setting of the clone, not a piece that fails without extid.
        print(
            f"kept extid.remote={remote} (local): the remote ledger's setting, for a later "
            "`extid install`; `extid install --no-remote` turns it off"
        )
    return 0


def uninstall(top: Path | None, *, global_: bool = False) -> list[str]:
    """Everything `extid uninstall` does, as a function; returns what it did."""
    from .. import git
    from ..setup import attributes, driver
    from ..setup.hooks import HOOK_NAMES, uninstall_hook

    done = []
    if top is not None:
        done += driver.unconfigure(top, "local")
        removed = attributes.remove(top)
        done += [f"removed from {attributes.ATTRIBUTES_FILE}: {line}" for line in removed]
        if removed:
            done.append(
                f"  commit {attributes.ATTRIBUTES_FILE} to stop using the driver in every clone"
            )
        directory = git.hooks_dir(top)
        for name in HOOK_NAMES:
            done += uninstall_hook(directory, name)
    if global_:
        done += driver.unconfigure(top, "global")
    return done
