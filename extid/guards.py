"""History guards: what a new version of the state files must keep of versions already committed
(HEAD, both parents of a merge), as `Problem` values; no I/O.

A number, once issued, is never issued again: so counters never go below a version history has
seen. No mapping is ever lost: so a merge result holds every mapping of both parents except
those one side deleted against the merge base. A mapping renumbered by a merge still counts as
kept: its task keeps an ID for the tool, and the old ID is still held (by the task that won it);
so does a field both sides changed, decided for one of them.
"""

from __future__ import annotations

from .errors import Problem, jpath
from .ids import TOOLS, fold
from .model import iter_counters

TYPE_CHECKING = False  # not typing's: see errors.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .model import CounterKey

#: A mapping as the guards compare it: (folded internal ID, tool) -> (external ID, internal ID).
Held = dict[tuple[str, str], tuple[str, str]]


def counter_floor(counters: Any) -> dict[CounterKey, int]:
    """Each counter of a counters document's inner `counters` object (nothing if malformed)."""
    return dict(iter_counters(counters)) if isinstance(counters, dict) else {}


def lowered_counters(
    counters: Any, floor: dict[CounterKey, int], name: str, source: str, fix: str
) -> list[Problem]:
    """Counters of `counters` (the inner object) below `floor` (what `source` already reached):
    each lowered number could be issued a second time."""
    have = counter_floor(counters)
    problems = []
    for (tool, key), low in sorted(floor.items(), key=str):
        now = have.get((tool, key), 0)
        if now < low:
            where = f"$.counters.{tool}" + (f".{key}" if key else "")
            problems.append(
                Problem(
                    name,
                    where,
                    f"counter {now} is lower than {source}'s {low}: numbers it issued could be "
                    f"issued again ({fix})",
                )
            )
    return problems


def held(mappings: Any) -> Held:
    """(folded internal ID, tool) -> (external ID, internal ID as spelled) of a mapping
    document's inner object."""
    out: Held = {}
    if isinstance(mappings, dict):
        for internal, entry in mappings.items():
            if isinstance(entry, dict):
                for tool in TOOLS:
                    value = entry.get(tool)
                    if isinstance(value, str):
                        out[(fold(internal), tool)] = (value, internal)
    return out


def lost_mappings(
    result: Any,
    sides: list[tuple[str, Any]],
    base: Any,
    name: str,
    fix: str | Callable[[str, str, str], str],
) -> list[Problem]:
    """Mappings of the two `sides` ((label, inner mappings)) that `result` lost, other than those
    the other side deleted or changed against `base` (None: no common ancestor). `fix`: the way
    back, or a function of (task, tool, external ID) giving each mapping's."""
    got = held(result)
    values = {value for value, _ in got.values()}
    was = {k: value for k, (value, _) in held(base).items()}
    (a_label, a), (b_label, b) = sides
    a_held, b_held = held(a), held(b)
    problems = []
    for label, mine, other in ((a_label, a_held, b_held), (b_label, b_held, a_held)):
        for (task, tool), (value, spelled) in sorted(mine.items()):
            if was.get((task, tool)) == value and other.get((task, tool), ("",))[0] != value:
                continue  # the other side removed or changed it: its decision stands
            now = got.get((task, tool), ("",))[0]
            if now and (value in values or now == other.get((task, tool), ("",))[0]):
                continue  # kept, renumbered (the old ID held by the task that won it), or a
                # field both sides changed, decided for the other side
            problems.append(
                Problem(
                    name,
                    jpath(jpath("$.mappings", spelled), tool),
                    f"{tool} {value} of {spelled} on {label} is missing from the result "
                    f"({fix(spelled, tool, value) if callable(fix) else fix})",
                )
            )
    return problems


def kept(
    result: tuple[Any, Any],
    sides: list[tuple[str, tuple[Any, Any]]],
    base: Any,
    names: tuple[str, str],
    fixes: tuple[str, str],
) -> list[Problem]:
    """A merge result ((inner mappings, inner counters)) against both parents: every mapping
    kept (see `lost_mappings`), every counter at least both parents'. `names` and `fixes`: of
    the mapping file, then the counters file."""
    problems = lost_mappings(
        result[0], [(label, docs[0]) for label, docs in sides], base, names[0], fixes[0]
    )
    for label, (_, counters) in sides:
        problems.extend(
            lowered_counters(result[1], counter_floor(counters), names[1], label, fixes[1])
        )
    return problems
