"""Two internal IDs holding one external ID after a merge: found, then a conflict or renumbered.

Collisions are searched among the entries the merge touched only: an entry equal on both sides
cannot collide with a merged entry unless one side already held the collision itself, which
`extid check` reports on that side's own commit. A holder whose ID is already published (on a
remote-tracking branch, which `git pull` updates before it merges: that number may be in the
tracker) keeps it; among the rest the task created later (tie-break: folded internal ID) loses.
By default the collision is a conflict, or the loser is renumbered deterministically to a fresh
number above every counter and every used number.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import ids, model
from ..ids import KEYED_ID_RE, KEYED_TOOLS, NUMERIC_ID_RE, TOOLS, fold
from .decide import (
    MISSING,
    Conflict,
    CounterKey,
    Ctx,
    OnCollision,
    Renumbered,
    Reserve,
    spellings,
    time_key,
)


def settle_collisions(
    merged: dict[str, Any],
    touched: list[str],
    om: dict[str, Any],
    tm: dict[str, Any],
    on_collision: OnCollision,
    floor: dict[CounterKey, int],
    ctx: Ctx,
    published: frozenset[tuple[str, str, str]] = frozenset(),
    reserve: Reserve | None = None,
) -> None:
    """Find the external IDs two of `touched` hold in `merged`; record each collision in `ctx`
    as a conflict, or renumber the loser in `merged` (`floor`: numbers it must stay above;
    `published`: (folded internal ID, tool, external ID) already pushed, which keep theirs;
    `reserve`: asked once for all the fresh numbers, see `Reserve`)."""
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
    renumbering = _Renumbering(merged, floor, ctx)
    for (tool, value), keys in sorted(holders.items()):
        if len(keys) < 2:
            continue
        if o_fold is None or t_fold is None:
            o_fold, t_fold = _fold_index(om, touched), _fold_index(tm, touched)
        claims = {k: _claims(k, tool, value, om, o_fold, tm, t_fold) for k in keys}
        order = sorted(
            keys,
            key=lambda k: (
                (fold(k), tool, value) not in published,
                _keeper_key(_created(merged[k], k, undecided), k, claims[k], on_collision),
            ),
        )
        winner, losers = order[0], order[1:]
        for loser in losers:
            if on_collision == "conflict":
                _collision_conflict(loser, winner, tool, value, claims, om, o_fold, tm, t_fold, ctx)
            else:
                renumbering.renumber(loser, winner, tool, value)
    renumbering.finish(reserve)


def _fold_index(side: dict[str, Any], keys: Iterable[str]) -> dict[str, str]:
    """Spelling on `side` of each of `keys` (few), trying the likely spellings rather than
    folding a 100k-entry side: this only decides which side a collision is shown or kept on."""
    out: dict[str, str] = {}
    for k in keys:
        for candidate in spellings(fold(k), k):
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


def keeper_order(entry: Any, key: str) -> tuple[Any, ...]:
    """Which of the tasks holding one external ID keeps it (the smallest key): the one created
    earlier (a missing `created` counts as oldest), ties by folded internal ID. The one rule for
    the merge driver, `resolve` and the post-merge hook's renumbering."""
    created = entry.get("created", MISSING) if isinstance(entry, dict) else MISSING
    return (("", "") if created is MISSING else time_key(created), fold(key), key)


def _keeper_key(
    created: tuple[str, str], key: str, claims: set[str], on_collision: OnCollision
) -> tuple[Any, ...]:
    """Sort key: the first keeps the external ID, as `keeper_order` says (`created` undecided
    between the sides counts as the earlier); with on_collision ours/theirs, a holder that side
    gave it comes first."""
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
    ctx: Ctx,
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
            f"{loser} ({where[loser]}); `extid resolve --ours/--theirs` gives it to that side's "
            "task and the other a fresh number, `--renumber` decides which",
            collision=True,
            other=winner,
        )
    )


