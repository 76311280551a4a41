"""Checking state files as files: read (from disk or git's index), parse, upgrade and check
each, then cross-check a mapping/counters pair; every finding is a `Problem` value.

A large canonical mapping file is checked slice by slice (`slices.canonical_slices`) so that
its parse, ~5x the file as Python objects, is never held whole: `extid check` of a 1M-entry
registry peaks at ~2.7x the file (its bytes, and the hashes that span slices). Only a file
that passes is taken that way; any problem, or a file that is not canonical, sends it through
the ordinary whole-document path, which names the problems, so what is reported never depends
on the way taken.
"""

from __future__ import annotations

import os
from collections import namedtuple

from . import document
from .document import COUNTERS, COUNTERS_FILE, MAPPING, MAPPING_FILE, read_file
from .errors import ExtidError, ParseError, ParseProblem, Problem
from .migrations import CURRENT, upgrade
from .model import Index, adopt_counters, holds_last_used
from .validate import check_document, check_pair

TYPE_CHECKING = False  # not typing's: see errors.py
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from .document import Kind
    from .model import CounterKey

#: What `check` says of a counters file another tool wrote (see `model.holds_last_used`).
NOT_ADOPTED = (
    "written by another tool, whose counters are the last numbers used (extid's are the next); "
    "run `extid install` to adopt it (each counter becomes its number + 1)"
)


def load_file(path: str, read: Callable[[str], bytes] = read_file) -> tuple[Any, Kind]:
    """Read (`read`: from disk, or from git's index), parse and upgrade one file; raises
    ExtidError (ParseError, NewerVersionError)."""
    return _loaded(read(path), path)


def _loaded(data: bytes, path: str) -> tuple[Any, Kind]:
    obj = document.load(data, path)
    kind = document.kind_of(obj, path)
    if kind is None:
        raise ParseError(
            path, "$", "neither a mapping nor a counters file (no 'mappings' or 'counters')"
        )
    obj, _ = upgrade(obj, kind, path)
    return obj, kind


class Checked(namedtuple("Checked", ["obj", "kind", "problems", "high"])):
    """One file read and checked: its document (for a mapping file checked in slices, the
    envelope with no entries), kind, problems, and for a mapping document the highest numbers
    it uses (`model.highest_used`, what the pair check needs of its entries)."""

    __slots__ = ()
    obj: Any
    kind: Kind
    problems: list[Problem]
    high: dict[CounterKey, int]


def check_file(path: str, read: Callable[[str], bytes] = read_file) -> Checked:
    """Read, parse, upgrade and check one file; raises ExtidError as `load_file`."""
    data = read(path)
    if len(data) >= document.LARGE_BYTES:
        passed = _passes_in_slices(data, path)
        if passed is not None:
            return passed
    obj, kind = _loaded(data, path)
    del data  # the whole parse is ~5x the bytes: hold no more than needed beside it
    high: dict[CounterKey, int] = {}
    return Checked(obj, kind, check_document(obj, kind, path, high=high), high)


def _passes_in_slices(data: bytes, path: str) -> Checked | None:
    """`data` checked as a canonical current-version mapping document one slice at a time,
    if it is one and has no problem; None otherwise (then the whole parse names them).

    The rules between entries (an ID twice up to case, an external ID held twice) hold across
    slices by the hashes of what each slice indexed: a hash seen twice, which a real clash
    always gives and an unequal pair almost never does, sends the file the ordinary way.
    """
    from .slices import NotCanonical, canonical_slices  # deferred: large files only

    slices = canonical_slices(data)
    if slices is None or slices[0].get("version") != CURRENT:
        return None
    rest, parts = slices
    high: dict[CounterKey, int] = {}
    seen_ids: set[int] = set()
    seen_held: set[int] = set()
    try:
        for part in parts:
            index = Index()
            index.high = high  # raised in place, slice after slice
            if check_document({"mappings": part, **rest}, MAPPING, path, index=index):
                return None
            ids, held = len(seen_ids) + len(index.folded), len(seen_held) + len(index.holders)
            seen_ids.update(map(hash, index.folded))
            seen_held.update(map(hash, index.holders))
            if len(seen_ids) != ids or len(seen_held) != held:
                return None
    except NotCanonical:
        return None
    return Checked({"mappings": {}, **rest}, MAPPING, [], high)


def check_paths(paths: Iterable[str], read: Callable[[str], bytes] = read_file) -> list[Problem]:
    """Every problem of every file, plus the cross-check of a mapping/counters pair that lives in
    one directory under the standard names (the sibling is read too if not given). `read` gives
    a file's bytes (the disk's, or the index's for a staged check)."""
    problems: list[Problem] = []
    loaded: dict[str, Checked] = {}
    for path in paths:
        try:
            checked = check_file(path, read)
        except ExtidError as e:
            problems.append(_as_problem(path, e))
            continue
        problems.extend(checked.problems)
        if checked.kind == COUNTERS and holds_last_used(checked.obj):
            problems.append(Problem(path, "$.updated", NOT_ADOPTED))
            adopt_counters(checked.obj)  # the pair is checked as extid will read it
        loaded[path] = checked
    problems.extend(_check_pairs(loaded, read))
    return problems


def _as_problem(path: str, e: ExtidError) -> Problem:
    if isinstance(e, ParseError):
        problem = ParseProblem(path, e.where, e.said)
        problem.fix = e.fix or ""
        return problem
    message = str(e)
    return ParseProblem(
        path, "", message[len(path) + 2 :] if message.startswith(path + ": ") else message
    )


def _check_pairs(loaded: dict[str, Checked], read: Callable[[str], bytes]) -> list[Problem]:
    problems: list[Problem] = []
    for path, checked in loaded.items():
        directory, base = os.path.split(path)
        if base == MAPPING_FILE:
            other = os.path.join(directory, COUNTERS_FILE)
            counters = loaded[other] if other in loaded else _quiet_check(other, read)
            counters_obj = None if counters is None else counters.obj
            problems.extend(check_pair(checked.obj, counters_obj, path, other, checked.high))
        elif base == COUNTERS_FILE:
            other = os.path.join(directory, MAPPING_FILE)
            if other not in loaded:  # else reported from the mapping's side
                mapping = _quiet_check(other, read)
                if mapping is not None:
                    problems.extend(check_pair(mapping.obj, checked.obj, other, path, mapping.high))
    return problems


def _quiet_check(path: str, read: Callable[[str], bytes]) -> Checked | None:
    """A sibling that was not asked about: used for the cross-check only if it is sound (and
    read as extid reads it)."""
    try:
        checked = check_file(path, read)
    except ExtidError:
        return None
    if checked.problems:
        return None
    if checked.kind == COUNTERS and holds_last_used(checked.obj):
        adopt_counters(checked.obj)
    return checked
