"""`extid reverse TOOL EXTERNAL`: print the task that holds EXTERNAL (exit 1 if none).

Case-insensitive; `#234` is accepted for github.
"""

from __future__ import annotations

import argparse
import sys

from ..ids import TOOLS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tool", metavar="TOOL", choices=TOOLS, help=" | ".join(TOOLS))
    parser.add_argument("external", metavar="EXTERNAL", help="e.g. PROJ-456, 1234, #234")


def run(state_dir: str | None, tool: str, external: str) -> int:
    from ..mapper import ExternalIDMapper
    from ..store import resolve_state_dir

    mapper = ExternalIDMapper(resolve_state_dir(state_dir))
    internal = mapper.internal_id(tool, external)
    if internal is None:
        print(f"extid: no task holds {tool} {external}", file=sys.stderr)
        return 1
    print(internal)
    return 0
