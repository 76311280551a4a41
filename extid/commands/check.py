"""`extid check [FILES...]`: strict JSON, schema and semantics of state files.

Every problem of every file is printed as `path: $.json.path: message`; exit 1 if any.
With no FILES, the state directory's two files are checked. A state file git's index holds
unmerged fails too. `--staged` checks what the next commit records (the pre-commit hooks):
the index's versions, held to the history guards (no counter below HEAD's, no state file
deleted, a merge keeping both parents). `--against REF` holds the files at HEAD to REF (CI).
"""

from __future__ import annotations

import os

from ..document import COUNTERS_FILE, MAPPING_FILE

TYPE_CHECKING = False  # not typing's: importing typing costs every hook ~3 ms
if TYPE_CHECKING:
    import argparse

    from ..errors import Problem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="state files (default: both)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--staged",
        action="store_true",
        help="check the versions in git's index against HEAD (what the pre-commit hooks run)",
    )
    where.add_argument(
        "--against",
        metavar="REF",
        help="check the files at HEAD keep every mapping and counter of REF (CI: a pull "
        "request's merge commit against its base)",
    )


def default_files(state_dir: str | None, existing: bool = True) -> list[str]:
    """The state directory's files (that exist, with `existing`: a missing file is an empty
    registry)."""
    from ..store import resolve_state_dir  # deferred: hooks always pass file names

    directory = resolve_state_dir(state_dir)
    candidates = (os.path.join(directory, name) for name in (MAPPING_FILE, COUNTERS_FILE))
    return [path for path in candidates if not existing or os.path.lexists(path)]


def problems_of(
    state_dir: str | None, files: list[str], staged: bool = False, against: str | None = None
) -> list[Problem]:
    """What `extid check` reports, as values (the printing is `run`'s)."""
    from .. import gitcheck  # deferred: `format` imports this module for default_files

    if staged:
        return gitcheck.check_staged(files or default_files(state_dir, existing=False))
    if against is not None:
        return gitcheck.check_against(against, files or default_files(state_dir, existing=False))
    files = files or default_files(state_dir)
    from ..validate import check_paths

    return gitcheck.unmerged(files) + check_paths(files)


def run(
    state_dir: str | None, files: list[str], staged: bool = False, against: str | None = None
) -> int:
    problems = problems_of(state_dir, files, staged, against)
    for problem in problems:
        print(problem)
    return 1 if problems else 0
