"""`extid allocate ID TOOL [--project KEY]`: print the task's ID in TOOL, allocating one.

The existing ID if the task already has one in TOOL, otherwise the next free number, recorded
in one locked transaction.
"""

from __future__ import annotations

import argparse

from ..ids import TOOLS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", metavar="ID", help="internal task ID, e.g. TASK-E01-b2c4")
    parser.add_argument("tool", metavar="TOOL", choices=TOOLS, help=" | ".join(TOOLS))
    parser.add_argument("--project", metavar="KEY", help="project/team key (jira, linear)")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="skip the remote ledger (extid.remote): this clone's files alone",
    )


def run(
    state_dir: str | None, task_id: str, tool: str, project: str | None, offline: bool = False
) -> int:
    from ..mapper import ExternalIDMapper
    from ..store import resolve_state_dir

    mapper = ExternalIDMapper(resolve_state_dir(state_dir), offline=offline)
    print(mapper.allocate(task_id, tool, project))
    return 0
