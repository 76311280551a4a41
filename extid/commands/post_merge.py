"""`extid post-merge`: check the state after a merge or rebase (the git hooks run it).

Validates both files, reconciles counters (through the store: raised above every used number,
written durably), and reports external-ID collisions and unresolved conflicts. Exit 1 on any
problem. A file that is still conflicted is only reported, never "recovered": the store would
set it aside and restore an older version, and the merge's work would be lost from view.
"""

from __future__ import annotations

import argparse
import os
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options of its own


def run(args: argparse.Namespace) -> int:
    from ..store import COUNTERS_FILE, MAPPING_FILE, Store, resolve_state_dir
    from ..validate import check_paths

    state_dir = resolve_state_dir(args.state_dir)
    paths = [str(state_dir / n) for n in (MAPPING_FILE, COUNTERS_FILE)]
    existing = [p for p in paths if os.path.lexists(p)]
    if not existing:
        return 0
    problems = check_paths(existing)
    stale_counters = [p for p in problems if _is_counter_lag(p.message)]
    others = [p for p in problems if p not in stale_counters]
    for problem in others:
        print(f"extid post-merge: {problem}", file=sys.stderr)
    _unmerged_hint(existing)
    if others:
        print(
            "extid post-merge: fix the problems above (`extid resolve` for conflicts, "
            "`extid check` to list them again)",
            file=sys.stderr,
        )
        return 1
    if stale_counters:
        for action in Store(state_dir).repair():
            print(f"extid post-merge: {action}", file=sys.stderr)
        print("extid post-merge: commit the raised counters", file=sys.stderr)
    return 0


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
