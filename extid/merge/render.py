"""Rendering a merged document as canonical text with each conflict as the smallest marked region.

Each conflict's place is first filled with a placeholder string, the document is dumped
canonically, and each run of placeholder lines is then replaced by both sides between markers,
each side valid JSON when chosen.
"""

from __future__ import annotations

import json
import re
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


def render(result: MergeResult, version: str = CURRENT) -> bytes:
    """Canonical bytes of the merged document at `version`, conflicts between markers."""
    if result.clean:
        return canonical(downgrade(result.doc, result.kind, version, "<merge>"))
    doc = _with_placeholders(result.doc, result.conflicts)
    text = canonical(downgrade(doc, result.kind, version, "<merge>")).decode("utf-8")
    pieces: list[str] = []
    cursor = 0
    for first, last in _placeholder_runs(text):
        lines = text[first:last].split("\n")
        prev_start = text.rfind("\n", 0, first - 1) + 1
        prev = text[prev_start : first - 1] if first > 0 else ""
        region, pulled = _region(lines, prev, result.conflicts)
        start = prev_start if pulled else first
        pieces += [text[cursor:start], "\n".join(region)]
        cursor = last
    pieces.append(text[cursor:])
    return "".join(pieces).encode("utf-8")


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


def _with_placeholders(doc: dict[str, Any], conflicts: list[Conflict]) -> dict[str, Any]:
    """A copy of `doc` (copied only along the conflicts' paths) with a marker string at each."""
    root = dict(doc)
    copied: set[int] = {id(root)}
    for n, c in enumerate(conflicts):
        node = root
        for part in c.path[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) and id(child) not in copied else child
            if not isinstance(child, dict):
                child = {}
            copied.add(id(child))
            node[part] = child
            node = child
        node[c.path[-1]] = _PLACEHOLDER.format(n)
    return root


def _region(lines: list[str], prev: str, conflicts: list[Conflict]) -> tuple[list[str], bool]:
    """Consecutive placeholder lines as one marked region, and whether it took in the line
    before. Each side stays valid JSON when chosen: commas follow that side's members, and a
    side left empty at the end of an object takes the comma off the line before."""
    indent = len(lines[0]) - len(lines[0].lstrip(" "))
    trailing = _PLACEHOLDER_RE.search(lines[-1]).group(2) == ","  # type: ignore[union-attr]
    sides: list[list[str]] = [[], []]
    for line in lines:
        c = conflicts[int(_PLACEHOLDER_RE.search(line).group(1))]  # type: ignore[union-attr]
        for side, value in zip(sides, (c.ours, c.theirs), strict=True):
            if value is not MISSING:
                side.append(member(c.path[-1], value, indent))
    rendered = [_join(side, trailing) for side in sides]
    pull = not trailing and any(not side for side in sides) and prev.endswith(",")
    if pull:
        rendered = [
            [prev if side else prev[:-1], *text] for side, text in zip(sides, rendered, strict=True)
        ]
    return [MARK_OURS, *rendered[0], MARK_SEP, *rendered[1], MARK_THEIRS], pull


def member(key: str, value: Any, indent: int) -> str:
    """`"key": value` as canonical JSON at `indent`, without a trailing comma."""
    text = json.dumps({key: value}, indent=2, sort_keys=True, ensure_ascii=False)
    inner = text.split("\n")[1:-1]
    return "\n".join(" " * indent + line[2:] for line in inner)


def _join(members: list[str], trailing: bool) -> list[str]:
    out = []
    for n, text in enumerate(members):
        comma = "," if trailing or n < len(members) - 1 else ""
        out.extend((text + comma).split("\n"))
    return out
