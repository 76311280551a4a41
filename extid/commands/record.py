"""`extid record ID TOOL EXTERNAL`: store an ID that the tool itself assigned.

Refused (exit 1) if another task already holds EXTERNAL; the tool's counter is raised above it.
"""

from __future__ import annotations

import argparse

from ..ids import TOOLS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", metavar="ID", help="internal task ID, e.g. TASK-E01-b2c4")
    parser.add_argument("tool", metavar="TOOL", choices=TOOLS, help=" | ".join(TOOLS))
    parser.add_argument("external", metavar="EXTERNAL", help="e.g. PROJ-456, 1234, #234")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="skip the remote ledger (extid.remote): this clone's files alone",
    )


def run(
    state_dir: str | None, task_id: str, tool: str, external: str, offline: bool = False
) -> int:
    from ..mapper import ExternalIDMapper
    from ..store import resolve_state_dir

    mapper = ExternalIDMapper(resolve_state_dir(state_dir), offline=offline)
    print(mapper.record(task_id, tool, external))
    return 0
