"""`extid merge-driver BASE OURS THEIRS [PATH]`: git's merge driver for the state files.

Configured as `extid merge-driver %O %A %B %P`. Writes the result to OURS; exit 0 when clean, 1
on conflict (the file then holds everything merged and the undecided places between markers).
A side extid cannot read falls back to git's line merge with markers, exit 1, and says why.

The clean path imports document, migrations and merge only (no git layer, no jsonschema): git
runs this once per conflicted state file, on files of up to 100k entries.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from .. import document
from ..document import COUNTERS, MAPPING, Kind
from ..errors import ExtidError
from ..ledger.local import Ledger, highest, marks_of_bytes, marks_of_document, raise_seen
from ..merge import (
    ON_COLLISION_CHOICES,
    BytesMerge,
    MergeResult,
    OnCollision,
    OnConflict,
    fast_merge_mapping,
    merge,
    merge_counter_floor,
    newer_version,
)
from ..merge_context import floor_docs, make_room, published, published_mappings, sibling_counters
from ..migrations import CURRENT, upgrade
from ..model import adopt_counters, holds_last_used, iter_counters, set_counter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base_file", metavar="BASE", help="common ancestor (%%O)")
    parser.add_argument("ours_file", metavar="OURS", help="our version; receives the result (%%A)")
    parser.add_argument("theirs_file", metavar="THEIRS", help="their version (%%B)")
    parser.add_argument("path", metavar="PATH", nargs="?", help="the file's path in the repo (%%P)")
    parser.add_argument(
        "--on-collision",
        choices=("conflict", "renumber"),
        default=None,
        help="two tasks holding one external ID: report a conflict (default) or renumber the "
        "later task (default from `git config extid.onCollision`)",
    )


class Side:
    """One input, parsed and upgraded."""

    def __init__(self, obj: Any, kind: Kind, version: str) -> None:
        self.obj, self.kind, self.version = obj, kind, version


def load_side(data: bytes, name: str, kind: Kind | None = None) -> Side:
    """Parse and upgrade one version of a state file; raises ExtidError saying why not."""
    parsed = document.parse(data, name)
    found = document.kind_of(parsed.obj, name)
    if found is None:
        raise ExtidError(f"{name}: neither a mapping nor a counters file")
    if kind is not None and found != kind:
        raise ExtidError(f"{name}: one side is a {kind} file, the other a {found} file")
    obj, version = upgrade(parsed.obj, found, name)
    refuse_invalid(obj, found, name)
    if found == COUNTERS and holds_last_used(obj):  # never max a last-used with a next number
        adopt_counters(obj)
    return Side(obj, found, version)


def refuse_invalid(obj: Any, kind: Kind, name: str) -> None:
    """A side that breaks the schema (an unknown tool, a bad ID, a counter out of range) is
    not merged by content: a branch must not smuggle it in through a clean merge. Collisions
    between entries are the merge's own business and are not refused here."""
    from ..validate import check_document

    problems = check_document(obj, kind, name, semantics=False)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ExtidError(f"{problems[0]}{more}")


def load_base(data: bytes | None, name: str, kind: Kind) -> tuple[Any, str | None]:
    """The ancestor, or None when there is none (both sides added the file) or it is unreadable
    (then every difference counts as an addition on its side: nothing is lost)."""
    if not data or not data.strip():
        return None, None
    try:
        return load_side(data, name, kind).obj, None
    except ExtidError as e:
        return None, f"ignoring the common ancestor ({e})"


