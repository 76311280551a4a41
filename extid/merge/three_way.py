"""The per-entry, per-field three-way merge of two state documents -> merged document + conflicts.

No I/O, no git, no jsonschema. Inputs are current-version documents (an older side is upgraded
by the caller first); `base` may be None (both sides added the file).

Mapping documents merge per internal ID (folded case-insensitively), then per field:
adds on both sides are united, a change on one side is taken, the same change on both sides is
clean, different changes to one field (or a deletion against a modification) are conflicts.
`created` is the one field with a right answer when both sides set it: the earlier time.
Collisions after the merge are `collisions`' concern.

Counters merge to max(ours, theirs, highest used + 1) per tool/key; they never go backwards.
`updated` is the later of the two sides. The merged content does not depend on which side is
"ours" (git swaps them during a rebase), except where the caller asks to prefer a side.

Speed: on a 100k-entry file only the entries that differ between ours and theirs are looked at
(a C-level dict comparison skips the rest).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..document import ENVELOPE_KEY, MAPPING, Kind
from ..ids import KEYED_TOOLS, TOOLS, fold
from ..migrations import CURRENT, UNKNOWN_TIME, VERSIONS
from ..model import highest_used
from .collisions import settle_collisions
from .decide import (
    MISSING,
    ON_COLLISION_CHOICES,
    Conflict,
    CounterKey,
    Ctx,
    Missing,
    OnCollision,
    OnConflict,
    Renumbered,
    Reserve,
    earlier,
    inner_of,
    later,
    spelling,
    three_way,
)
from .render import render


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

    def render(self, version: str = CURRENT, labels: tuple[str, str] = ("ours", "theirs")) -> bytes:
        """Canonical bytes at `version`; each conflict as the smallest marked region (a
        collision: both tasks whole), the markers labelled with `labels`."""
        return render(self, version, labels)

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
    published: frozenset[tuple[str, str, str]] = frozenset(),
    reserve: Reserve | None = None,
) -> MergeResult:
    """Three-way merge of two current-version documents of `kind`.

    counter_floor: numbers a renumbering must stay at or above (the sides' counters), for the
    mapping; mappings: the merged mappings, for the counters (their used numbers + 1 bound it);
    published: (folded internal ID, tool, external ID) already pushed, kept by a renumbering;
    reserve: asked once for a renumbering's fresh numbers (the clone's ledgers), see `Reserve`.
    """
    if on_collision not in ON_COLLISION_CHOICES:
        raise ValueError(f"on_collision must be one of {ON_COLLISION_CHOICES}")
    base = base if isinstance(base, dict) else {}
    ctx = Ctx(on_conflict)
    doc = _merge_envelope(base, ours, theirs, kind, ctx)
    inner = ENVELOPE_KEY[kind]
    b_in, o_in, t_in = (inner_of(d, inner) for d in (base, ours, theirs))
    if kind == MAPPING:
        merged, touched = _merge_mappings(b_in, o_in, t_in, ctx)
        doc[inner] = merged
        settle_collisions(
            merged,
            touched,
            o_in,
            t_in,
            on_collision,
            dict(counter_floor or {}),
            ctx,
            published,
            reserve,
        )
    else:
        doc[inner] = _merge_counters(b_in, o_in, t_in, mappings, ctx)
    return MergeResult(kind, doc, ctx.conflicts, ctx.renumbered)


def merge_counter_floor(*counter_docs: dict[str, Any] | None) -> dict[CounterKey, int]:
    """The highest counter per tool/key over several counters documents (for counter_floor)."""
    floor: dict[CounterKey, int] = {}
    for doc in counter_docs:
        counters = inner_of(doc or {}, "counters")
        for tool in TOOLS:
            for key, value in _counter_items(counters, tool):
                if value > floor.get((tool, key), 0):
                    floor[(tool, key)] = value
    return floor


def newer_version(a: str, b: str) -> str:
    """The newer of two known format versions (the merged file is written at it)."""
    return a if VERSIONS.index(a) >= VERSIONS.index(b) else b


def _merge_envelope(
    base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any], kind: Kind, ctx: Ctx
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
            doc[key] = later(o, t) if (o, t) != (MISSING, MISSING) else UNKNOWN_TIME
            continue
        ok, value = three_way(base.get(key, MISSING), o, t)
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
    bm: dict[str, Any], om: dict[str, Any], tm: dict[str, Any], ctx: Ctx
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
        key = spelling(bk, ok, tk)
        value = merge_entry(
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


def merge_entry(key: str, b: Any, o: Any, t: Any, ctx: Ctx) -> Any:
    ok, value = three_way(b, o, t)
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
        ok, value = three_way(bv, ov, tv)
        if not ok:
            if name == "created" and MISSING not in (ov, tv):
                value = earlier(ov, tv)  # the task existed from the earlier time on
            else:
                value = ctx.decide((*path, name), ov, tv, _field_message(key, name, ov, tv))
        if value is not MISSING:
            entry[name] = value
    return entry


def _field_message(key: str, name: str, o: Any, t: Any) -> str:
    def show(v: Any) -> str:
        return "removed" if v is MISSING else json.dumps(v, ensure_ascii=False)

    return f"{key}: {name} is {show(o)} on ours but {show(t)} on theirs"


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
    ctx: Ctx,
) -> dict[str, Any]:
    used: dict[CounterKey, int] = {}
    if mappings is not None:
        used = highest_used(mappings)
    out: dict[str, Any] = {}
    for tool in sorted(set(oc) | set(tc)):
        o, t = oc.get(tool, MISSING), tc.get(tool, MISSING)
        if tool in KEYED_TOOLS and all(isinstance(v, dict | Missing) for v in (o, t)):
            out[tool] = _merge_keyed(tool, o, t, used)
        elif all(v is MISSING or _is_int(v) for v in (o, t)):
            out[tool] = max(v for v in (o, t, used.get((tool, None), -1) + 1) if v is not MISSING)
        else:
            ok, value = three_way(bc.get(tool, MISSING), o, t)
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
