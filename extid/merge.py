"""Pure three-way merge of the two state documents -> merged document, conflicts, renumberings.

No I/O, no git, no jsonschema: the merge driver's clean path imports this and `document` only.
Inputs are current-version documents (an older side is upgraded by the caller first); `base` may
be None (both sides added the file).

Mapping documents merge per internal ID (folded case-insensitively), then per field:
adds on both sides are united, a change on one side is taken, the same change on both sides is
clean, different changes to one field (or a deletion against a modification) are conflicts.
`created` is the one field with a right answer when both sides set it: the earlier time.
Two internal IDs holding one external ID after the merge are a collision: a conflict by default,
or renumbered deterministically (the task created later, tie-break folded internal ID, gets a
fresh number above every counter and every used number).

Counters merge to max(ours, theirs, highest used + 1) per tool/key; they never go backwards.
`updated` is the later of the two sides. The merged content does not depend on which side is
"ours" (git swaps them during a rebase), except where the caller asks to prefer a side.

Speed: on a 100k-entry file only the entries that differ between ours and theirs are looked at
(a C-level dict comparison skips the rest), and collisions are searched among those entries only:
an entry equal on both sides cannot collide with a merged entry unless one side already held the
collision itself, which `extid check` reports on that side's own commit.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from .document import COUNTERS, ENVELOPE_KEY, MAPPING, Kind, canonical
from .ids import KEYED_ID_RE, KEYED_TOOLS, NUMERIC_ID_RE, TOOLS, fold
from .migrations import CURRENT, UNKNOWN_TIME, VERSIONS, downgrade

OnCollision = Literal["conflict", "renumber", "ours", "theirs"]
OnConflict = Literal["conflict", "ours", "theirs"]
ON_COLLISION_CHOICES: tuple[str, ...] = ("conflict", "renumber", "ours", "theirs")
CounterKey = tuple[str, "str | None"]

MARK_OURS = "<<<<<<< ours"
MARK_SEP = "======="
MARK_THEIRS = ">>>>>>> theirs"
_PLACEHOLDER = "\x00extid-conflict-{}"
_PLACEHOLDER_MARK = '"\\u0000extid-conflict-'
_PLACEHOLDER_RE = re.compile(r'"\\u0000extid-conflict-([0-9]+)"(,?)$')
_TIME_RE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


class _Missing:
    """Absent on one side (distinct from JSON null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Conflict:
    """One place the merge could not decide; `path` leads from the document root to it."""

    path: tuple[str, ...]
    ours: Any  # MISSING when absent on that side
    theirs: Any
    message: str
    collision: bool = False  # two tasks hold one external ID (vs. one place changed twice)


@dataclass(frozen=True)
class Renumbered:
    internal_id: str
    tool: str
    old: str
    new: str
    kept_by: str

    def __str__(self) -> str:
        return (
            f"renumbered {self.internal_id} {self.tool} {self.old} -> {self.new} "
            f"({self.kept_by} keeps {self.old})"
        )


@dataclass
class MergeResult:
    """`doc` is the merged document; where `conflicts` point it holds ours' value (render() shows
    both sides there), so use `doc` as is only when `clean`."""

    kind: Kind
    doc: dict[str, Any]
    conflicts: list[Conflict] = field(default_factory=list)
    renumbered: list[Renumbered] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.conflicts

    def render(self, version: str = CURRENT) -> bytes:
        """Canonical bytes at `version`; each conflict as the smallest marked region."""
        return render(self, version)

    def summary(self) -> list[str]:
        return [str(r) for r in self.renumbered] + [c.message for c in self.conflicts]


# --- entry point ---------------------------------------------------------------------------


def merge(
    base: dict[str, Any] | None,
    ours: dict[str, Any],
    theirs: dict[str, Any],
    kind: Kind,
    *,
    on_collision: OnCollision = "conflict",
    on_conflict: OnConflict = "conflict",
    counter_floor: dict[CounterKey, int] | None = None,
    mappings: dict[str, Any] | None = None,
) -> MergeResult:
    """Three-way merge of two current-version documents of `kind`.

    counter_floor: numbers a renumbering must stay at or above (the sides' counters), for the
    mapping; mappings: the merged mappings, for the counters (their used numbers + 1 bound it).
    """
    if on_collision not in ON_COLLISION_CHOICES:
        raise ValueError(f"on_collision must be one of {ON_COLLISION_CHOICES}")
    base = base if isinstance(base, dict) else {}
    ctx = _Ctx(on_conflict)
    doc = _merge_envelope(base, ours, theirs, kind, ctx)
    inner = ENVELOPE_KEY[kind]
    b_in, o_in, t_in = (_inner(d, inner) for d in (base, ours, theirs))
    if kind == MAPPING:
        merged, touched = _merge_mappings(b_in, o_in, t_in, ctx)
        doc[inner] = merged
        _collisions(merged, touched, o_in, t_in, on_collision, dict(counter_floor or {}), ctx)
    else:
        doc[inner] = _merge_counters(b_in, o_in, t_in, mappings, ctx)
    return MergeResult(kind, doc, ctx.conflicts, ctx.renumbered)


def merge_counter_floor(*counter_docs: dict[str, Any] | None) -> dict[CounterKey, int]:
    """The highest counter per tool/key over several counters documents (for counter_floor)."""
    floor: dict[CounterKey, int] = {}
    for doc in counter_docs:
        counters = _inner(doc or {}, "counters")
        for tool in TOOLS:
            for key, value in _counter_items(counters, tool):
                if value > floor.get((tool, key), 0):
                    floor[(tool, key)] = value
    return floor


def newer_version(a: str, b: str) -> str:
    """The newer of two known format versions (the merged file is written at it)."""
    return a if VERSIONS.index(a) >= VERSIONS.index(b) else b


# --- shared helpers ------------------------------------------------------------------------


class _Ctx:
    def __init__(self, on_conflict: OnConflict) -> None:
        self.on_conflict = on_conflict
        self.conflicts: list[Conflict] = []
        self.renumbered: list[Renumbered] = []

    def decide(self, path: tuple[str, ...], o: Any, t: Any, message: str) -> Any:
        """Both sides changed one place differently: a conflict, or the preferred side."""
        if self.on_conflict == "ours":
            return o
        if self.on_conflict == "theirs":
            return t
        self.conflicts.append(Conflict(path, o, t, message))
        return o


def _inner(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, dict) else {}


def _three_way(b: Any, o: Any, t: Any) -> tuple[bool, Any]:
    """(decided, value) for one place: decided is False when both sides changed it differently."""
    if o == t:
        return True, o
    if b == o:
        return True, t
    if b == t:
        return True, o
    return False, None


def time_key(value: Any) -> tuple[str, str]:
    """Sort key of an RFC 3339 time (any offset) as UTC; unparseable values sort first."""
    m = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        return ("", str(value))
    date, clock, frac, offset = m.groups()
    try:
        moment = datetime.fromisoformat(f"{date}T{clock}").replace(tzinfo=timezone.utc)
    except ValueError:
        return ("", value)
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        moment -= sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    return (moment.strftime("%Y-%m-%dT%H:%M:%S"), (frac or ".").ljust(10, "0"))


def _later(a: Any, b: Any) -> Any:
    if a is MISSING:
        return b
    if b is MISSING:
        return a
    return max((a, b), key=lambda v: (time_key(v), str(v)))


def _earlier(a: Any, b: Any) -> Any:
    return min((a, b), key=lambda v: (time_key(v), str(v)))


def _merge_envelope(
    base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any], kind: Kind, ctx: _Ctx
) -> dict[str, Any]:
    """Everything but the inner object: `updated` the later, `version` CURRENT (the caller
    writes the file at the newer of the sides' on-disk versions), other keys three-way."""
    inner = ENVELOPE_KEY[kind]
    doc: dict[str, Any] = {}
    for key in sorted(set(ours) | set(theirs) | set(base)):
        if key in (inner, "version"):
            continue
        o, t = ours.get(key, MISSING), theirs.get(key, MISSING)
        if key == "updated":
            doc[key] = _later(o, t) if (o, t) != (MISSING, MISSING) else UNKNOWN_TIME
            continue
        ok, value = _three_way(base.get(key, MISSING), o, t)
        if not ok:
            message = f"top-level field {key!r} changed differently on both sides"
            value = ctx.decide((key,), o, t, message)
        if value is not MISSING:
            doc[key] = value
    doc.setdefault("updated", UNKNOWN_TIME)
    doc["version"] = CURRENT
    return doc


