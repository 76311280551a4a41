"""`extid post-merge [--rewritten amend|rebase]`: check the state after a merge, rebase or amend
(the git hooks run it).

Validates both files, reconciles counters (through the store: raised above every used number,
written durably), puts back counters the operation lowered below their value in the commits it
replaced, raises the clone's ledger with the numbers the files hold now and held at ORIG_HEAD,
and reports external-ID collisions and unresolved conflicts. A merge that deleted the state
files is reported with the way back (the ledger keeps their numbers, so the next allocation is
safe). Exit 1 on any problem. A file that is still conflicted is only reported, never
"recovered": the store would set it aside and restore an older version, and the merge's work
would be lost from view.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

TYPE_CHECKING = False  # not typing's: a hook's start-up pays for every import
if TYPE_CHECKING:
    from ..errors import Problem
    from ..merge import Renumbered
    from ..model import CounterKey


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--on-collision",
        choices=("conflict", "renumber"),
        help="`renumber`: give the later-created task of an external ID held twice a fresh "
        "number (files are rewritten: commit them); default `conflict` only reports it "
        "(or `git config extid.onCollision`)",
    )
    parser.add_argument(
        "--rewritten",
        choices=("amend", "rebase"),
        help="run by the post-rewrite hook with git's first argument: compare the counters "
        "with the replaced commits git lists on stdin (`OLD NEW` lines), not ORIG_HEAD",
    )
    parser.add_argument(
        "--json",
        dest="as_json",
        action="store_true",
        help='stdout: {"status", "renumbered": [{"id", "tool", "from", "to", "kept_by"}], '
        '"errors": [{"filename", "path", "message"}], "changed": [...]} (messages stay on '
        "stderr)",
    )


def run(
    state_dir: str | None,
    on_collision: str | None = None,
    rewritten: str | None = None,
    as_json: bool = False,
) -> int:
    report = _Report()
    rc = _post_merge(state_dir, on_collision, rewritten, report)
    if as_json:
        from ..report import print_json, problem, renumbered, status

        print_json(
            {
                "status": status(rc != 0),
                "renumbered": renumbered(report.renumbered),
                "errors": [problem(p) for p in report.errors],
                "changed": report.changed,
            }
        )
    return rc


class _Report:
    """What the run found and did, for `--json`; every line also goes to stderr as it happens.
    `errors`: problems as `check` reports them; `changed`: what was written to the files (commit
    it); `renumbered`: the IDs to change in the tools."""

    def __init__(self) -> None:
        self.errors: list[Problem] = []
        self.changed: list[str] = []
        self.renumbered: list[Renumbered] = []

    def error(self, problem: Problem, prefix: str = "extid post-merge: ") -> None:
        self.errors.append(problem)
        print(f"{prefix}{problem}", file=sys.stderr)

    def change(self, line: str) -> None:
        self.changed.append(line)
        print(f"extid post-merge: {line}", file=sys.stderr)


def _post_merge(
    state_dir: str | None, on_collision: str | None, rewritten: str | None, report: _Report
) -> int:
    from ..checkfiles import check_paths
    from ..document import COUNTERS_FILE, MAPPING_FILE
    from ..store import Store, resolve_state_dir

    directory = resolve_state_dir(state_dir)
    paths = [str(directory / n) for n in (MAPPING_FILE, COUNTERS_FILE)]
    existing = [p for p in paths if os.path.lexists(p)]
    before = _at_orig_head(paths)
    deleted = _deleted_by_merge([p for p in paths if p not in existing], before)
    for problem in deleted:
        report.error(problem)
    if not existing:
        return 1 if _keep_floor(directory, before) or deleted else 0
    if _wants_renumber(on_collision):
        from ..merge import committed_line

        report.renumbered = _renumber(directory, existing)
        for done in report.renumbered:
            print(f"{directory / MAPPING_FILE}: {committed_line(done)}", file=sys.stderr)
    problems = check_paths(existing)
    stale_counters = [p for p in problems if _is_counter_lag(p.message)]
    others = [p for p in problems if p not in stale_counters]
    for problem in others:
        report.error(problem, prefix="")
    _unmerged_hint(existing)
    if others:
        print(
            "extid post-merge: fix the problems above (`extid resolve` for conflicts, "
            "`extid check` to list them again)",
            file=sys.stderr,
        )
        return 1
    _raise_ledger(directory, before)
    operation, replaced, first_new = _replaced_commits(rewritten)
    for problem in _lost_by_operation(existing, operation, replaced, first_new):
        report.error(problem)
    lowered = _restore_lowered(directory, operation, replaced)
    for action in lowered:
        report.change(action)
    if stale_counters:
        for action in Store(directory).repair():
            report.change(action)
    if stale_counters or lowered:
        print("extid post-merge: commit the raised counters", file=sys.stderr)
    if report.renumbered:
        print(
            "extid post-merge: commit the renumbered IDs (and change them in the tools)",
            file=sys.stderr,
        )
    return 1 if lowered or report.renumbered or report.errors else 0


def _lost_by_operation(
    existing: list[str], operation: str, replaced: list[str], first_new: str | None
) -> list[Problem]:
    """The mappings HEAD lost of either side: after a rebase, of the upstream or of the commits
    replayed onto it; after a merge, of either parent. The hooks before the commit refuse such
    a result where git runs one; this names what got past them (`git rebase --apply`, a pick
    left empty, `--no-verify`, a clone set up before those hooks)."""
    from .. import git
    from ..commitcheck import check_merged, check_rebased

    try:
        if operation == "the merge":
            return check_merged(existing)
        if operation != "the rebase" or first_new is None or not replaced:
            return []
        return check_rebased(f"{first_new}^", replaced[-1], existing)
    except git.GitError:  # a commit gone already (gc), no HEAD yet: nothing to compare with
        return []


def _at_orig_head(paths: list[str]) -> dict[str, tuple[str, bytes]]:
    """path -> (its path in the repository, its bytes at ORIG_HEAD, the commit before the merge)
    for each of `paths` that existed there: one `git cat-file --batch` for what the deleted-file
    report and the ledger both need. Empty outside a repository or without ORIG_HEAD."""
    from .. import git

    try:
        top = git.toplevel()
        if top is None:
            return {}
        rels = {path: git.rel_to(top, path) for path in paths}
        blobs = git.read_blobs(top, [f"ORIG_HEAD:{rel}" for rel in rels.values()])
    except git.GitError:
        return {}
    found = {path: (rel, blobs[f"ORIG_HEAD:{rel}"]) for path, rel in rels.items()}
    return {path: (rel, data) for path, (rel, data) in found.items() if data is not None}


def _deleted_by_merge(missing: list[str], before: dict[str, tuple[str, bytes]]) -> list[Problem]:
    """State files the merge (or fast-forward) deleted: present at ORIG_HEAD, gone now. Their
    mappings are the next `allocate`'s blind spot, so say so and how to get them back."""
    from ..errors import Problem

    return [
        Problem(
            path,
            "",
            "the merge deleted this state file (ORIG_HEAD has it); restore it: "
            f"`git checkout ORIG_HEAD -- {before[path][0]}`, then commit",
        )
        for path in missing
        if path in before
    ]


