"""Rendering a merged document as canonical text with each conflict as the smallest marked region.

Each conflict's place is first filled with a placeholder string, the document is dumped
canonically, and each run of placeholder lines is then replaced by both sides between markers,
each side valid JSON when chosen.
"""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from ..document import canonical
from ..migrations import CURRENT, downgrade
from .decide import MISSING, Conflict

if TYPE_CHECKING:
    from .three_way import MergeResult

MARK_OURS = "<<<<<<< ours"
MARK_SEP = "======="
MARK_THEIRS = ">>>>>>> theirs"
_PLACEHOLDER = "\x00extid-conflict-{}"
_PLACEHOLDER_MARK = '"\\u0000extid-conflict-'
_PLACEHOLDER_RE = re.compile(r'"\\u0000extid-conflict-([0-9]+)"(,?)$')


def render(
    result: MergeResult, version: str = CURRENT, labels: tuple[str, str] = ("ours", "theirs")
) -> bytes:
    """Canonical bytes of the merged document at `version`, conflicts between markers
    (`<<<<<<< {labels[0]}` / `>>>>>>> {labels[1]}`)."""
    if result.clean:
        return canonical(downgrade(result.doc, result.kind, version, "<merge>"))
    views = whole_tasks(result.doc, result.conflicts)
    doc = _with_placeholders(result.doc, result.conflicts, views)
    text = canonical(downgrade(doc, result.kind, version, "<merge>"))
    return mark(text, result.conflicts, labels, views)


def placeholder(n: int) -> str:
    """The string that holds conflict number `n`'s place until `mark` replaces it."""
    return _PLACEHOLDER.format(n)


def mark(
    data: bytes,
    conflicts: list[Conflict],
    labels: tuple[str, str] = ("ours", "theirs"),
    views: Views | None = None,
) -> bytes:
    """Canonical bytes holding `placeholder(n)` at the place of each conflict n, with each run
    of placeholder lines replaced by both sides between markers (one pass over the text: the
    byte-level merge marks all its conflicts at once)."""
    views = views or {}
    text = data.decode("utf-8")
    pieces: list[str] = []
    cursor = 0
    for first, last in _placeholder_runs(text):
        lines = text[first:last].split("\n")
        prev_start = text.rfind("\n", 0, first - 1) + 1
        prev = text[prev_start : first - 1] if first > 0 else ""
        region, pulled = _region(lines, prev, conflicts, views, labels)
        start = prev_start if pulled else first
        pieces += [text[cursor:start], "\n".join(region)]
        cursor = last
    pieces.append(text[cursor:])
    return "".join(pieces).encode("utf-8")


Views = dict[int, tuple[dict[str, Any], dict[str, Any]]]


def whole_tasks(doc: dict[str, Any], conflicts: list[Conflict]) -> Views:
    """For each collision shown whole: both tasks as each side would have them (the side
    that gave the ID to one task keeps it there), by conflict number. A task in any other
    conflict is shown field by field instead, so that no task is ever shown twice."""
    mappings = doc.get("mappings")
    if not isinstance(mappings, dict):
        return {}
    seen: dict[str, int] = {}
    for c in conflicts:
        for task in (c.path[1] if c.path[:1] == ("mappings",) and len(c.path) > 1 else "", c.other):
            seen[task] = seen.get(task, 0) + 1
    views: Views = {}
    for n, c in enumerate(conflicts):
        if not c.collision or len(c.path) != 3:
            continue
        task, tool = c.path[1], c.path[2]
        pair = (task, c.other)
        if any(seen.get(k) != 1 or not isinstance(mappings.get(k), dict) for k in pair):
            continue
        sides = []
        for value in (c.ours, c.theirs):
            mine, other = dict(mappings[task]), dict(mappings[c.other])
            if value is MISSING:
                mine.pop(tool, None)
            else:
                mine[tool] = value
                other.pop(tool, None)
            sides.append({task: mine, c.other: other})
        views[n] = (sides[0], sides[1])
    return views


