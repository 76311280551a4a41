"""`extid repair [--fresh]`: recover corrupt state files and reconcile the counters.

A corrupt file is set aside as `<file>.corrupt-<UTC time>` and restored from `<file>.bak`, else
from git `HEAD`. With `--fresh`, a file with neither starts empty (counters are still raised
above every number the corrupt file mentions). Counters at or below a used number are raised.
Lock, backup, quarantined and temp files that git tracks are untracked (`git rm --cached`).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fresh", action="store_true", help="start a file empty if it cannot be restored"
    )


def run(state_dir: str | None, fresh: bool = False) -> int:
    from ..adopt import untrack_strays
    from ..store import Store, resolve_state_dir

    store = Store(resolve_state_dir(state_dir))
    actions = store.repair(fresh=fresh) + untrack_strays(store.state_dir)
    for action in actions:
        print(action)
    if not actions:
        print("state files are sound; nothing to repair")
    return 0