# --- mappings ------------------------------------------------------------------------------


def _merge_mappings(
    bm: dict[str, Any], om: dict[str, Any], tm: dict[str, Any], ctx: _Ctx
) -> tuple[dict[str, Any], list[str]]:
    """The merged mappings and the keys (in it) of entries that were merged rather than copied."""
    merged = dict(om)
    # Entries equal on both sides are the answer whatever base says; this comparison is the
    # only per-entry work on a large file.
    changed = [k for k, v in om.items() if tm.get(k, MISSING) != v]
    only_theirs = [k for k in tm if k not in om]
    groups: dict[str, list[str | None]] = {}
    for k in changed:
        groups.setdefault(fold(k), [None, None])[:] = [k, k if k in tm else None]
    for k in only_theirs:  # may be ours' entry spelled in another case
        group = groups.setdefault(fold(k), [None, None])
        if group[1] is None:
            group[1] = k
    if not groups:
        return merged, []
    base_keys = _BaseIndex(bm)
    touched: list[str] = []
    for folded in sorted(groups):
        ok, tk = groups[folded]
        bk = base_keys.find(folded, ok, tk)
        key = _spelling(bk, ok, tk)
        value = _merge_entry(
            key,
            bm.get(bk, MISSING) if bk is not None else MISSING,
            om.get(ok, MISSING) if ok is not None else MISSING,
            tm.get(tk, MISSING) if tk is not None else MISSING,
            ctx,
        )
        if ok is not None:
            del merged[ok]
        if value is not MISSING:
            merged[key] = value
            touched.append(key)
    return merged, touched