def _wants_renumber(choice: str | None) -> bool:
    from .. import git

    if choice is None:
        try:
            choice = (git.config_get("extid.onCollision") or "conflict").strip().lower()
        except git.GitError:
            choice = "conflict"
    return bool(choice == "renumber")


def _renumber(state_dir: Path, existing: list[str]) -> list[Renumbered]:
    """Renumber collisions, but only in files that parse: a conflicted file is reported."""
    from ..checkfiles import check_paths
    from ..errors import ExtidError
    from ..merge import settle_committed
    from ..store import Store

    if any("conflict marker" in p.message for p in check_paths(existing)):
        return []
    from ..store.maintenance import renumbering_reserve

    try:
        with Store(state_dir).transaction() as state:
            reserve = renumbering_reserve(state_dir)
            return settle_committed(state.mappings, state.counter_values, (), reserve)
    except ExtidError:
        return []  # reported by the checks that follow


def _replaced_commits(rewritten: str | None) -> tuple[str, list[str], str | None]:
    """(what replaced them, the commits whose counters must not be lowered, the first commit
    that replaced one: its parent is what a rebase replayed onto; None when unknown).

    After a merge, ORIG_HEAD is the commit before it. After an amend or a rebase, the replaced
    commits are the OLD of the `OLD NEW` lines git gives the post-rewrite hook on stdin: ORIG_HEAD
    is then whatever an earlier merge or reset on any branch left (an amend does not set it).
    Without those lines (pre-commit's post-rewrite stage passes none, only
    `PRE_COMMIT_REWRITE_COMMAND`; a hook chained before extid's may have read them) the commit an
    amend replaced is `HEAD@{1}`, and a rebase has set ORIG_HEAD to the branch before it.
    """
    command = rewritten or os.environ.get("PRE_COMMIT_REWRITE_COMMAND")
    if command not in ("amend", "rebase"):
        return "the merge", ["ORIG_HEAD"], None
    replaced: list[str] = []
    first_new: str | None = None
    if rewritten and sys.stdin is not None and not sys.stdin.isatty():
        for line in sys.stdin.read().splitlines():
            old, new = [*line.split(), "", ""][:2]
            if old and all(c in "0123456789abcdef" for c in old) and old not in replaced:
                replaced.append(old)
                first_new = first_new or new or None
    fallback = "HEAD@{1}" if command == "amend" else "ORIG_HEAD"
    return f"the {command}", replaced or [fallback], first_new


