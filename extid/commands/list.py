"""`extid list [--json]`: every task with its external IDs, sorted by internal ID."""

from __future__ import annotations

import argparse
import json

from ..ids import TOOLS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", dest="as_json", action="store_true", help="the mappings object as JSON"
    )


def run(state_dir: str | None, as_json: bool = False) -> int:
    from ..mapper import ExternalIDMapper
    from ..store import resolve_state_dir

    mappings = ExternalIDMapper(resolve_state_dir(state_dir)).mappings()
    if as_json:
        print(json.dumps(mappings, indent=2, sort_keys=True, ensure_ascii=False))
        return 0
    for internal in sorted(mappings, key=str.upper):
        entry = mappings[internal]
        ids = " ".join(f"{tool}={entry[tool]}" for tool in TOOLS if tool in entry)
        print(f"{internal}  {ids}".rstrip())
    return 0