class _BaseIndex:
    """Finds an internal ID in base, trying the exact spellings first: folding all 100k base
    keys is only paid for when a key is new to base under the spellings at hand."""

    def __init__(self, bm: dict[str, Any]) -> None:
        self.bm = bm
        self.folded: dict[str, str] | None = None

    def find(self, folded: str, *spellings: str | None) -> str | None:
        for s in spellings:
            if s is not None and s in self.bm:
                return s
        if self.folded is None:
            self.folded = {fold(k): k for k in self.bm}
        return self.folded.get(folded)


def _spelling(b: str | None, o: str | None, t: str | None) -> str:
    """Which spelling of one internal ID the merge keeps (case is cosmetic: never a conflict)."""
    if o is None or t is None:
        found = o if o is not None else t
        assert found is not None
        return found
    if o == t or b == o:
        return t
    if b == t:
        return o
    return min(o, t)


def _merge_entry(key: str, b: Any, o: Any, t: Any, ctx: _Ctx) -> Any:
    ok, value = _three_way(b, o, t)
    if ok:
        return value
    path = ("mappings", key)
    if o is MISSING or t is MISSING:
        who = "ours" if o is MISSING else "theirs"
        return ctx.decide(path, o, t, f"{key}: deleted on {who} but changed on the other side")
    if not isinstance(o, dict) or not isinstance(t, dict):
        return ctx.decide(path, o, t, f"{key}: changed differently on both sides")
    b = b if isinstance(b, dict) else {}
    entry: dict[str, Any] = {}
    for name in sorted(set(o) | set(t) | set(b)):
        bv, ov, tv = b.get(name, MISSING), o.get(name, MISSING), t.get(name, MISSING)
        ok, value = _three_way(bv, ov, tv)
        if not ok:
            if name == "created" and MISSING not in (ov, tv):
                value = _earlier(ov, tv)  # the task existed from the earlier time on
            else:
                value = ctx.decide((*path, name), ov, tv, _field_message(key, name, ov, tv))
        if value is not MISSING:
            entry[name] = value
    return entry


def _field_message(key: str, name: str, o: Any, t: Any) -> str:
    def show(v: Any) -> str:
        return "removed" if v is MISSING else json.dumps(v, ensure_ascii=False)

    return f"{key}: {name} is {show(o)} on ours but {show(t)} on theirs"


# --- collisions ----------------------------------------------------------------------------


def _collisions(
    merged: dict[str, Any],
    touched: list[str],
    om: dict[str, Any],
    tm: dict[str, Any],
    on_collision: OnCollision,
    floor: dict[CounterKey, int],
    ctx: _Ctx,
) -> None:
    # A place in conflict holds no decided value yet: it cannot collide with anything.
    undecided = {c.path[1:]: c for c in ctx.conflicts if c.path[:1] == ("mappings",)}
    holders: dict[tuple[str, str], list[str]] = {}
    for key in touched:
        entry = merged[key]
        if isinstance(entry, dict) and (key,) not in undecided:
            for tool in TOOLS:
                value = entry.get(tool)
                if isinstance(value, str) and (key, tool) not in undecided:
                    holders.setdefault((tool, value), []).append(key)
    o_fold = t_fold = None
    for (tool, value), keys in sorted(holders.items()):
        if len(keys) < 2:
            continue
        if o_fold is None or t_fold is None:
            o_fold, t_fold = _fold_index(om, touched), _fold_index(tm, touched)
        claims = {k: _claims(k, tool, value, om, o_fold, tm, t_fold) for k in keys}
        order = sorted(
            keys,
            key=lambda k: _keeper_key(
                _created(merged[k], k, undecided), k, claims[k], on_collision
            ),
        )
        winner, losers = order[0], order[1:]
        for loser in losers:
            if on_collision == "conflict":
                _collision_conflict(loser, winner, tool, value, claims, om, o_fold, tm, t_fold, ctx)
            else:
                _renumber(merged, loser, winner, tool, value, floor, ctx)


