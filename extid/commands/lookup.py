"""`extid lookup ID [--json]`: the external IDs of a task (exit 1 if it has none)."""

from __future__ import annotations

import argparse
import sys

from ..ids import TOOLS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", metavar="ID", help="internal task ID (any case)")
    parser.add_argument(
        "--json", dest="as_json", action="store_true", help="the whole entry as JSON"
    )


def run(state_dir: str | None, task_id: str, as_json: bool = False) -> int:
    from ..mapper import ExternalIDMapper
    from ..store import resolve_state_dir

    found = ExternalIDMapper(resolve_state_dir(state_dir)).entry(task_id)
    if as_json:
        from ..report import entry, print_json

        print_json(entry(found), sort_keys=True)
    elif found is not None:
        for tool in TOOLS:
            if tool in found[1]:
                print(f"{tool}: {found[1][tool]}")
        for field in ("created", "epic"):  # what --json shows, after the IDs a script greps
            if field in found[1]:
                print(f"{field}: {found[1][field]}")
    if found is None or not any(tool in found[1] for tool in TOOLS):
        print(f"extid: {task_id} has no external IDs", file=sys.stderr)
        return 1
    return 0
