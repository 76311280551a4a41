"""`extid check [--json] [FILES...]`: strict JSON, schema and semantics of state files.

Every problem of every file is printed as `path: $.json.path: message` (with `--json`: one
document in check-jsonschema's shape, see report.py); exit 1 if any. With no FILES, the state
directory's two files are checked. A state file git's index holds unmerged fails too.
`--staged` checks what the next commit records (the pre-commit hooks): the index's versions,
held to the history guards (no counter below HEAD's, no state file deleted, a merge,
cherry-pick or rebase pick keeping both parents); `--replaying` only while a stopped rebase
pick is committed, or (the history guards alone) a merge, cherry-pick or revert is concluded:
the prepare-commit-msg hook, which `--no-verify` does not skip. `--against REF` holds HEAD to
REF (CI).
"""

from __future__ import annotations

import os

from ..document import COUNTERS_FILE, MAPPING_FILE
from ..errors import ExtidError

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
    parser.add_argument(
        "--replaying",
        action="store_true",
        help="with --staged: check only while git commits the replay of a stopped rebase pick "
        "(`git rebase --continue`, where git runs no pre-commit hook), and only the history "
        "guards while a merge, cherry-pick or revert is concluded (`--no-verify` skips the "
        "other hooks); otherwise pass at once (the prepare-commit-msg hook)",
    )
    parser.add_argument(
        "--history-only",
        action="store_true",
        help="with --staged: only the history guards (unmerged, deleted, lowered counters, a "
        "merge that lost a mapping), not the files' own validity (the plain pre-merge-commit "
        "hook: the post-merge hook settles what a clean merge leaves)",
    )
    parser.add_argument(
        "--json",
        dest="as_json",
        action="store_true",
        help="the result as JSON, in check-jsonschema's shape (status, successes, errors, "
        "parse_errors)",
    )


def default_files(state_dir: str | None, existing: bool = True) -> list[str]:
    """The state directory's files (that exist, with `existing`: a missing file is an empty
    registry)."""
    from ..store import resolve_state_dir  # deferred: hooks always pass file names

    directory = resolve_state_dir(state_dir)
    candidates = (os.path.join(directory, name) for name in (MAPPING_FILE, COUNTERS_FILE))
    return [path for path in candidates if not existing or os.path.lexists(path)]


def problems_of(
    state_dir: str | None, files: list[str], staged: str = "", against: str | None = None
) -> list[Problem]:
    """What `extid check` reports, as values (the printing is `run`'s). `staged`: "" for the
    files, else which check of the index: `all`, `replaying` (only while a stopped rebase pick
    is committed), `history` (the history guards alone)."""
    if staged and against is not None:
        raise ExtidError("--replaying and --history-only check the index: use them with --staged")
    if staged == "replaying":
        from ..gitstate import concluding, replayed_commit

        # Files only, no git process: the hook runs before every commit message. A merge,
        # cherry-pick or revert being concluded gets the history guards, which `--no-verify`
        # would otherwise skip (the pre-commit hooks checked the files' validity already, and
        # a renumbering merge may leave a counter for the post-merge hook to raise).
        if replayed_commit() is None:
            if not concluding():
                return []
            staged = "history"
    if staged or against is not None:
        from .. import gitcheck  # deferred: the git layer only where git is asked

        files = files or default_files(state_dir, existing=False)
        if staged:
            return gitcheck.check_staged(files, history_only=staged == "history")
        from ..commitcheck import check_against

        return check_against(against or "", files)
    # deferred: `format` imports this module for default_files and needs no validation
    from ..checkfiles import check_paths
    from ..gitstate import in_operation

    conflicted: list[Problem] = []
    # Named files are checked without git (a hook's start-up) unless git is in the middle of an
    # operation that can leave them unmerged; the registry as a whole always asks the index.
    if not files or in_operation():  # os calls only: no git process for `check FILE`
        from .. import gitcheck

        conflicted = gitcheck.unmerged(files or default_files(state_dir))
    return conflicted + check_paths(files or default_files(state_dir))


def run(
    state_dir: str | None,
    files: list[str],
    staged: bool = False,
    against: str | None = None,
    replaying: bool = False,
    history_only: bool = False,
    as_json: bool = False,
) -> int:
    scope = "replaying" if replaying else "history" if history_only else "all" if staged else ""
    problems = problems_of(state_dir, files, scope, against)
    if as_json:
        from ..report import check_result, print_json

        print_json(check_result(files or default_files(state_dir), problems))
    else:
        for problem in problems:
            print(problem)
    return 1 if problems else 0