def _fold_index(side: dict[str, Any], keys: Iterable[str]) -> dict[str, str]:
    """Spelling on `side` of each of `keys` (few), trying the likely spellings rather than
    folding a 100k-entry side: this only decides which side a collision is shown or kept on."""
    out: dict[str, str] = {}
    for k in keys:
        for candidate in _spellings(fold(k), k):
            if candidate in side:
                out[fold(k)] = candidate
                break
    return out


def _claims(
    key: str,
    tool: str,
    value: str,
    om: dict[str, Any],
    o_fold: dict[str, str],
    tm: dict[str, Any],
    t_fold: dict[str, str],
) -> set[str]:
    """Which sides give `key` this external ID."""
    sides = set()
    for name, side, index in (("ours", om, o_fold), ("theirs", tm, t_fold)):
        entry = side.get(index.get(fold(key), ""), None)
        if isinstance(entry, dict) and entry.get(tool) == value:
            sides.add(name)
    return sides


def _created(entry: Any, key: str, undecided: dict[tuple[str, ...], Conflict]) -> tuple[str, str]:
    """When a task was created, as a sort key; a missing `created` counts as oldest (entries
    without it predate timestamps). Undecided between the sides: the earlier, either way round."""
    conflict = undecided.get((key, "created"))
    if conflict is not None:
        values = [conflict.ours, conflict.theirs]
    else:
        values = [entry.get("created", MISSING) if isinstance(entry, dict) else MISSING]
    return min(("", "") if v is MISSING else time_key(v) for v in values)


def _keeper_key(
    created: tuple[str, str], key: str, claims: set[str], on_collision: OnCollision
) -> tuple[Any, ...]:
    """Sort key: the first keeps the external ID. The task created earlier keeps it, ties by
    folded ID; with on_collision ours/theirs, a holder that side gave it comes first."""
    prefer = 0
    if on_collision in ("ours", "theirs"):
        prefer = 0 if on_collision in claims else 1
    return (prefer, created, fold(key), key)


def _collision_conflict(
    loser: str,
    winner: str,
    tool: str,
    value: str,
    claims: dict[str, set[str]],
    om: dict[str, Any],
    o_fold: dict[str, str],
    tm: dict[str, Any],
    t_fold: dict[str, str],
    ctx: _Ctx,
) -> None:
    o_entry = om.get(o_fold.get(fold(loser), ""), MISSING)
    t_entry = tm.get(t_fold.get(fold(loser), ""), MISSING)
    ov = o_entry.get(tool, MISSING) if isinstance(o_entry, dict) else MISSING
    tv = t_entry.get(tool, MISSING) if isinstance(t_entry, dict) else MISSING
    if ov == tv:  # one side already held the collision: show the field against its absence
        ov, tv = value, MISSING
    where = {k: "/".join(sorted(c)) or "merge" for k, c in claims.items()}
    ctx.conflicts.append(
        Conflict(
            ("mappings", loser, tool),
            ov,
            tv,
            f"{tool} {value} is held by both {winner} ({where[winner]}) and "
            f"{loser} ({where[loser]}); keep one (`extid resolve --ours/--theirs/--renumber`)",
            collision=True,
        )
    )


def _renumber(
    merged: dict[str, Any],
    loser: str,
    winner: str,
    tool: str,
    value: str,
    floor: dict[CounterKey, int],
    ctx: _Ctx,
) -> None:
    key = None
    if tool in KEYED_TOOLS:
        m = KEYED_ID_RE.fullmatch(value)
        key = m.group(1) if m else None
    elif NUMERIC_ID_RE.fullmatch(value) is None:
        key = ""
    if key == "" or (tool in KEYED_TOOLS and key is None):
        ctx.conflicts.append(
            Conflict(
                ("mappings", loser, tool),
                value,
                MISSING,
                f"{tool} {value!r} is held by {winner} and {loser} and "
                "is not a number that can be renumbered",
            )
        )
        return
    number = max(floor.get((tool, key), 0), _highest(merged, tool, key) + 1, 1)
    new = f"{key}-{number}" if key is not None else str(number)
    merged[loser] = {**merged[loser], tool: new}
    floor[(tool, key)] = number + 1
    ctx.renumbered.append(Renumbered(loser, tool, value, new, winner))


def _highest(mappings: dict[str, Any], tool: str, key: str | None) -> int:
    """Highest number used for tool/key (a full scan: only renumbering, which is rare, needs it)."""
    values = [e.get(tool) for e in mappings.values() if isinstance(e, dict)]
    high = 0
    if key is None:
        for v in values:
            if isinstance(v, str) and NUMERIC_ID_RE.fullmatch(v):
                high = max(high, int(v))
        return high
    prefix = key + "-"
    for v in values:
        if (
            isinstance(v, str)
            and v.startswith(prefix)
            and NUMERIC_ID_RE.fullmatch(v[len(prefix) :])
        ):
            high = max(high, int(v[len(prefix) :]))
    return high