class _Renumbering:
    """Fresh numbers for the losers of collisions: above every counter (`floor`) and every
    number used in `merged`. The losers are collected first and numbered in `finish`, so that
    the numbers of one merge are reserved together (one round trip to a remote ledger)."""

    def __init__(self, merged: dict[str, Any], floor: dict[CounterKey, int], ctx: Ctx) -> None:
        self.merged, self.floor, self.ctx = merged, floor, ctx
        self.todo: list[tuple[str, str, str, str, str | None]] = []

    def renumber(self, loser: str, winner: str, tool: str, value: str) -> None:
        key = None
        if tool in KEYED_TOOLS:
            m = KEYED_ID_RE.fullmatch(value)
            key = m.group(1) if m else None
        elif NUMERIC_ID_RE.fullmatch(value) is None:
            key = ""
        if key == "" or (tool in KEYED_TOOLS and key is None):
            self.ctx.conflicts.append(
                Conflict(
                    ("mappings", loser, tool),
                    value,
                    MISSING,
                    f"{tool} {value!r} is held by {winner} and {loser} and "
                    "is not a number that can be renumbered",
                )
            )
            return
        self.todo.append((loser, winner, tool, value, key))

    def finish(self, reserve: Reserve | None) -> None:
        """Number the collected losers: per tool/key a block of consecutive numbers from above
        the floor and the used numbers (one scan per tool/key), reserved through `reserve`."""
        wants: dict[CounterKey, tuple[int, int]] = {}
        for _, _, tool, _, key in self.todo:
            floor, count = wants.get((tool, key), (0, 0))
            if not count:
                high = _highest(self.merged, tool, key)
                floor = max(self.floor.get((tool, key), 0), high + 1, 1)
            wants[(tool, key)] = (floor, count + 1)
        if not wants:
            return
        firsts = reserve(wants) if reserve is not None else {k: w[0] for k, w in wants.items()}
        for loser, winner, tool, value, key in self.todo:
            number = firsts[(tool, key)]
            firsts[(tool, key)] = number + 1
            new = f"{key}-{number}" if key is not None else str(number)
            self.merged[loser] = {**self.merged[loser], tool: new}
            self.ctx.renumbered.append(Renumbered(loser, tool, value, new, winner))


def _highest(mappings: dict[str, Any], tool: str, key: str | None) -> int:
    """Highest number used for tool/key (a full scan, once per tool/key a merge renumbers)."""
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


def renumber_committed(
    mappings: dict[str, Any],
    counters: dict[str, Any],
    keep: Iterable[str] = (),
    reserve: Reserve | None = None,
) -> list[str]:
    """`settle_committed`, one line per renumbering (what `repair` prints)."""
    return [committed_line(r) for r in settle_committed(mappings, counters, keep, reserve)]


def committed_line(r: Renumbered) -> str:
    """A renumbering of a collision already committed, as `repair` and the hook print it."""
    return f"renumbered {r.internal_id} {r.tool} {r.old} -> {r.new} ({r.kept_by} keeps it)"


def settle_committed(
    mappings: dict[str, Any],
    counters: dict[str, Any],
    keep: Iterable[str] = (),
    reserve: Reserve | None = None,
) -> list[Renumbered]:
    """Settle collisions already in a document (a merge that planted them: the post-merge
    hook, `extid repair`): for each external ID held by several tasks, a task of `keep`
    (folded IDs), else the first by `keeper_order`, keeps it and the others get fresh numbers
    from the effective next number up (`reserve`: asked once for all of them, see `Reserve`).
    Changes `mappings` and `counters` in place; each renumbering, in order."""
    kept = set(keep)
    groups: dict[tuple[str, str], list[str]] = {}
    for internal, entry in mappings.items():
        for tool in TOOLS:
            if isinstance(entry.get(tool), str):
                groups.setdefault((tool, entry[tool]), []).append(internal)
    todo = []
    for (tool, external), holders in sorted(groups.items()):
        if len(holders) < 2:
            continue
        keeper, *others = sorted(
            holders, key=lambda k: (fold(k) not in kept, keeper_order(mappings[k], k))
        )
        key = ids.parse_external(tool, external).key
        todo += [(other, keeper, tool, key, external) for other in others]
    if not todo:
        return []
    high = model.highest_used(mappings)
    wants: dict[CounterKey, tuple[int, int]] = {}
    for _, _, tool, key, _ in todo:
        floor = model.effective_next(counters, high, tool, key)
        wants[(tool, key)] = (floor, wants.get((tool, key), (0, 0))[1] + 1)
    firsts = reserve(wants) if reserve is not None else {k: w[0] for k, w in wants.items()}
    done = []
    for other, keeper, tool, key, external in todo:
        number = firsts[(tool, key)]
        firsts[(tool, key)] = number + 1
        fresh = ids.format_external(tool, key, number)
        mappings[other][tool] = fresh
        if model.get_counter(counters, tool, key) <= number:
            model.set_counter(counters, tool, key, number + 1)
        done.append(Renumbered(other, tool, external, fresh, keeper))
    return done
