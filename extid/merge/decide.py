"""How one place is decided three ways, and what a merge records where it cannot decide.

The vocabulary every merge module shares: the MISSING marker, the three-way rule, time order
(`updated` takes the later, `created` the earlier), which spelling of an internal ID is kept,
and the context that collects conflicts and renumberings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

OnCollision = Literal["conflict", "renumber", "ours", "theirs"]
OnConflict = Literal["conflict", "ours", "theirs"]
ON_COLLISION_CHOICES: tuple[str, ...] = ("conflict", "renumber", "ours", "theirs")
CounterKey = tuple[str, "str | None"]
#: What a renumbering asks for once, for all its numbers: {(tool, key): (floor, count)} -> the
#: first of `count` consecutive numbers at or above `floor` that are its to use. Injected by the
#: caller (the clone's ledgers, `extid.ledger.issue`), so the merge itself stays free of I/O.
Reserve = Callable[[dict[CounterKey, tuple[int, int]]], dict[CounterKey, int]]

_TIME_RE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


class Missing:
    """Absent on one side (distinct from JSON null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = Missing()


@dataclass(frozen=True)
class Conflict:
    """One place the merge could not decide; `path` leads from the document root to it."""

    path: tuple[str, ...]
    ours: Any  # MISSING when absent on that side
    theirs: Any
    message: str
    collision: bool = False  # two tasks hold one external ID (vs. one place changed twice)
    other: str = ""  # a collision's other task, which keeps the ID where this one does not


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


class Ctx:
    """What one merge has recorded so far, and how it settles a place changed twice."""

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


def inner_of(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """The object under `key` of a document, or {} when it has none."""
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, dict) else {}


def three_way(b: Any, o: Any, t: Any) -> tuple[bool, Any]:
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


def later(a: Any, b: Any) -> Any:
    if a is MISSING:
        return b
    if b is MISSING:
        return a
    return max((a, b), key=lambda v: (time_key(v), str(v)))


def earlier(a: Any, b: Any) -> Any:
    return min((a, b), key=lambda v: (time_key(v), str(v)))


def spelling(b: str | None, o: str | None, t: str | None) -> str:
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


def spellings(folded: str, *keys: str | None) -> list[str]:
    """Likely spellings of one internal ID: as given, upper case, and with a lower-case hash."""
    head, _, tail = folded.rpartition("-")
    out = [k for k in keys if k is not None]
    for candidate in (folded, f"{head}-{tail.lower()}" if head else folded.lower()):
        if candidate not in out:
            out.append(candidate)
    return out