# --- counters ------------------------------------------------------------------------------


def _counter_items(counters: dict[str, Any], tool: str) -> list[tuple[str | None, int]]:
    value = counters.get(tool)
    if tool in KEYED_TOOLS:
        if not isinstance(value, dict):
            return []
        return [(k, v) for k, v in value.items() if _is_int(v)]
    return [(None, value)] if isinstance(value, int) and not isinstance(value, bool) else []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _merge_counters(
    bc: dict[str, Any],
    oc: dict[str, Any],
    tc: dict[str, Any],
    mappings: dict[str, Any] | None,
    ctx: _Ctx,
) -> dict[str, Any]:
    used: dict[CounterKey, int] = {}
    if mappings is not None:
        from .model import highest_used  # deferred: only resolve passes the merged mappings

        used = highest_used(mappings)
    out: dict[str, Any] = {}
    for tool in sorted(set(oc) | set(tc)):
        o, t = oc.get(tool, MISSING), tc.get(tool, MISSING)
        if tool in KEYED_TOOLS and all(isinstance(v, dict | _Missing) for v in (o, t)):
            out[tool] = _merge_keyed(tool, o, t, used)
        elif all(v is MISSING or _is_int(v) for v in (o, t)):
            out[tool] = max(v for v in (o, t, used.get((tool, None), -1) + 1) if v is not MISSING)
        else:
            ok, value = _three_way(bc.get(tool, MISSING), o, t)
            if not ok:
                value = ctx.decide(("counters", tool), o, t, f"counter {tool} changed differently")
            if value is not MISSING:
                out[tool] = value
    for (tool, key), high in used.items():  # a used key no side counts yet
        if key is None:
            out.setdefault(tool, high + 1)
        elif isinstance(out.setdefault(tool, {}), dict):
            out[tool].setdefault(key, high + 1)
    return out


def _merge_keyed(tool: str, o: Any, t: Any, used: dict[CounterKey, int]) -> dict[str, Any]:
    o = o if isinstance(o, dict) else {}
    t = t if isinstance(t, dict) else {}
    out: dict[str, Any] = {}
    for key in sorted(set(o) | set(t)):
        values = [v for v in (o.get(key, MISSING), t.get(key, MISSING)) if v is not MISSING]
        ints = [v for v in values if _is_int(v)]
        if ints:
            out[key] = max(*ints, used.get((tool, key), -1) + 1)
        else:  # not a number on either side: keep it for `extid check` to name
            out[key] = min(values, key=lambda v: json.dumps(v, sort_keys=True))
    return out


# --- rendering conflicts -------------------------------------------------------------------


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
                side.append(_member(c.path[-1], value, indent))
    rendered = [_join(side, trailing) for side in sides]
    pull = not trailing and any(not side for side in sides) and prev.endswith(",")
    if pull:
        rendered = [
            [prev if side else prev[:-1], *text] for side, text in zip(sides, rendered, strict=True)
        ]
    return [MARK_OURS, *rendered[0], MARK_SEP, *rendered[1], MARK_THEIRS], pull


def _member(key: str, value: Any, indent: int) -> str:
    """`"key": value` as canonical JSON at `indent`, without a trailing comma."""
    text = json.dumps({key: value}, indent=2, sort_keys=True, ensure_ascii=False)
    inner = text.split("\n")[1:-1]
    return "\n".join(" " * indent + line[2:] for line in inner)


def _join(members: list[str], trailing: bool) -> list[str]:
    out = []
    for n, member in enumerate(members):
        comma = "," if trailing or n < len(members) - 1 else ""
        out.extend((member + comma).split("\n"))
    return out


__all__ = [
    "COUNTERS",
    "MAPPING",
    "MISSING",
    "Conflict",
    "MergeResult",
    "Renumbered",
    "merge",
    "merge_counter_floor",
    "newer_version",
    "render",
    "time_key",
]


# --- the large-file fast path --------------------------------------------------------------

_HEAD = b'{\n  "mappings": {\n'
_TAIL_RE = re.compile(rb'\n  },\n  "updated": ("[^"\\\n]*"),\n  "version": "1\.0"\n}\n')
_ENTRY_SEP = b'\n    "'
_EMPTY_RE = re.compile(
    rb'\{\n  "mappings": \{\},\n  "updated": "[^"\\\n]*",\n  "version": "1\.0"\n\}\n'
)


