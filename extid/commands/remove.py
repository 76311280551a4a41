"""`extid remove ID [TOOL]`: forget a task's external IDs (all tools, or one).

Counters are not lowered: a removed number is never handed out again. Exit 1 if there was
nothing to remove.
"""

from __future__ import annotations

import argparse

from ..errors import ExtidError
from ..ids import TOOLS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", metavar="ID", help="internal task ID")
    parser.add_argument("tool", metavar="TOOL", nargs="?", choices=TOOLS, help="only this tool")


def run(state_dir: str | None, task_id: str, tool: str | None = None) -> int:
    from ..mapper import ExternalIDMapper
    from ..store import resolve_state_dir

    removed = ExternalIDMapper(resolve_state_dir(state_dir)).remove(task_id, tool)
    if not removed:
        what = f"{tool} ID" if tool else "external IDs"
        raise ExtidError(f"{task_id} has no {what} to remove")
    for tool, value in removed.items():
        print(f"removed {tool} {value}")
    return 0
