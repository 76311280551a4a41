"""`extid list [--json]`: every task with its external IDs, sorted by internal ID."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..ids import TOOLS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", dest="as_json", action="store_true", help="the mappings object as JSON"
    )


def run(state_dir: str | None, as_json: bool = False) -> int:
    from ..document import MAPPING_FILE
    from ..mapper import ExternalIDMapper
    from ..store import resolve_state_dir

    directory = resolve_state_dir(state_dir)
    if not os.path.lexists(directory / MAPPING_FILE):
        # An empty answer is still an answer (exit 0, as `git tag -l` or `git stash list`
        # with none), but a user looking in the wrong place (another --state-dir, a
        # subdirectory) must see it: one line on stderr, stdout kept for the listing.
        print(
            f"extid: no registry yet in {directory} (the first `extid allocate` or "
            "`extid init` creates it)",
            file=sys.stderr,
        )
    mappings = ExternalIDMapper(directory).mappings()
    _warn_collisions(mappings)
    if as_json:
        print(json.dumps(mappings, indent=2, sort_keys=True, ensure_ascii=False))
        return 0
    for internal in sorted(mappings, key=str.upper):
        entry = mappings[internal]
        ids = " ".join(f"{tool}={entry[tool]}" for tool in TOOLS if tool in entry)
        print(f"{internal}  {ids}".rstrip())
    return 0


def _warn_collisions(mappings: dict[str, dict[str, str]]) -> None:
    """A committed collision is listed as it is, and said on stderr with the fix: a reader
    never settles it (`extid repair` does)."""
    holders: dict[tuple[str, str], list[str]] = {}
    for internal, entry in mappings.items():
        for tool in TOOLS:
            if tool in entry:
                holders.setdefault((tool, entry[tool]), []).append(internal)
    for (tool, value), tasks in sorted(holders.items()):
        if len(tasks) > 1:
            from ..validate import SETTLE  # deferred: only a collision needs the wording

            held = " and ".join(sorted(tasks))
            print(f"extid: warning: {tool} {value} is held by {held}{SETTLE}", file=sys.stderr)
