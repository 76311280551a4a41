"""`extid check [--json] [FILES...]`: strict JSON, schema and semantics of state files.

Every problem of every file is printed as `path: $.json.path: message` (with `--json`: one
document in check-jsonschema's shape, see report.py); exit 1 if any. With no FILES, the state
directory's two files are checked.
"""

from __future__ import annotations

import os

from ..document import COUNTERS_FILE, MAPPING_FILE

TYPE_CHECKING = False  # not typing's: importing typing costs every hook ~3 ms
if TYPE_CHECKING:
    import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="state files (default: both)")
    parser.add_argument(
        "--json",
        dest="as_json",
        action="store_true",
        help="the result as JSON, in check-jsonschema's shape (status, successes, errors, "
        "parse_errors)",
    )


def default_files(state_dir: str | None) -> list[str]:
    """The state directory's files that exist (a missing file is an empty registry)."""
    from ..store import resolve_state_dir  # deferred: hooks always pass file names

    directory = resolve_state_dir(state_dir)
    candidates = (os.path.join(directory, name) for name in (MAPPING_FILE, COUNTERS_FILE))
    return [path for path in candidates if os.path.lexists(path)]


def run(state_dir: str | None, files: list[str], as_json: bool = False) -> int:
    # deferred: `format` imports this module for default_files and needs no validation
    from ..validate import check_paths

    files = files or default_files(state_dir)
    problems = check_paths(files)
    if as_json:
        from ..report import check_result, print_json

        print_json(check_result(files, problems))
    else:
        for problem in problems:
            print(problem)
    return 1 if problems else 0
