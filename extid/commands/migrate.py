"""`extid migrate [--dry-run]`: rewrite the state files at the newest format version.

The pre-migration file is kept as `<file>.bak`. Ordinary writes never change a file's version;
this is the only command that does. A file from a newer extid is refused, never rewritten.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="report only, change nothing")


def run(state_dir: str | None, dry_run: bool = False) -> int:
    from ..store import Store, resolve_state_dir

    done = Store(resolve_state_dir(state_dir)).migrate(dry_run=dry_run)
    if not done:
        print("state files are at the newest format version; nothing to do")
    for path, old, new in done:
        old_name = "unversioned" if old == "0" else old
        if dry_run:
            print(f"{path}: would migrate {old_name} -> {new}")
        else:
            print(f"{path}: migrated {old_name} -> {new} (previous version kept as {path}.bak)")
    return 0
