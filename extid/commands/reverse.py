"""`extid reverse TOOL EXTERNAL [--json]`: print the task that holds EXTERNAL (exit 1 if none).

Case-insensitive; `#234` is accepted for github. `--json` prints the holder's whole entry with
its `id`, as `lookup --json` does (`{}` when no task holds it).
"""

from __future__ import annotations

import argparse
import sys

from ..ids import TOOLS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tool", metavar="TOOL", choices=TOOLS, help=" | ".join(TOOLS))
    parser.add_argument("external", metavar="EXTERNAL", help="e.g. PROJ-456, 1234, #234")
    parser.add_argument(
        "--json", dest="as_json", action="store_true", help="the holder's whole entry as JSON"
    )


def run(state_dir: str | None, tool: str, external: str, as_json: bool = False) -> int:
    from ..mapper import ExternalIDMapper
    from ..store import resolve_state_dir

    mapper = ExternalIDMapper(resolve_state_dir(state_dir))
    internal = mapper.internal_id(tool, external)
    if as_json:
        from ..report import entry, print_json

        print_json(entry(None if internal is None else mapper.entry(internal)), sort_keys=True)
    elif internal is not None:
        print(internal)
    if internal is None:
        print(f"extid: no task holds {tool} {external}", file=sys.stderr)
        return 1
    return 0