def _placeholder_runs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each run of consecutive placeholder lines (end excludes the newline)."""
    runs: list[tuple[int, int]] = []
    at = text.find(_PLACEHOLDER_MARK)
    while at >= 0:
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        end = len(text) if end < 0 else end
        if runs and runs[-1][1] + 1 == start:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
        at = text.find(_PLACEHOLDER_MARK, end)
    return runs


def _with_placeholders(
    doc: dict[str, Any], conflicts: list[Conflict], views: Views
) -> dict[str, Any]:
    """A copy of `doc` (copied only along the conflicts' paths) with a marker string at each;
    a collision shown whole takes the place of the first of its tasks, the other removed."""
    root = dict(doc)
    copied: set[int] = {id(root)}
    for n, c in enumerate(conflicts):
        path = c.path
        if n in views:
            mappings = root["mappings"]
            if id(mappings) not in copied:  # once: a copy per collision was ~1 ms at 100k each
                mappings = root["mappings"] = dict(mappings)
                copied.add(id(mappings))
            first, second = sorted(views[n][0])
            del mappings[second]
            path = ("mappings", first)
        node = root
        for part in path[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) and id(child) not in copied else child
            if not isinstance(child, dict):
                child = {}
            copied.add(id(child))
            node[part] = child
            node = child
        node[path[-1]] = _PLACEHOLDER.format(n)
    return root


def _region(
    lines: list[str],
    prev: str,
    conflicts: list[Conflict],
    views: Views,
    labels: tuple[str, str],
) -> tuple[list[str], bool]:
    """Consecutive placeholder lines as one marked region, and whether it took in the line
    before. Each side stays valid JSON when chosen: commas follow that side's members, and a
    side left empty at the end of an object takes the comma off the line before."""
    indent = len(lines[0]) - len(lines[0].lstrip(" "))
    trailing = _PLACEHOLDER_RE.search(lines[-1]).group(2) == ","  # type: ignore[union-attr]
    found: list[dict[str, Any]] = [{}, {}]  # each side's members: all on one level, one key each
    for line in lines:
        n = int(_PLACEHOLDER_RE.search(line).group(1))  # type: ignore[union-attr]
        c = conflicts[n]
        pairs = views[n] if n in views else ({c.path[-1]: c.ours}, {c.path[-1]: c.theirs})
        for side, members in zip(found, pairs, strict=True):
            side.update((k, v) for k, v in members.items() if v is not MISSING)
    # Sorted: the members of two collisions shown whole may interleave.
    sides = [[member(k, side[k], indent) for k in sorted(side)] for side in found]
    rendered = [_join(side, trailing) for side in sides]
    pull = not trailing and any(not side for side in sides) and prev.endswith(",")
    if pull:
        rendered = [
            [prev if side else prev[:-1], *text] for side, text in zip(sides, rendered, strict=True)
        ]
    marks = (f"{MARK_OURS[:7]} {labels[0]}", f"{MARK_THEIRS[:7]} {labels[1]}")
    return [marks[0], *rendered[0], MARK_SEP, *rendered[1], marks[1]], pull


def member(key: str, value: Any, indent: int) -> str:
    """`"key": value` as canonical JSON at `indent`, without a trailing comma. A string or an
    object of strings (every entry extid writes) is formatted directly: the stdlib's indenting
    encoder costs ~0.3 ms a call, and a conflict-heavy merge renders thousands."""
    pad, q = " " * indent, encode_basestring  # what json.dumps(s, ensure_ascii=False) gives
    if isinstance(value, str):
        return f"{pad}{q(key)}: {q(value)}"
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        fields = ",\n".join(f"{pad}  {q(k)}: {q(value[k])}" for k in sorted(value))
        return f"{pad}{q(key)}: {{\n{fields}\n{pad}}}" if value else f"{pad}{q(key)}: {{}}"
    text = json.dumps({key: value}, indent=2, sort_keys=True, ensure_ascii=False)
    inner = text.split("\n")[1:-1]
    return "\n".join(" " * indent + line[2:] for line in inner)


def _join(members: list[str], trailing: bool) -> list[str]:
    out = []
    for n, text in enumerate(members):
        comma = "," if trailing or n < len(members) - 1 else ""
        out.extend((text + comma).split("\n"))
    return out
