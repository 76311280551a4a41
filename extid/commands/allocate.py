"""`extid allocate ID TOOL [--project KEY] [--json]`: print the task's ID in TOOL, allocating one.

The existing ID if the task already has one in TOOL, otherwise the next free number, recorded
in one locked transaction. `--json` prints `{"id", "tool", "external_id", "new"}`: `new` is
false when the task already had that ID (a script that creates the ticket acts only on true).
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
    parser.add_argument(
        "--json",
        dest="as_json",
        action="store_true",
        help='{"id", "tool", "external_id", "new"}: new is false for the task\'s existing ID',
    )


def run(
    state_dir: str | None,
    task_id: str,
    tool: str,
    project: str | None,
    offline: bool = False,
    as_json: bool = False,
) -> int:
    from ..mapper import ExternalIDMapper, check_internal_id
    from ..store import resolve_state_dir

    mapper = ExternalIDMapper(resolve_state_dir(state_dir), offline=offline)
    external, new = mapper.allocate_new(task_id, tool, project)
    if as_json:
        from ..report import print_json

        task = check_internal_id(task_id)
        print_json({"id": task, "tool": tool, "external_id": external, "new": new})
    else:
        print(external)
    return 0
