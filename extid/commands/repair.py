"""`extid repair [--dry-run] [--accept-loss] [--keep TASK]`: put broken state files right.

A file whose bytes are not JSON is set aside as `<file>.corrupt-<UTC time>` and rebuilt from
`<file>.bak`, the entries git `HEAD` holds that `.bak` lacks, and every entry still readable in
the broken bytes; counters are raised above every number any of them mentions. Where that would
still lose something (an external ID the broken bytes name, a number the counters say was
issued), repair refuses unless `--accept-loss` is given, and then says what was lost. An
external ID held by two tasks (a committed collision) is settled: the task created earlier
keeps it (or the one named by `--keep`), the other gets a fresh number. `--dry-run` says what
would be done and writes nothing (exit 1 when there is something to do). Lock, backup,
quarantined and temp files that git tracks are untracked (`git rm --cached`).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would be restored and lost; write nothing"
    )
    parser.add_argument(
        "--accept-loss",
        "--fresh",  # its earlier name: start a file with no source empty
        action="store_true",
        help="restore even where something would be lost (it is listed)",
    )
    parser.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="TASK",
        help="in a collision, TASK keeps the external ID (the other task is renumbered)",
    )


def run(
    state_dir: str | None,
    dry_run: bool = False,
    accept_loss: bool = False,
    keep: list[str] | None = None,
) -> int:
    from ..adopt import untrack_strays
    from ..store import Store, resolve_state_dir

    store = Store(resolve_state_dir(state_dir))
    actions = store.repair(accept_loss=accept_loss, dry_run=dry_run, keep=keep or ())
    if not dry_run:  # a dry run is a reader: it leaves git's index alone too
        actions += untrack_strays(store.state_dir)
    for action in actions:
        print(action)
    if not actions:
        print("state files are sound; nothing to repair")
    return 1 if dry_run and actions else 0  # as `format --check`: 1 = there is work to do
