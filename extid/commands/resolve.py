"""`extid resolve [PATH...] [--ours|--theirs|--renumber]`: merge state files git left conflicted.

For each state file with unmerged index entries (`git ls-files -u`), stages :1: :2: :3: are read
and merged exactly as the merge driver would, the result is written to the work tree and, when
clean, `git add`ed. This rescues merges made before `extid install`, merges by tools that never
run drivers, and `git checkout --conflict=...`. `--ours`/`--theirs` decide field conflicts and
collisions for that side (the other task of a collision gets a fresh number); `--renumber`
renumbers collisions deterministically (the task created later gets a fresh number).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..document import COUNTERS_FILE, MAPPING_FILE
from ..errors import ExtidError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="conflicted state files")
    side = parser.add_mutually_exclusive_group()
    side.add_argument("--ours", action="store_true", help="take our side of every conflict")
    side.add_argument("--theirs", action="store_true", help="take their side of every conflict")
    side.add_argument(
        "--renumber", action="store_true", help="renumber collisions (the later task moves)"
    )
    parser.add_argument(
        "--json",
        dest="as_json",
        action="store_true",
        help='stdout: {"status", "resolved", "unresolved", "renumbered": [{"id", "tool", '
        '"from", "to", "kept_by"}]} (messages stay on stderr)',
    )


def run(
    state_dir: str | None,
    paths: list[str],
    ours: bool = False,
    theirs: bool = False,
    renumber: bool = False,
    as_json: bool = False,
) -> int:
    from .. import git

    top = git.require_toplevel()
    unmerged = git.unmerged_paths(top)
    targets = _targets(top, unmerged, paths)
    resolver = _Resolver(top, unmerged, ours=ours, theirs=theirs, renumber=renumber)
    resolver.quiet = as_json
    rc = _nothing_conflicted(state_dir, as_json) if not targets else 0
    for rel in sorted(targets, key=lambda p: (os.path.basename(p) != MAPPING_FILE, p)):
        try:
            rc |= resolver.resolve(rel)
        except ExtidError as e:
            print(f"extid: {rel}: {e}", file=sys.stderr)
            rc = 1
        if rel not in resolver.resolved:
            resolver.unresolved.append(rel)
    if as_json:
        _print_json(resolver, rc)
    return rc


def _print_json(resolver: _Resolver, rc: int) -> None:
    """What a script or CI needs to act on: which files are done, and each renumbering (the
    old number may already be in the tool; the new one must replace it there)."""
    from ..report import print_json, renumbered, status

    print_json(
        {
            "status": status(rc != 0),
            "resolved": resolver.resolved,
            "unresolved": resolver.unresolved,
            "renumbered": renumbered(resolver.renumbered),
        }
    )


def _nothing_conflicted(state_dir: str | None, quiet: bool = False) -> int:
    """No conflicted file in git's index; a collision already committed (a hand resolution
    someone pushed) is no merge to resolve, but it is still there to settle: say how."""
    from ..checkfiles import check_paths
    from ..store import resolve_state_dir
    from ..validate import SETTLE

    directory = resolve_state_dir(state_dir)
    files = [str(directory / name) for name in (MAPPING_FILE, COUNTERS_FILE)]
    clashes = [p for p in check_paths(f for f in files if os.path.isfile(f)) if SETTLE in p.message]
    if not clashes:
        if not quiet:
            print("extid: no conflicted state files to resolve")
        return 0
    print("extid: no merge to resolve, but collisions are committed:", file=sys.stderr)
    for problem in clashes:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _targets(top: Path, unmerged: list[str], paths: list[str]) -> list[str]:
    from .. import git

    if paths:
        wanted = [git.rel_to(top, p) for p in paths]
        for rel in wanted:
            if rel not in unmerged:
                raise ExtidError(f"{rel}: not conflicted in the index (nothing to resolve)")
        return wanted
    if not unmerged:
        return []
    attrs = git.check_attr(top, "merge", unmerged)
    return [
        p
        for p in unmerged
        if os.path.basename(p) in (MAPPING_FILE, COUNTERS_FILE) or attrs.get(p) == "extid"
    ]


class _Resolver:
    def __init__(
        self, top: Path, unmerged: list[str], *, ours: bool, theirs: bool, renumber: bool
    ) -> None:
        self.top, self.unmerged = top, unmerged
        self.on_conflict = "ours" if ours else "theirs" if theirs else "conflict"
        self.on_collision: str | None = (
            "ours" if ours else "theirs" if theirs else "renumber" if renumber else None
        )
        self.merged_mappings: dict[str, dict[str, Any]] = {}  # directory -> merged mappings
        self.quiet = False  # --json: stdout holds the JSON document alone
        self.resolved: list[str] = []
        self.unresolved: list[str] = []
        self.renumbered: list[Any] = []  # merge.Renumbered, in the order they were made

    def resolve(self, rel: str) -> int:
        from .. import git
        from .merge_driver import Sides, merge_sides, report

        stages = git.read_stages(self.top, rel)
        if stages.ours is None or stages.theirs is None:
            gone = "ours" if stages.ours is None else "theirs"
            raise ExtidError(
                f"deleted on {gone}, changed on the other side: keep it with `git add {rel}` "
                f"or drop it with `git rm {rel}`"
            )
        directory = os.path.dirname(rel)
        result, version, notes = merge_sides(
            stages.base,
            stages.ours,
            stages.theirs,
            rel,
            on_collision=self.on_collision,
            on_conflict=self.on_conflict,  # type: ignore[arg-type]
            floor_blobs=lambda: self._counter_blobs(directory),
            cwd=str(self.top),
            # --ours/--theirs name the side whose task keeps the number: what is published
            # decides only where the user did not (--renumber, extid.onCollision)
            published_blobs=(
                None
                if self.on_collision in ("ours", "theirs")
                else lambda: git.published_blobs(self.top, rel)
            ),
        )
        for note in notes:
            print(f"extid: {rel}: {note}", file=sys.stderr)
        if result.kind == "counters" and directory in self.merged_mappings:
            result = self._recount(stages, rel, version)
        if result.kind == "mapping" and result.clean:
            self.merged_mappings[directory] = result.doc["mappings"]
        sides = Sides.now(str(self.top)) if result.conflicts else Sides()
        data = result.render(version, sides.labels)
        _write(self.top / rel, data)
        report(rel, result, data, sides)
        self.renumbered += result.renumbered
        if not result.clean:
            return 1
        git.add(self.top, [rel])
        self.resolved.append(rel)
        if not self.quiet:
            print(f"resolved {rel}")
        if result.kind == "mapping":
            self._raise_sibling_counters(directory, result.doc["mappings"])
        return 0

    def _recount(self, stages: Any, rel: str, version: str) -> Any:
        """Merge the counters again, bounded by the mappings merged in this run."""
        from ..merge import merge
        from .merge_driver import load_base, load_side

        o = load_side(stages.ours, f"{rel} (ours)")
        t = load_side(stages.theirs, f"{rel} (theirs)", o.kind)
        b, _ = load_base(stages.base, f"{rel} (base)", o.kind)
        return merge(b, o.obj, t.obj, o.kind, mappings=self.merged_mappings[os.path.dirname(rel)])

    def _counter_blobs(self, directory: str) -> list[bytes]:
        """Every version of the sibling counters file in sight: stages, work tree, heads."""
        from .. import git

        rel = f"{directory}/{COUNTERS_FILE}" if directory else COUNTERS_FILE
        blobs: list[bytes] = []
        if rel in self.unmerged:
            stages = git.read_stages(self.top, rel)
            blobs += [b for b in (stages.ours, stages.theirs) if b is not None]
        elif (self.top / rel).is_file():
            blobs.append((self.top / rel).read_bytes())
        return blobs + git.operation_blobs(self.top, rel)

    def _raise_sibling_counters(self, directory: str, mappings: dict[str, Any]) -> None:
        """A merged (possibly renumbered) mapping whose counters file merged on its own: raise
        those counters above the numbers now used, so the pair stays consistent."""
        from .. import document, git, model
        from .merge_driver import load_side

        rel = f"{directory}/{COUNTERS_FILE}" if directory else COUNTERS_FILE
        path = self.top / rel
        if rel in self.unmerged or not path.is_file():
            return
        try:
            data = path.read_bytes()
            side = load_side(data, rel)
        except (ExtidError, OSError):
            return
        if side.kind != "counters" or not model.reconcile(side.obj["counters"], mappings):
            return
        from ..migrations import downgrade

        _write(path, document.canonical(downgrade(side.obj, side.kind, side.version, rel)))
        git.add(self.top, [rel])
        print(
            f"raised counters in {rel} above the merged numbers",
            file=sys.stderr if self.quiet else sys.stdout,
        )


def _write(path: Path, data: bytes) -> None:
    from ..store import atomic_write  # the durable write path every state file takes

    atomic_write(path, data)
