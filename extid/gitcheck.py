"""The state files git's index holds, checked: what the next commit records (the pre-commit,
pre-merge-commit and prepare-commit-msg hooks), validated and held to the history guards
(`guards.py`); the pieces `commitcheck` shares for commits already made.

Blobs are read with one `git cat-file --batch` per check (the index, HEAD and the parents of a
merge being committed together), never from the work tree: a commit records the index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import git
from .checkfiles import check_paths, load_file
from .document import COUNTERS, COUNTERS_FILE, ENVELOPE_KEY, MAPPING, MAPPING_FILE
from .errors import ExtidError, Problem
from .gitstate import replayed_commit
from .guards import counter_floor, kept, lowered_counters

TYPE_CHECKING = False  # not typing's: see errors.py
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from .document import Kind

UNMERGED = "unmerged: git's conflict in this file is not resolved yet (run `extid resolve`)"
RESTORE = "restore it: `git checkout HEAD -- {rel}`"


@dataclass
class Pair:
    """The two state files of one directory: paths as shown, relative to the top level."""

    shown: dict[Kind, str]
    rel: dict[Kind, str]
    given: set[Kind]


def pairs(top: Path, paths: list[str]) -> list[Pair]:
    """`paths` grouped by directory into pairs (a file's sibling is read for the pair checks)."""
    found: dict[str, Pair] = {}
    for path in paths:
        kind: Kind = COUNTERS if os.path.basename(path) == COUNTERS_FILE else MAPPING
        directory = os.path.dirname(path)
        rel_dir = os.path.dirname(git.rel_to(top, path))
        pair = found.setdefault(rel_dir, Pair({}, {}, set()))
        for k, name in ((MAPPING, MAPPING_FILE), (COUNTERS, COUNTERS_FILE)):
            pair.shown.setdefault(k, os.path.join(directory, name))
            pair.rel.setdefault(k, f"{rel_dir}/{name}" if rel_dir else name)
        pair.shown[kind] = path
        pair.given.add(kind)
    return list(found.values())


def inner(data: bytes | None, kind: Kind) -> Any:
    """The inner object (mappings or counters) of a version of a state file; None if absent or
    unreadable (validation reports the versions that matter)."""
    if data is None:
        return None
    try:
        obj, found = load_file("", lambda _: data)
    except ExtidError:
        return None
    return obj.get(ENVELOPE_KEY[kind]) if found == kind else None


@dataclass(frozen=True)
class Operation:
    """A merge, cherry-pick or rebase pick being committed: its other parent, their merge base,
    and git's verb for it (`merge`, `cherry-pick`, `rebase`)."""

    label: str
    commit: str
    base: str | None
    verb: str


def operation(top: Path) -> Operation | None:
    merging = git.rev_parse(top, "MERGE_HEAD")
    if merging is not None:
        return Operation("MERGE_HEAD", merging, git.merge_base(top, "HEAD", merging), "merge")
    exported = git.merging_head()  # the pre-merge-commit hook
    if exported is not None:
        commit, name = exported
        return Operation(name, commit, git.merge_base(top, "HEAD", commit), "merge")
    picking = git.rev_parse(top, "CHERRY_PICK_HEAD")
    if picking is not None:
        return Operation(
            "CHERRY_PICK_HEAD", picking, git.rev_parse(top, f"{picking}^"), "cherry-pick"
        )
    replayed = replayed_commit(top)  # a stopped rebase pick: `git rebase --continue`
    if replayed is not None:
        return Operation("REBASE_HEAD", replayed, git.rev_parse(top, f"{replayed}^"), "rebase")
    return None


def _hand_resolved(top: Path, rels: list[str]) -> set[str]:
    """Those of `rels` whose conflict was resolved in the index (`git add` keeps the conflict's
    stages as a resolve-undo record, which `git checkout -m` puts back)."""
    out = git.run_git(["ls-files", "--resolve-undo", "-z", "--", *rels], top).stdout
    return {os.fsdecode(entry.partition(b"\t")[2]) for entry in out.split(b"\0") if entry}


def _remerge_fix(op: Operation, rel: str, hand_resolved: set[str]) -> str:
    """How to get back what the result of `op` lost in `rel`: a conflict resolved by hand is
    made again (git keeps what it needs to, the index's resolve-undo record); a file git merged
    without a conflict (`-s ours`, `-X ours`/`theirs`, a line merge without the extid driver)
    only by doing the operation again."""
    if rel in hand_resolved:
        then = " and `git rebase --continue`" if op.verb == "rebase" else ""
        # plain `extid resolve` leaves a collision conflicted again: name what settles one
        return (
            f"merge it again: `git checkout -m -- {rel}`, then `extid resolve --renumber` "
            f"(or `--ours`/`--theirs`){then}"
        )
    return (
        f"the {op.verb} took one side's file without merging it (`-s ours`, `-X ours`/`theirs`, "
        f"or no extid merge driver): `git {op.verb} --abort`, then {op.verb} again without "
        "them, where the driver is installed (`extid install`)"
    )


def check_staged(paths: list[str], history_only: bool = False) -> list[Problem]:
    """The staged versions of the state files `paths`: unmerged ones refused, the rest validated;
    a staged deletion refused; counters at least HEAD's; while a merge, cherry-pick or stopped
    rebase pick is being committed, every mapping and counter of both parents kept.

    Not held to the clone's ledger: it is above every branch's counters by design (a number
    issued on one branch raises it for all), so a branch made before the last allocation would
    have every commit refused; allocation itself reads the ledger, which is what keeps numbers
    from being issued twice.

    `history_only`: the files' own validity is not checked (the plain pre-merge-commit hook: a
    merge git made by itself may leave a counter at a number the driver renumbered to, which
    the post-merge hook raises; refusing the merge for it would stop every such merge)."""
    top = git.require_toplevel()
    groups = pairs(top, paths)
    rels = [rel for pair in groups for rel in pair.rel.values()]
    stages = git.index_stages(top, rels)
    op = operation(top)
    revs = ["HEAD", *((op.commit, op.base or "") if op else ())]
    specs = [s[0] for s in stages.values() if 0 in s]
    specs += [f"{rev}:{rel}" for rev in revs if rev for rel in rels]
    blobs = git.read_blobs(top, specs)
    hand_resolved = _hand_resolved(top, rels) if op else set()
    problems: list[Problem] = []
    for pair in groups:
        problems.extend(_staged_pair(pair, stages, blobs, op, hand_resolved, history_only))
    return problems


def _staged_pair(
    pair: Pair,
    stages: dict[str, dict[int, str]],
    blobs: dict[str, bytes | None],
    op: Operation | None,
    hand_resolved: set[str],
    history_only: bool,
) -> list[Problem]:
    unmerged = [k for k, rel in pair.rel.items() if set(stages.get(rel, {})) - {0}]
    if unmerged:
        return [Problem(pair.shown[k], "", UNMERGED) for k in unmerged]
    staged = {k: blobs[stages[rel][0]] for k, rel in pair.rel.items() if 0 in stages.get(rel, {})}
    problems = [] if history_only else validate_version(pair, staged)
    for kind, rel in pair.rel.items():
        if kind not in staged and blobs.get(f"HEAD:{rel}") is not None:
            problems.append(
                Problem(
                    pair.shown[kind],
                    "",
                    "staged deletion of a state file: every mapping or counter in it would be "
                    f"gone ({RESTORE.format(rel=rel)})",
                )
            )
    docs = {k: inner(staged.get(k), k) for k in (MAPPING, COUNTERS)}
    at = {rev: docs_at(pair, blobs, rev) for rev in ("HEAD", *((op.commit,) if op else ()))}
    counters_rel, counters_shown = pair.rel[COUNTERS], pair.shown[COUNTERS]
    if COUNTERS in staged and op is None and at["HEAD"][1] is not None:
        problems += lowered_counters(
            docs[COUNTERS],
            counter_floor(at["HEAD"][1]),
            counters_shown,
            "HEAD",
            RESTORE.format(rel=counters_rel),
        )
    if op is not None and staged:
        base = docs_at(pair, blobs, op.base)[0] if op.base else None
        problems += kept(
            (docs[MAPPING], docs[COUNTERS]),
            [("HEAD", at["HEAD"]), (op.label, at[op.commit])],
            base,
            (pair.shown[MAPPING], counters_shown),
            (
                _remerge_fix(op, pair.rel[MAPPING], hand_resolved),
                _remerge_fix(op, counters_rel, hand_resolved),
            ),
        )
    return problems


def validate_version(pair: Pair, held: dict[Kind, bytes | None]) -> list[Problem]:
    """The given files of `pair` validated from `held` (one version's bytes: the index's, a
    commit's), the sibling read from there too."""
    by_name = {pair.shown[k]: data for k, data in held.items()}

    def read(name: str) -> bytes:
        data = by_name.get(name)
        if data is None:
            raise ExtidError(f"{name}: not in this version")
        return data

    return check_paths([pair.shown[k] for k in sorted(pair.given) if k in held], read)


def docs_at(pair: Pair, blobs: dict[str, bytes | None], rev: str) -> tuple[Any, Any]:
    """(inner mappings, inner counters) of the pair at `rev` (None where absent)."""
    return (
        inner(blobs.get(f"{rev}:{pair.rel[MAPPING]}"), MAPPING),
        inner(blobs.get(f"{rev}:{pair.rel[COUNTERS]}"), COUNTERS),
    )


def unmerged(paths: list[str]) -> list[Problem]:
    """The state files among `paths` that git's index holds unmerged (stages 1-3): a conflict
    not resolved, whatever the work tree holds (a modify/delete conflict leaves a valid file).
    Nothing outside a git work tree."""
    top = git.toplevel()
    if top is None or not paths:
        return []
    try:
        rels = {git.rel_to(top, path): path for path in paths}
    except git.GitError:  # a file outside the repository: no index to ask
        return []
    stages = git.index_stages(top, list(rels))
    return [Problem(rels[rel], "", UNMERGED) for rel, s in stages.items() if set(s) - {0}]
