"""Commits already made, held to the history guards: a merge result against the branch it goes
into (`extid check --against REF`, CI); a rebase's result against the upstream and the commits
it replaced, a merge commit against its parents (the post-rewrite and post-merge backstops).

Blobs are read with one `git cat-file --batch` per check, as `gitcheck` reads the index.
"""

from __future__ import annotations

from . import git
from .document import COUNTERS, MAPPING
from .errors import ExtidError, Problem
from .gitcheck import docs_at, pairs, validate_version
from .guards import held, kept, lost_mappings
from .ids import KEYED_TOOLS

TYPE_CHECKING = False  # not typing's: see errors.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


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
    parents = git.parents(top, head)
    side = next((p for p in parents if not git.is_ancestor(top, p, against)), head)
    base = git.merge_base(top, against, side)
    groups = pairs(top, paths)
    revs = [head, against, side, *((base,) if base else ())]
    blobs = git.read_blobs(
        top, [f"{rev}:{rel}" for rev in revs for pair in groups for rel in pair.rel.values()]
    )
    label = "HEAD" if side == head else f"the merged head {side[:12]}"
    fix = _against_fix(top, ref, against, parents, side == head)
    problems: list[Problem] = []
    for pair in groups:
        at_head = {k: blobs[f"{head}:{rel}"] for k, rel in pair.rel.items()}
        problems += validate_version(pair, {k: v for k, v in at_head.items() if v is not None})
        for kind, rel in pair.rel.items():
            if at_head[kind] is None and blobs[f"{against}:{rel}"] is not None:
                problems.append(
                    Problem(
                        pair.shown[kind],
                        "",
                        f"deleted at HEAD but {ref} has it (restore it on the branch: "
                        f"`git checkout {ref} -- {rel}`, and commit)",
                    )
                )
        problems += kept(
            docs_at(pair, blobs, head),
            [(ref, docs_at(pair, blobs, against)), (label, docs_at(pair, blobs, side))],
            docs_at(pair, blobs, base)[0] if base else None,
            (pair.shown[MAPPING], pair.shown[COUNTERS]),
            (fix, fix),
        )
    return problems


def _against_fix(top: Path, ref: str, against: str, parents: list[str], unmerged: bool) -> str:
    """The way back for what HEAD lost of `ref` or of the head's side, by how HEAD was made.

    A merge of the branch into `ref` (a pull request's merge commit: its first parent is in
    `ref`) was made without the driver: merging `ref` into the branch where the driver runs
    leaves it nothing to merge. A merge of `ref` into the branch (`-s ours`, a hand resolution)
    cannot be repaired by merging `ref` again: git finds it merged already."""
    if unmerged:
        return (
            f"a commit since {ref} lowered it: put {ref}'s value back in the file and commit "
            "(numbers below it were issued)"
        )
    if git.is_ancestor(top, parents[0], against):
        return (
            f"the merge at HEAD dropped it, as a merge without the extid driver can (GitHub's "
            f"merge button): merge {ref} into the branch where the driver is installed "
            "(`extid install`) and push"
        )
    return (
        f"the merge of {ref} at HEAD dropped it (`-s ours`, `-X ours`/`theirs`, a hand "
        "resolution keeping one side, or no extid merge driver), and merging it again finds "
        f"nothing to merge: redo it where the driver is installed (`git reset --keep HEAD^`, "
        f"then `git merge {ref}` without those options), or put back what it dropped and commit"
    )


def check_rebased(upstream: str, replaced: str, paths: list[str]) -> list[Problem]:
    """HEAD after a rebase of `replaced` (the branch's old tip) onto `upstream`: every mapping of
    either kept except those the other deleted since their merge base, as for a merge of the
    two. The prepare-commit-msg hook refuses a lossy `rebase --continue` before its commit;
    this is the backstop where git ran no hook (`--apply`, a pick left empty and dropped)."""
    return _lost_mappings(
        ("upstream", upstream),
        ("your commits", replaced),
        paths,
        lambda rel: f"the rebase dropped it; `git show {replaced[:12]}:{rel}` still has it",
    )


def check_merged(paths: list[str]) -> list[Problem]:
    """HEAD, when it is a merge of two commits, against both parents, as the pre-merge-commit
    hook would have held it: the backstop for a merge made without it (`--no-verify`, a clone
    set up before extid installed that hook)."""
    top = git.require_toplevel()
    parents = git.parents(top, "HEAD")
    if len(parents) != 2:
        return []
    return _lost_mappings(
        ("HEAD^1", parents[0]),
        ("HEAD^2", parents[1]),
        paths,
        lambda rel: f"the merge dropped it; `git show HEAD^1:{rel}` and `HEAD^2:{rel}` hold both",
    )


def _lost_mappings(
    a: tuple[str, str], b: tuple[str, str], paths: list[str], where: Callable[[str], str]
) -> list[Problem]:
    """The mappings HEAD lost of the commits `a` and `b` ((label, commit)) except those the
    other deleted since their merge base; `where(rel)` says which commits still have them."""
    top = git.require_toplevel()
    base = git.merge_base(top, a[1], b[1])
    groups = pairs(top, paths)
    revs = ["HEAD", a[1], b[1], *((base,) if base else ())]
    blobs = git.read_blobs(
        top, [f"{rev}:{rel}" for rev in revs for pair in groups for rel in pair.rel.values()]
    )
    problems: list[Problem] = []
    for pair in groups:
        now = docs_at(pair, blobs, "HEAD")[0]
        problems += lost_mappings(
            now,
            [(label, docs_at(pair, blobs, rev)[0]) for label, rev in (a, b)],
            docs_at(pair, blobs, base)[0] if base else None,
            pair.shown[MAPPING],
            _put_back(where(pair.rel[MAPPING]), {(t, v) for (_, t), (v, _) in held(now).items()}),
        )
    return problems


def _put_back(where: str, taken: set[tuple[str, str]]) -> Callable[[str, str, str], str]:
    """Each lost mapping's way back: recorded again while its ID is free; once another task
    holds it (the result kept that task's), a new number for the task (`record` would refuse)."""

    def fix(task: str, tool: str, value: str) -> str:
        if (tool, value) not in taken:
            return f"{where}: put it back (`extid record {task} {tool} {value}`) and commit"
        project = f" --project {value.rpartition('-')[0]}" if tool in KEYED_TOOLS else ""
        return (
            f"{where}; {value} is another task's now: give {task} a new number "
            f"(`extid allocate {task} {tool}{project}`) and commit"
        )

    return fix
