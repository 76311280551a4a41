"""Pure rules over the two current-version documents, shared by the store, mapper and merge.

A counter is the *next available* number of a tool (or of a tool's project key). The number a
tool will really hand out next is max(stored counter, highest number used in the mappings + 1,
1): a crash between the two files, a restored backup or a file written by a tool that stored the
last *used* number can then never make an ID come round twice.
"""

from __future__ import annotations

from collections import namedtuple

from .ids import (
    EXTID_STAMP_RE,
    KEYED_ID_RE,
    KEYED_TOOLS,
    NUMERIC_ID_RE,
    TOOLS,
    fold,
)

TYPE_CHECKING = False  # not typing's: see errors.py (check_pair imports this module)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

CounterKey = tuple[str, "str | None"]  # (tool, project key or None)


def highest_used(mappings: dict[str, Any]) -> dict[CounterKey, int]:
    """The highest number used per (tool, key): on every load and write, so the ID patterns
    are matched directly, no ExternalID built per value."""
    high: dict[CounterKey, int] = {}
    keyed, numeric = KEYED_ID_RE.fullmatch, NUMERIC_ID_RE.fullmatch
    for entry in mappings.values():
        if type(entry) is not dict:
            continue
        for tool in TOOLS:
            value = entry.get(tool)
            if type(value) is not str:
                continue
            if tool in KEYED_TOOLS:
                m = keyed(value)
                if m is None:
                    continue
                k: CounterKey = (tool, m.group(1))
                number = int(m.group(2))
            elif numeric(value) is not None:
                k, number = (tool, None), int(value)
            else:
                continue
            if number > high.get(k, 0):
                high[k] = number
    return high


def _number(tool: str, value: Any) -> tuple[CounterKey, int] | None:
    """(counter key, number) of a well-formed external ID, else None."""
    if type(value) is not str:
        return None
    if tool in KEYED_TOOLS:
        m = KEYED_ID_RE.fullmatch(value)
        return None if m is None else ((tool, m.group(1)), int(m.group(2)))
    return None if NUMERIC_ID_RE.fullmatch(value) is None else ((tool, None), int(value))


class Clash(namedtuple("Clash", ["internal", "tool", "value", "other"])):
    """An entry that would share an identity with another one: the same internal ID up to
    case (`tool` None) or the same external ID in `tool`."""

    __slots__ = ()
    internal: str
    tool: str | None
    value: str
    other: str


class Index:
    """The lookups over the mappings that every change needs, kept in step with each change
    instead of rebuilt: the stored spelling of a task by its folded ID, the holder of every
    external ID, and the highest number used per counter key.

    `high` never goes down when an entry goes: it is the floor of the counters, and counters
    never go back either. A whole registry is indexed by the pass that validates it
    (`validate.check_document(..., index=...)`), one entry at a time by `add`.
    """

    def __init__(self) -> None:
        self.folded: dict[str, str] = {}
        self.holders: dict[tuple[str, str], str] = {}
        self.high: dict[CounterKey, int] = {}

    def add(self, internal: str, entry: Any) -> list[Clash]:
        """Index one entry; a clash leaves the earlier holder in place."""
        clashes = []
        first = self.folded.setdefault(fold(internal), internal)
        if first != internal:
            clashes.append(Clash(internal, None, internal, first))
        if type(entry) is not dict:
            return clashes
        for tool in TOOLS:
            value = entry.get(tool)
            marked = _number(tool, value)
            if marked is None or not isinstance(value, str):
                continue
            holder = self.holders.setdefault((tool, value), internal)
            if holder != internal:
                clashes.append(Clash(internal, tool, value, holder))
            if marked[1] > self.high.get(marked[0], 0):
                self.high[marked[0]] = marked[1]
        return clashes

    def discard(self, internal: str, entry: Any) -> None:
        """Forget what `entry`, stored under `internal`, put into the index."""
        if self.folded.get(fold(internal)) == internal:
            del self.folded[fold(internal)]
        if type(entry) is not dict:
            return
        for tool in TOOLS:
            value = entry.get(tool)
            if type(value) is str and self.holders.get((tool, value)) == internal:
                del self.holders[(tool, value)]


def get_counter(counters: dict[str, Any], tool: str, key: str | None) -> int:
    value = counters.get(tool)
    if tool in KEYED_TOOLS:
        value = value.get(key, 0) if isinstance(value, dict) else 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def set_counter(counters: dict[str, Any], tool: str, key: str | None, value: int) -> None:
    if tool in KEYED_TOOLS:
        counters.setdefault(tool, {})[key] = value
    else:
        counters[tool] = value


def iter_counters(counters: dict[str, Any]) -> Iterator[tuple[CounterKey, int]]:
    for tool in TOOLS:
        if tool in KEYED_TOOLS:
            for key in sorted(counters.get(tool) or {}):
                yield (tool, key), get_counter(counters, tool, key)
        elif tool in counters:
            yield (tool, None), get_counter(counters, tool, None)


def effective_next(
    counters: dict[str, Any], high: dict[CounterKey, int], tool: str, key: str | None
) -> int:
    return max(get_counter(counters, tool, key), high.get((tool, key), 0) + 1, 1)


def reconcile(
    counters: dict[str, Any],
    mappings: dict[str, Any],
    high: dict[CounterKey, int] | None = None,
) -> list[CounterKey]:
    """Raise every counter above the numbers used in `mappings` (`high`: their
    `highest_used`, when the caller has it already); returns what changed."""
    if high is None:
        high = highest_used(mappings)
    changed: list[CounterKey] = []
    for (tool, key), used in sorted(high.items(), key=str):
        if get_counter(counters, tool, key) <= used:
            set_counter(counters, tool, key, used + 1)
            changed.append((tool, key))
    return changed


def holds_last_used(doc: Any) -> bool:
    """Whether a counters document was written by another tool, whose counters hold the last
    number used instead of the next one (the original tool's; both label their files "1.0").

    Every extid write stamps `updated` in one form (`ids.EXTID_STAMP_RE`: UTC, whole seconds,
    `Z`), and so do the migration of an unversioned file and a merge of two extid files; any
    other form (the original tool writes `2025-12-05T12:35:07.157941+00:00`) means extid did
    not write the file. Not the version (both say "1.0"), not the missing final newline (the
    pre-commit hook `extid format` adds it without adopting anything), and no marker field (an
    older extid would refuse the unknown field).
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("counters"), dict):
        return False
    updated = doc.get("updated")
    return isinstance(updated, str) and EXTID_STAMP_RE.fullmatch(updated) is None


def adopt_counters(doc: dict[str, Any]) -> list[tuple[CounterKey, int, int]]:
    """Read another tool's counters document (`holds_last_used`) as extid's, in place.

    Each stored counter counts as used: next = stored + 1 (that tool could hand out a number
    without mapping it; a gap costs nothing, a number issued twice does). `updated` becomes the
    same instant in extid's form, so the document is extid's from then on and is never raised
    a second time. Returns (key, stored, next) for each counter raised.
    """
    from .merge.decide import time_key  # only for a foreign file: the hooks never import it

    raised = []
    for (tool, key), value in list(iter_counters(doc["counters"])):
        if value > 0:
            set_counter(doc["counters"], tool, key, value + 1)
            raised.append(((tool, key), value, value + 1))
    moment = time_key(doc["updated"])[0]
    doc["updated"] = f"{moment}Z" if moment else "1970-01-01T00:00:00Z"
    return raised


def empty_counters() -> dict[str, Any]:
    """The counters a fresh registry starts with (the shape users already have)."""
    return {"azure_devops": 0, "github": 0, "jira": {}, "linear": {}}
