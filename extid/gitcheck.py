"""The state files as git holds them, checked: what is staged (the pre-commit hook), or a commit
against a REF (CI); each version is validated, then held to the history guards (`guards.py`).

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
from .guards import counter_floor, kept, lost_mappings, lowered_counters

TYPE_CHECKING = False  # not typing's: see errors.py
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from .document import Kind

UNMERGED = "unmerged: git's conflict in this file is not resolved yet (run `extid resolve`)"
RESTORE = "restore it: `git checkout HEAD -- {rel}`"
REMERGE = "merge it again: `git checkout -m -- {rel}`, then `extid resolve`"


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
    """A merge or cherry-pick being committed: its other parent and their merge base."""

    label: str
    commit: str
    base: str | None


def operation(top: Path) -> Operation | None:
    merging = git.rev_parse(top, "MERGE_HEAD")
    if merging is not None:
        return Operation("MERGE_HEAD", merging, git.merge_base(top, "HEAD", merging))
    exported = git.merging_head()  # the pre-merge-commit hook
    if exported is not None:
        commit, name = exported
        return Operation(name, commit, git.merge_base(top, "HEAD", commit))
    picking = git.rev_parse(top, "CHERRY_PICK_HEAD")
    if picking is not None:
        return Operation("CHERRY_PICK_HEAD", picking, git.rev_parse(top, f"{picking}^"))
    return None


def check_staged(paths: list[str]) -> list[Problem]:
    """The staged versions of the state files `paths`: unmerged ones refused, the rest validated;
    a staged deletion refused; counters at least HEAD's; while a merge or cherry-pick is being
    committed, every mapping and counter of both parents kept.

    Not held to the clone's ledger: it is above every branch's counters by design (a number
    issued on one branch raises it for all), so a branch made before the last allocation would
    have every commit refused; allocation itself reads the ledger, which is what keeps numbers
    from being issued twice."""
    top = git.require_toplevel()
    groups = pairs(top, paths)
    rels = [rel for pair in groups for rel in pair.rel.values()]
    stages = git.index_stages(top, rels)
    op = operation(top)
    revs = ["HEAD", *((op.commit, op.base or "") if op else ())]
    specs = [s[0] for s in stages.values() if 0 in s]
    specs += [f"{rev}:{rel}" for rev in revs if rev for rel in rels]
    blobs = git.read_blobs(top, specs)
    problems: list[Problem] = []
    for pair in groups:
        problems.extend(_staged_pair(pair, stages, blobs, op))
    return problems


def _staged_pair(
    pair: Pair,
    stages: dict[str, dict[int, str]],
    blobs: dict[str, bytes | None],
    op: Operation | None,
) -> list[Problem]:
    unmerged = [k for k, rel in pair.rel.items() if set(stages.get(rel, {})) - {0}]
    if unmerged:
        return [Problem(pair.shown[k], "", UNMERGED) for k in unmerged]
    staged = {k: blobs[stages[rel][0]] for k, rel in pair.rel.items() if 0 in stages.get(rel, {})}
    problems = validate_version(pair, staged)
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
    at = {rev: _docs_at(pair, blobs, rev) for rev in ("HEAD", *((op.commit,) if op else ()))}
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
        base = _docs_at(pair, blobs, op.base)[0] if op.base else None
        problems += kept(
            (docs[MAPPING], docs[COUNTERS]),
            [("HEAD", at["HEAD"]), (op.label, at[op.commit])],
            base,
            (pair.shown[MAPPING], counters_shown),
            (REMERGE.format(rel=pair.rel[MAPPING]), REMERGE.format(rel=counters_rel)),
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


def _docs_at(pair: Pair, blobs: dict[str, bytes | None], rev: str) -> tuple[Any, Any]:
    """(inner mappings, inner counters) of the pair at `rev` (None where absent)."""
    return (
        inner(blobs.get(f"{rev}:{pair.rel[MAPPING]}"), MAPPING),
        inner(blobs.get(f"{rev}:{pair.rel[COUNTERS]}"), COUNTERS),
    )


def check_against(ref: str, paths: list[str]) -> list[Problem]:
    """The files at HEAD (a merge result: a pull request's merge commit) against `ref` (the
    branch it goes into): every mapping of `ref` kept except those the head's side deleted since
    the merge base, every mapping of the head's side kept except those `ref` deleted, every
    counter at least both sides'. The head's side is HEAD's parent that `ref` does not contain,
    or HEAD itself when HEAD is not a merge."""
    top = git.require_toplevel()
    against = git.rev_parse(top, ref)
    head = git.rev_parse(top, "HEAD")
    if against is None or head is None:
        raise ExtidError(
            f"--against {ref}: no such commit here (fetch it; in CI check out the full history, "
            "e.g. actions/checkout with `fetch-depth: 0`)"
        )
    if not git.is_ancestor(top, against, head):
        raise ExtidError(
            f"--against {ref}: HEAD does not contain {ref}; check the merge result (on GitHub the "
            f"pull request's merge commit, the default checkout of `pull_request` events) or "
            f"merge {ref} first"
        )
    side = next((p for p in git.parents(top, head) if not git.is_ancestor(top, p, against)), head)
    base = git.merge_base(top, against, side)
    groups = pairs(top, paths)
    revs = [head, against, side, *((base,) if base else ())]
    blobs = git.read_blobs(
        top, [f"{rev}:{rel}" for rev in revs for pair in groups for rel in pair.rel.values()]
    )
    label = "HEAD" if side == head else f"the merged head {side[:12]}"
    fix = f"merge {ref} again where the extid merge driver is installed: `extid install`"
    problems: list[Problem] = []
    for pair in groups:
        at_head = {k: blobs[f"{head}:{rel}"] for k, rel in pair.rel.items()}
        problems += validate_version(pair, {k: v for k, v in at_head.items() if v is not None})
        for kind, rel in pair.rel.items():
            if at_head[kind] is None and blobs[f"{against}:{rel}"] is not None:
                problems.append(
                    Problem(pair.shown[kind], "", f"deleted at HEAD but {ref} has it ({fix})")
                )
        problems += kept(
            _docs_at(pair, blobs, head),
            [(ref, _docs_at(pair, blobs, against)), (label, _docs_at(pair, blobs, side))],
            _docs_at(pair, blobs, base)[0] if base else None,
            (pair.shown[MAPPING], pair.shown[COUNTERS]),
            (fix, fix),
        )
    return problems


def check_rebased(upstream: str, replaced: str, paths: list[str]) -> list[Problem]:
    """HEAD after a rebase of `replaced` (the branch's old tip) onto `upstream`: every mapping of
    either kept except those the other deleted since their merge base, as for a merge of the
    two. git runs no pre-commit hook while it rebases: a hand resolution is only seen here."""
    top = git.require_toplevel()
    base = git.merge_base(top, upstream, replaced)
    groups = pairs(top, paths)
    revs = ["HEAD", upstream, replaced, *((base,) if base else ())]
    blobs = git.read_blobs(
        top, [f"{rev}:{rel}" for rev in revs for pair in groups for rel in pair.rel.values()]
    )
    problems: list[Problem] = []
    for pair in groups:
        fix = (
            f"the rebase dropped it; `git show {replaced[:12]}:{pair.rel[MAPPING]}` still has "
            "it: put it back (`extid record`) and commit"
        )
        problems += lost_mappings(
            _docs_at(pair, blobs, "HEAD")[0],
            [
                ("upstream", _docs_at(pair, blobs, upstream)[0]),
                ("your commits", _docs_at(pair, blobs, replaced)[0]),
            ],
            _docs_at(pair, blobs, base)[0] if base else None,
            pair.shown[MAPPING],
            fix,
        )
    return problems


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