@dataclass
class BytesMerge:
    """A merge done on bytes: the file's new contents and what is left between markers."""

    data: bytes
    conflicts: list[Conflict] = field(default_factory=list)
    renumbered: list[Renumbered] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.conflicts


def fast_merge_mapping(base: bytes, ours: bytes, theirs: bytes) -> BytesMerge | None:
    """The merge of three canonical 1.0 mapping files, worked on bytes, with collisions and
    field conflicts left as conflicts; None when it does not apply (not canonical-looking, or
    a conflict over a whole entry): then merge the documents.

    In canonical form every entry is one chunk of text starting at `\n    "`, so entries equal
    on both sides are equal chunks and are copied without being parsed; only the changed
    entries are parsed and merged. The result (with ours' side of any conflict) must be sorted
    without duplicates and parse with one entry per chunk, else None. (Inner formatting of
    copied entries is taken as the sides have it: `extid format --check` names it.)
    """
    sides = [_chunks(data) for data in (ours, theirs)]
    if sides[0] is None or sides[1] is None:
        return None
    (o_chunks, o_updated), (t_chunks, t_updated) = sides[0], sides[1]
    if not (_ascending(o_chunks) and _ascending(t_chunks)):
        return None  # not sorted, or one ID twice: the documents decide
    o_changed, t_changed = _differences(o_chunks, t_chunks)
    if not _valid_chunks(o_changed) or not _valid_chunks(t_changed):
        return None  # the document merge names the problem and falls back to markers
    merged = _merge_chunks(base, o_changed, t_changed)
    if merged is None:
        return None
    plain, marked, conflicts = merged
    chunks = _without(o_chunks, o_changed)
    for chunk in plain:
        bisect.insort(chunks, chunk)
    if not chunks or not _ascending(chunks):
        return None
    updated = _later(json.loads(o_updated), json.loads(t_updated))
    tail = b"".join(
        (
            b'\n  },\n  "updated": ',
            json.dumps(updated, ensure_ascii=False).encode("utf-8"),
            b',\n  "version": "1.0"\n}\n',
        )
    )
    out = b"".join((_HEAD, b'    "', _ENTRY_SEP.join(chunks)[:-1], tail))
    if not _verified(out, len(chunks)):
        return None
    if marked:  # the checked text holds ours' side of each conflict: swap in the marked form
        for resolved, shown in marked:
            chunks[bisect.bisect_left(chunks, resolved)] = shown
        out = b"".join((_HEAD, b'    "', _ENTRY_SEP.join(chunks)[:-1], tail))
    return BytesMerge(out, conflicts)


def _valid_chunks(chunks: list[bytes]) -> bool:
    """The entries a side changed are well-formed and follow the schema (the entries both
    sides share are the same bytes on both: the merge adds nothing there)."""
    from .validate import check_document

    entries = {}
    for chunk in chunks:
        key, entry = _chunk_key(chunk), _parse_chunk(chunk)
        if key is None or entry is None:
            return False
        entries[key] = entry
    doc = {"mappings": entries, "updated": UNKNOWN_TIME, "version": CURRENT}
    return not check_document(doc, MAPPING, "", semantics=False)


def _ascending(chunks: list[bytes]) -> bool:
    """Strictly sorted: canonical order, and no chunk twice."""
    return all(map(operator.lt, chunks, itertools.islice(chunks, 1, None)))


#: Entries compared at once while the two sides run equal (list equality runs in C).
_BLOCK = 128