def merge_sides(
    base: bytes | None,
    ours: bytes,
    theirs: bytes,
    name: str,
    *,
    on_collision: str | None,
    on_conflict: OnConflict = "conflict",
    floor_blobs: Callable[[], list[bytes]] | None = None,
    cwd: str | None = None,
    published_blobs: Callable[[], list[bytes]] | None = None,
) -> tuple[MergeResult, str, list[str]]:
    """Merge three versions of one state file: (result, version to write, notes).
    Raises ExtidError when a side cannot be read. `floor_blobs()` gives counters files whose
    numbers a renumbering must stay above, `published_blobs()` mapping files already pushed
    (their holders keep their IDs); `on_collision=None` asks git config when needed.
    A renumbering's numbers are reserved through the clone's ledgers (`extid.ledger.issue`:
    the remote one too, where it is on)."""

    o = load_side(ours, f"{name} (ours)")
    t = load_side(theirs, f"{name} (theirs)", o.kind)
    b, note = load_base(base, f"{name} (base)", o.kind)
    notes = [note] if note else []
    choice = cast(OnCollision, on_collision or "conflict")
    result = merge(b, o.obj, t.obj, o.kind, on_collision=choice, on_conflict=on_conflict)
    collided = bool(result.renumbered) or any(c.collision for c in result.conflicts)
    if collided and on_collision is None:
        choice = _configured_on_collision(cwd)
    # Above every number this clone ever issued too: one in a commit a rebase has not replayed
    # yet is in no file in sight. What a renumbering hands out is recorded there.
    start = Path(os.path.abspath(os.path.join(cwd or "", os.path.dirname(name))))
    ledger = Ledger.of(start)

    def counter_floor() -> dict[tuple[str, str | None], int]:
        return merge_counter_floor(*floor_docs(floor_blobs), _ledger_floor(ledger))

    if collided and choice != "conflict":
        from ..ledger.issue import remote_for_merge, renumbering_reserve  # renumbering only

        floor = counter_floor()
        result = merge(
            b,
            o.obj,
            t.obj,
            o.kind,
            on_collision=choice,
            on_conflict=on_conflict,
            counter_floor=floor,
            published=published(published_blobs),
            reserve=renumbering_reserve(ledger, remote_for_merge(start)),
        )
    if o.kind == COUNTERS and result.clean:
        make_room(
            result.doc,
            b,
            o.obj,
            t.obj,
            lambda: on_collision or _configured_on_collision(cwd),
            # The counters in sight only: where git merged the mapping file first, its
            # renumbering has raised the ledger already, and a floor with the ledger would
            # leave a gap of as many numbers as were renumbered on every such merge.
            lambda: merge_counter_floor(*floor_docs(floor_blobs)),
            lambda: dict(iter_counters(ledger.read() if ledger is not None else {})),
        )
    if ledger is not None and result.renumbered:
        with ledger.hold() as marks:
            marks.raise_to(marks_of_document(result.kind, result.doc))
            marks.flush()
    return result, newer_version(o.version, t.version), notes


def _ledger_floor(ledger: Ledger | None) -> dict[str, Any]:
    """The clone's ledger as a counters document (each mark + 1)."""
    counters: dict[str, Any] = {}
    for (tool, key), mark in iter_counters(ledger.read() if ledger is not None else {}):
        set_counter(counters, tool, key, mark + 1)
    return {"counters": counters}


def _configured_on_collision(cwd: str | None) -> OnCollision:
    from ..git import config_get  # deferred: only a collision needs the config

    value = (config_get("extid.onCollision", cwd) or "conflict").strip().lower()
    if value not in ON_COLLISION_CHOICES:
        print(
            f"extid: ignoring extid.onCollision={value!r} (expected conflict or renumber)",
            file=sys.stderr,
        )
        return "conflict"
    return cast(OnCollision, value)


def run(
    state_dir: str | None,
    base_file: str,
    ours_file: str,
    theirs_file: str,
    path: str | None = None,
    on_collision: str | None = None,
) -> int:
    # A short-lived process that builds ~100k small objects and frees them at exit: the cyclic
    # collector would only rescan them (a quarter of the run time on a large file).
    del state_dir  # git names the three files
    gc.disable()
    name = path or ours_file
    oversized = [p for p in (base_file, ours_file, theirs_file) if _size(p) > document.MAX_BYTES]
    if oversized:  # refused before reading: a hostile branch must not exhaust memory
        print(
            f"extid: {name}: a side is over the {document.MAX_BYTES}-byte limit; not merged "
            "(both versions stay in git's index: `git checkout --ours/--theirs` it)",
            file=sys.stderr,
        )
        return 1
    ours = _read_side(ours_file, "OURS (%A)")
    theirs = _read_side(theirs_file, "THEIRS (%B)")
    base = _read_side(base_file, "BASE (%O)") if os.path.exists(base_file) else b""
    if ours == theirs:
        return 0
    _raise_ledger(path, ours, theirs)
    if len(ours) >= document.LARGE_BYTES:  # a large registry: merge the changed entries only
        now = functools.cache(Sides.now)  # only a conflict needs to know (a git call)
        fast = fast_merge_mapping(base, ours, theirs, lambda: now().labels)
        if fast is not None and _fast_is_final(fast, on_collision):
            Path(ours_file).write_bytes(fast.data)
            report(name, fast, fast.data, now() if fast.conflicts else Sides())
            return 0 if fast.clean else 1
    try:
        result, version, notes = merge_sides(
            base,
            ours,
            theirs,
            name,
            on_collision=on_collision,
            floor_blobs=sibling_counters(path),
            published_blobs=published_mappings(path),
        )
    except ExtidError as e:
        return _fall_back(ours_file, base, ours, theirs, name, str(e))
    for note in notes:
        print(f"extid: {name}: {note}", file=sys.stderr)
    sides = Sides.now() if result.conflicts else Sides()
    data = result.render(version if version else CURRENT, sides.labels)
    Path(ours_file).write_bytes(data)
    report(name, result, data, sides)
    return 0 if result.clean else 1