def _restore_lowered(state_dir: Path, operation: str, revisions: list[str]) -> list[str]:
    """Put back counters `operation` moved below their highest value in `revisions` (the
    commits it replaced, see `_replaced_commits`).

    A fast-forward takes a branch's lowered counter without any merge driver, and a number
    below it may have been handed out and removed since: it would be issued a second time.
    """
    from .. import git, model
    from ..document import COUNTERS_FILE
    from ..errors import ExtidError
    from ..store import Store, decode

    path = state_dir / COUNTERS_FILE
    before: dict[tuple[str, str | None], int] = {}
    try:
        top = git.toplevel()
        if top is None:
            return []
        rel = git.rel_to(top, path)
        blobs = git.read_objects(top, [f"{rev}:{rel}" for rev in revisions])
    except ExtidError:
        return []  # no usable earlier version: nothing to compare with
    for rev, blob in zip(revisions, blobs, strict=True):
        try:
            doc, _ = decode(blob, "counters", f"{rev}:{rel}") if blob is not None else ({}, "")
        except ExtidError:
            continue  # an unreadable old version raises nothing
        for counter, old in model.iter_counters(doc.get("counters", {})):
            before[counter] = max(old, before.get(counter, 0))
    actions: list[str] = []
    if not before:
        return actions
    with Store(state_dir).transaction() as state:
        for (tool, key), old in before.items():
            now = model.get_counter(state.counter_values, tool, key)
            if now < old:
                model.set_counter(state.counter_values, tool, key, old)
                name = f"{tool}.{key}" if key else tool
                actions.append(
                    f"{path}: counter {name} was lowered by {operation} from {old} to {now}; "
                    f"put back to {old} (numbers below it may have been issued already)"
                )
    return actions


def _marks_of(before: dict[str, tuple[str, bytes]]) -> dict[CounterKey, int]:
    """The highest numbers the state files held at ORIG_HEAD (see `_at_orig_head`)."""
    from ..ledger import highest, marks_of_bytes

    marks: dict[CounterKey, int] = {}
    for _, data in before.values():
        marks = highest(marks, marks_of_bytes(data))
    return marks


def _raise_ledger(state_dir: Path, before: dict[str, tuple[str, bytes]]) -> None:
    """The clone's ledger rises to every number the merge brought in or left behind."""
    from ..errors import ExtidError
    from ..ledger import highest, marks_of_document, raise_seen
    from ..store import Store

    marks = _marks_of(before)
    with contextlib.suppress(ExtidError):  # the checks before have reported what is wrong
        state = Store(state_dir).load()
        raise_seen(state_dir, highest(marks, marks_of_document("counters", state.counters)))


def _keep_floor(state_dir: Path, before: dict[str, tuple[str, bytes]]) -> bool:
    """After a merge (a fast-forward, typically) that deleted the state files ORIG_HEAD had:
    their numbers kept in the clone's ledger so that no allocation reuses them, said on stderr."""
    from ..ledger import raise_seen

    found = [rel for rel, _ in before.values()]
    if not found:
        return False
    marks = _marks_of(before)
    raise_seen(state_dir, marks)
    floors = ", ".join(
        f"{tool}{'.' + key if key else ''} {number}"
        for (tool, key), number in sorted(marks.items(), key=str)
    )
    print(
        f"extid post-merge: the merge deleted the state files {', '.join(found)}; this clone's "
        f"ledger keeps their highest numbers ({floors or 'none'}), so no allocation reuses them",
        file=sys.stderr,
    )
    return True


def _is_counter_lag(message: str) -> bool:
    return "at or below" in message and "already used" in message


def _unmerged_hint(existing: list[str]) -> None:
    """Name state files git still holds as conflicted (the hook runs inside a work tree)."""
    from .. import git

    try:
        top = git.toplevel()
        if top is None:
            return
        unmerged = set(git.unmerged_paths(top))
        for path in existing:
            if git.rel_to(top, path) in unmerged:
                print(
                    f"extid post-merge: {path}: unresolved merge conflict (run `extid resolve`)",
                    file=sys.stderr,
                )
    except git.GitError:
        return