def _differences(a: list[bytes], b: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Chunks only in `a` and only in `b`, for two strictly ascending lists: a merge walk that
    compares whole blocks while they are equal, so cost follows the differences, not the size."""
    only_a: list[bytes] = []
    only_b: list[bytes] = []
    i = j = 0
    n, m = len(a), len(b)
    while i < n and j < m:
        if a[i : i + _BLOCK] == b[j : j + _BLOCK]:
            i += _BLOCK
            j += _BLOCK
            continue
        x, y = a[i], b[j]
        if x == y:
            i += 1
            j += 1
        elif x < y:
            only_a.append(x)
            i += 1
        else:
            only_b.append(y)
            j += 1
    only_a += a[i:]
    only_b += b[j:]
    return only_a, only_b


def _without(chunks: list[bytes], remove: list[bytes]) -> list[bytes]:
    """Sorted `chunks` less the few in `remove`, found by binary search."""
    positions = sorted(bisect.bisect_left(chunks, chunk) for chunk in remove)
    out: list[bytes] = []
    start = 0
    for i in positions:
        out += chunks[start:i]
        start = i + 1
    out += chunks[start:]
    return out


def _chunks(data: bytes) -> tuple[list[bytes], bytes] | None:
    """Entry chunks `KEY": {...},` (each with a trailing comma) and the raw `updated` token."""
    if not data.startswith(_HEAD):
        return None
    at = data.rfind(b'\n  },\n  "updated": ')
    m = _TAIL_RE.fullmatch(data, at) if at > 0 else None
    if m is None:
        return None
    chunks = data.split(_ENTRY_SEP)  # the first separator ends _HEAD
    if len(chunks) < 2 or chunks[0] != _HEAD[:-1]:
        return None
    del chunks[0]
    chunks[-1] = chunks[-1][: len(chunks[-1]) - (len(data) - at)] + b","
    return chunks, m.group(1)


def _merge_chunks(
    base: bytes, o_changed: list[bytes], t_changed: list[bytes]
) -> tuple[list[bytes], list[tuple[bytes, bytes]], list[Conflict]] | None:
    """The merged chunks of the entries that differ between the sides (each conflicted entry
    with ours' side of its conflicts), (that chunk, its marked form) for each conflicted entry,
    and the conflicts; None where only the document merge can answer."""
    groups: dict[str, list[Any]] = {}
    for side, chunks in ((0, o_changed), (1, t_changed)):
        for chunk in chunks:
            key = _chunk_key(chunk)
            if key is None:
                return None
            group = groups.setdefault(fold(key), [None, None])
            if group[side] is not None:
                return None  # two spellings of one ID on one side: let the documents decide
            group[side] = (key, chunk)
    base_index = _ChunkIndex(base)
    ctx = _Ctx("conflict")
    entries: dict[str, Any] = {}
    merged: dict[str, bytes] = {}
    for folded, (o, t) in sorted(groups.items()):
        result = _merge_group(folded, o, t, base_index, ctx)
        if result is None or any(len(c.path) != 3 for c in ctx.conflicts):
            return None  # a conflict over a whole entry: the document merge renders it
        if result is not MISSING:
            key, entry, chunk = result
            entries[key], merged[key] = entry, chunk
    if _collides(entries):
        o_side, t_side = _side_entries(groups, 0), _side_entries(groups, 1)
        if o_side is None or t_side is None:
            return None
        _collisions(entries, list(entries), o_side, t_side, "conflict", {}, ctx)
    marked = []
    for key in sorted({c.path[1] for c in ctx.conflicts}):
        own = [c for c in ctx.conflicts if c.path[1] == key]
        shown = _marked_chunk(key, entries[key], own)
        if shown is None:
            return None
        marked.append((merged[key], shown))
    return list(merged.values()), marked, ctx.conflicts


def _side_entries(groups: dict[str, list[Any]], side: int) -> dict[str, Any] | None:
    """One side's entries of the changed IDs (for who-gave-what in a collision)."""
    out = {}
    for pair in groups.values():
        if pair[side] is not None:
            entry = _parse_chunk(pair[side][1])
            if entry is None:
                return None
            out[pair[side][0]] = entry
    return out


def _marked_chunk(key: str, entry: Any, conflicts: list[Conflict]) -> bytes | None:
    """The chunk of one entry with its conflicts between markers, rendered as the document
    merge renders it (an entry's regions never reach outside the entry)."""
    doc = {"mappings": {key: entry}, "updated": UNKNOWN_TIME, "version": CURRENT}
    text = render(MergeResult(MAPPING, doc, conflicts))
    start = len(_HEAD)
    end = text.rfind(b'\n  },\n  "updated": ')
    member = text[start:end]
    if not member.startswith(b'    "'):
        return None
    return member[5:] + b","


def _chunk_key(chunk: bytes) -> str | None:
    end = chunk.find(b'": ')
    if end <= 0:
        return None
    try:
        key = json.loads(b'"' + chunk[:end] + b'"')
    except ValueError:
        return None
    return key if isinstance(key, str) else None


def _parse_chunk(chunk: bytes) -> Any:
    """The entry of one chunk, parsed strictly; None if it is not one well-formed member."""
    try:
        obj = json.loads(b'{"' + chunk[:-1] + b"}", object_pairs_hook=_unique, parse_constant=_no)
    except ValueError:
        return None
    if not isinstance(obj, dict) or len(obj) != 1:
        return None
    return next(iter(obj.values()))


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


def _no(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


class _ChunkIndex:
    """Base's entries found by binary search over its bytes (never split: only the few
    changed IDs are looked up). Canonical files are sorted; an unsorted base only makes a
    lookup miss, and a missed entry counts as new, which never drops anything."""

    def __init__(self, base: bytes) -> None:
        self.data = base
        self.ok = True
        self.lo = self.hi = 0
        if base.strip() and _EMPTY_RE.fullmatch(base) is None:
            at = base.rfind(b'\n  },\n  "updated": ')
            self.ok = base.startswith(_HEAD) and at > 0 and _TAIL_RE.fullmatch(base, at) is not None
            self.lo, self.hi = len(_HEAD) - 1, at

    def _find(self, prefix: bytes) -> bytes | None:
        """The chunk that starts with `prefix` (`KEY": `), or None."""
        data, sep, width = self.data, _ENTRY_SEP, len(_ENTRY_SEP)
        lo, hi = self.lo, self.hi
        while lo < hi:
            mid = (lo + hi) // 2
            start = data.find(sep, mid, hi + width - 1)
            if start < 0:
                hi = mid
                continue
            head = data[start + width : start + width + len(prefix)]
            if head == prefix:
                end = data.find(sep, start + 1, self.hi + width - 1)
                return data[start + width : end if end >= 0 else self.hi] + (
                    b"" if end >= 0 else b","
                )
            if head < prefix:
                lo = start + 1
            else:
                hi = start
        return None

    def has(self, chunk: bytes) -> bool:
        return self._find(chunk[: chunk.find(b'": ') + 3]) == chunk

    def entry(self, spellings: Iterable[str]) -> Any:
        """(key, entry) of base's entry under one of `spellings`, MISSING if none.

        The spellings tried are the sides' and the upper- and lower-case forms; an ID that
        base spells in yet another mixed case is taken as new, which at worst keeps a field
        one side deleted (never drops one)."""
        for key in spellings:
            prefix = json.dumps(key, ensure_ascii=False)[1:-1].encode("utf-8") + b'": '
            chunk = self._find(prefix)
            if chunk is not None:
                entry = _parse_chunk(chunk)
                return MISSING if entry is None else (key, entry)
        return MISSING


def _spellings(folded: str, *keys: str | None) -> list[str]:
    """Likely spellings of one internal ID: as given, upper case, and with a lower-case hash."""
    head, _, tail = folded.rpartition("-")
    out = [k for k in keys if k is not None]
    for candidate in (folded, f"{head}-{tail.lower()}" if head else folded.lower()):
        if candidate not in out:
            out.append(candidate)
    return out


def _merge_group(
    folded: str, o: Any, t: Any, base: _ChunkIndex, ctx: _Ctx
) -> tuple[str, Any, bytes] | Any | None:
    """(key, entry, chunk) of one changed ID, MISSING if it is deleted, None if not clean."""
    if not base.ok:
        return None
    if t is not None and base.has(t[1]):  # theirs left it as base had it: ours decides
        return _taken(o)
    if o is not None and base.has(o[1]):
        return _taken(t)
    o_entry = _parse_chunk(o[1]) if o is not None else MISSING
    t_entry = _parse_chunk(t[1]) if t is not None else MISSING
    if o_entry is None or t_entry is None:
        return None
    found = base.entry(_spellings(folded, o[0] if o else None, t[0] if t else None))
    b_key, b_entry = found if found is not MISSING else (None, MISSING)
    key = _spelling(b_key, o[0] if o else None, t[0] if t else None)
    entry = _merge_entry(key, b_entry, o_entry, t_entry, ctx)
    if entry is MISSING:
        return MISSING
    return key, entry, _entry_chunk(key, entry)


def _entry_chunk(key: str, entry: Any) -> bytes:
    """The canonical chunk of one entry (flat entries formatted directly: the stdlib's
    indenting encoder costs ~0.3 ms a call)."""
    if isinstance(entry, dict) and all(isinstance(v, str) for v in entry.values()):
        dump = functools.partial(json.dumps, ensure_ascii=False)
        fields = ",\n".join(f"      {dump(k)}: {dump(entry[k])}" for k in sorted(entry))
        text = f"{dump(key)}: {{\n{fields}\n    }}," if entry else f"{dump(key)}: {{}},"
    else:
        text = _member(key, entry, 4)[4:] + ","
    return text[1:].encode("utf-8")


def _taken(side: Any) -> tuple[str, Any, bytes] | Any | None:
    if side is None:
        return MISSING
    entry = _parse_chunk(side[1])
    return None if entry is None else (side[0], entry, side[1])


def _collides(entries: dict[str, Any]) -> bool:
    seen: set[tuple[str, Any]] = set()
    for entry in entries.values():
        if not isinstance(entry, dict):
            return True
        for tool in TOOLS:
            if tool in entry:
                if (tool, entry[tool]) in seen:
                    return True
                seen.add((tool, entry[tool]))
    return False


def _verified(out: bytes, entries: int) -> bool:
    """Valid JSON with one entry per chunk (orjson keeps the last of duplicate keys)."""
    import orjson  # deferred: large files only

    try:
        doc = orjson.loads(out)
    except orjson.JSONDecodeError:
        return False
    return isinstance(doc.get("mappings"), dict) and len(doc["mappings"]) == entries