def _raise_ledger(path: str | None, *sides: bytes) -> None:
    """Both sides' numbers into the clone's ledger (see `extid.ledger`): a merge aborted, reset
    or rebased away later must not let this clone issue them again. A large mapping side is not
    parsed whole for it: its counters file, merged too, holds its numbers. Outside a repository
    nothing more is imported (the store's lock and durable writes come with a ledger)."""
    marks = highest(*(marks_of_bytes(s) for s in sides if len(s) < document.LARGE_BYTES))
    try:
        raise_seen(Path(os.path.abspath(os.path.dirname(path or "") or ".")), marks)
    except ExtidError as e:  # the merge itself must still happen
        print(f"extid: warning: {path or 'merge-driver'}: ledger not raised ({e})", file=sys.stderr)


def _read_side(path: str, role: str) -> bytes:
    """One input git named; a missing or unreadable one is a driver set up by hand with the
    wrong arguments (git always passes three readable files), said in one line."""
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ExtidError(
            f"merge-driver: {role} file {path!r} cannot be read ({e.strerror or e}); git runs "
            "the driver as `extid merge-driver %O %A %B %P` (set up by `extid install`)"
        ) from None


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _fast_is_final(fast: BytesMerge, on_collision: str | None) -> bool:
    """The bytes merge leaves collisions as conflicts: final unless renumbering is asked for."""
    if not any(c.collision for c in fast.conflicts):
        return True
    return (on_collision or _configured_on_collision(None)) == "conflict"


class Sides:
    """What git's "ours" and "theirs" are in the operation running: in a merge, the branch
    checked out and the one merged in; in a rebase the other way round from the user's view,
    the upstream and the user's own commit. Named so in markers and messages."""

    def __init__(self, rebase: bool = False) -> None:
        self.rebase = rebase
        extra = (" (upstream)", " (your commit)") if rebase else ("", "")
        self.labels = (f"ours{extra[0]}", f"theirs{extra[1]}")
        self.next_step = "`git rebase --continue`" if rebase else "`git commit`"
        self.choices = (
            "`extid resolve --ours` (upstream's) / `--theirs` (your commit's) / `--renumber`"
            if rebase
            else "`extid resolve --ours` / `--theirs` / `--renumber`"
        )

    @classmethod
    def now(cls, top: str | None = None) -> Sides:
        """The sides of the operation running in the work tree at `top` (default: here)."""
        from ..gitstate import rebasing  # deferred: only a conflict needs to know

        return cls(rebasing(top))

    def name(self, message: str) -> str:
        """`message` with the sides named by what they are."""
        if not self.rebase:
            return message
        for was, now in (
            ("(ours)", "(upstream)"),
            ("(theirs)", "(your commit)"),
            (" on ours ", " upstream "),
            (" on theirs", " in your commit"),
        ):
            message = message.replace(was, now)
        return message


def report(
    name: str, result: MergeResult | BytesMerge, data: bytes, sides: Sides | None = None
) -> None:
    """Renumberings, then the marked regions of `data` (counted as they appear in the file)
    with what each conflict is, and the way on."""
    sides = sides or Sides()
    for r in result.renumbered:
        print(f"extid: {name}: {r}", file=sys.stderr)
    if result.conflicts:
        # Lines that start with the marker, counted without splitting a 16 MB file into lines.
        regions = data.count(b"\n<<<<<<< ") + data.startswith(b"<<<<<<< ")
        print(
            f"extid: {name}: {regions} conflicted region(s) left between markers:",
            file=sys.stderr,
        )
        for c in result.conflicts:
            print(f"  {sides.name(c.message)}", file=sys.stderr)
        if any(c.collision for c in result.conflicts):
            # Keeping one side of a collision region drops the other task's ID: the merge
            # guard refuses that commit, so never suggest it.
            how = f"run {sides.choices} (each task keeps an ID), then {sides.next_step}"
        else:
            how = (
                f"keep one side of each region (or {sides.choices}), then `git add {name}` "
                f"and {sides.next_step}"
            )
        print(f"extid: {name}: {how}", file=sys.stderr)


def _fall_back(out: str, base: bytes, ours: bytes, theirs: bytes, name: str, why: str) -> int:
    from ..git import line_merge  # deferred: the unhappy path only

    merged, whole = line_merge(ours, base, theirs)
    Path(out).write_bytes(merged)
    holds = (
        "both sides whole between conflict markers (ours first)"
        if whole
        else "git's line merge with conflict markers"
    )
    print(
        f"extid: {name}: cannot merge by content ({why}); the file now holds {holds} - keep "
        "what belongs, then `extid check` and `git add`",
        file=sys.stderr,
    )
    return 1


__all__ = ["COUNTERS", "MAPPING", "Sides", "load_side", "merge_sides", "report", "run"]
