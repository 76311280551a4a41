"""Schema and semantic checks of the two documents; every finding is a `Problem` value.

Parsing (document.py), checking (here) and reporting (the commands) are kept apart, so every
problem of every file is reported, not just the first.

Speed: a hand-written pass with precompiled patterns decides whether a document is valid; it
mirrors the shipped JSON Schemas (extid/schemas/) and adds the semantic rules a schema cannot
express. jsonschema runs only when that pass finds something, and only over the offending
entries, as a second opinion: a schema error at a place the fast pass did not flag is reported
too, so the schemas stay the reference. `tests/test_validate.py` checks the two agree.
"""

from __future__ import annotations

import json

from .document import COUNTERS, ENVELOPE_KEY, MAPPING
from .errors import Problem, jpath
from .ids import (
    EPIC_REF_RE,
    INTERNAL_ID_RE,
    KEYED_ID_RE,
    KEYED_TOOLS,
    MAX_COUNTER,
    NUMERIC_ID_RE,
    PROJECT_KEY_RE,
    RFC3339_RE,
    RFC3339_UTC_RE,
    TOOLS,
)
from .migrations import CURRENT
from .model import get_counter, highest_used

TYPE_CHECKING = False  # not typing's: see errors.py
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from .document import Kind
    from .model import CounterKey, Index

_FIELD_RULES: dict[str, tuple[Callable[[str], Any], str]] = {
    "jira": (KEYED_ID_RE.fullmatch, "is not a jira ID KEY-n (e.g. PROJ-456)"),
    "linear": (KEYED_ID_RE.fullmatch, "is not a linear ID KEY-n (e.g. TEAM-789)"),
    "azure_devops": (NUMERIC_ID_RE.fullmatch, "is not a positive integer without leading zeros"),
    "github": (NUMERIC_ID_RE.fullmatch, "is not a positive integer without leading zeros"),
    "created": (RFC3339_UTC_RE.fullmatch, "is not an RFC 3339 UTC time (…Z)"),
    "epic": (EPIC_REF_RE.fullmatch, "is not an epic reference EPIC-nnn"),
}


def show(value: Any) -> str:
    """A value as it may safely appear in a one-line message (control chars escaped, cut)."""
    text = json.dumps(value, ensure_ascii=True) if isinstance(value, str) else _short(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return json.dumps(value) if value is None or isinstance(value, bool) else repr(value)


# --- one document -------------------------------------------------------------------------


def check_document(
    obj: Any,
    kind: Kind,
    name: str,
    *,
    semantics: bool = True,
    high: dict[CounterKey, int] | None = None,
    index: Index | None = None,
) -> list[Problem]:
    """All problems of one current-version document (schema, then semantics).

    `semantics=False` leaves out what is wrong *between* entries (an external ID held twice,
    IDs equal up to case): such a file is readable, not corrupt, and must not be "recovered"
    from an older backup; it needs `extid resolve` or a hand edit.
    `high`, for a mapping document whose envelope holds a "mappings" object: filled with
    `model.highest_used` of it, found in the same pass (for `check_pair`).
    `index`, likewise: an empty `model.Index` filled with the document's folded IDs, holders
    and highest numbers, which the pass finds anyway (the store's first load needs them, and
    a second walk of 10k entries costs ~20 ms). It is that of the document only when no
    problem was found.
    """
    structural: list[Problem] = []
    semantic: list[Problem] = []
    if kind == MAPPING:
        _check_mapping(obj, name, structural, semantic, high, index)
    else:
        _check_counters(obj, name, structural)
    if structural:
        structural = _second_opinion(obj, kind, name, structural)
    return structural + semantic if semantics else structural


def check_entries(doc: Any, keys: Iterable[str], name: str) -> list[Problem]:
    """The schema problems of a mapping document's envelope and of the entries under `keys`
    (those absent are skipped): what a write that changed only those entries must check.
    Rules between entries are the caller's (`model.Index` knows them incrementally)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("mappings"), dict):
        return check_document(doc, MAPPING, name, semantics=False)
    mappings = doc["mappings"]
    part = {k: mappings[k] for k in keys if k in mappings}
    return check_document({**doc, "mappings": part}, MAPPING, name, semantics=False)


def _check_envelope(doc: Any, kind: Kind, name: str, out: list[Problem]) -> bool:
    """The top level; returns whether the inner object can be walked."""
    if not isinstance(doc, dict):
        out.append(Problem(name, "$", f"must be an object, not {_short(doc)}"))
        return False
    inner = ENVELOPE_KEY[kind]
    for key in doc:
        if key not in (inner, "updated", "version"):
            out.append(Problem(name, jpath("$", key), "unknown top-level field"))
    if doc.get("version") != CURRENT:
        out.append(
            Problem(name, "$.version", f"must be {CURRENT!r}, got {show(doc.get('version'))}")
        )
    updated = doc.get("updated")
    if not isinstance(updated, str) or RFC3339_RE.fullmatch(updated) is None:
        out.append(Problem(name, "$.updated", f"must be an RFC 3339 time, got {show(updated)}"))
    if not isinstance(doc.get(inner), dict):
        out.append(Problem(name, f"$.{inner}", f"must be an object, got {show(doc.get(inner))}"))
        return False
    return True


def _check_mapping(
    doc: Any,
    name: str,
    out: list[Problem],
    semantic: list[Problem],
    high: dict[CounterKey, int] | None,
    index: Index | None = None,
) -> None:
    if not _check_envelope(doc, MAPPING, name, out):
        return
    folded: dict[str, str] = {} if index is None else index.folded
    holders: dict[tuple[str, str], str] = {} if index is None else index.holders
    if index is not None:
        high = index.high
    internal_ok = INTERNAL_ID_RE.fullmatch
    # The hot loop of every load and write: a path is only spelled out for a problem.
    rule_of = _FIELD_RULES.get
    for internal, entry in doc["mappings"].items():
        if internal_ok(internal) is None:
            out.append(
                Problem(
                    name,
                    _entry_path(internal),
                    f"{show(internal)} is not an internal ID PREFIX-[SUB-]HASH[.N]",
                )
            )
        first = folded.setdefault(internal.upper(), internal)
        if first is not internal:
            semantic.append(clash_problem(name, internal, None, internal, first))
        if type(entry) is not dict:
            out.append(
                Problem(name, _entry_path(internal), f"must be an object, got {show(entry)}")
            )
            continue
        for field, value in entry.items():
            rule = rule_of(field)
            if rule is None:
                out.append(Problem(name, _entry_path(internal, field), "unknown field (typo?)"))
            elif type(value) is not str or (m := rule[0](value)) is None:
                out.append(Problem(name, _entry_path(internal, field), f"{show(value)} {rule[1]}"))
            elif field in TOOLS:
                other = holders.setdefault((field, value), internal)
                if other is not internal:
                    semantic.append(clash_problem(name, internal, field, value, other))
                if high is not None:  # the match of KEYED_ID_RE or NUMERIC_ID_RE: well formed
                    key, number = (
                        ((field, m[1]), int(m[2]))
                        if field in KEYED_TOOLS
                        else ((field, None), int(value))
                    )
                    if number > high.get(key, 0):
                        high[key] = number


#: The fix of a committed collision, appended to every message that reports one.
SETTLE = "; settle it with `extid repair` (the task created later is renumbered) or `--keep TASK`"


def clash_problem(name: str, internal: str, tool: str | None, value: str, other: str) -> Problem:
    """The problem of entry `internal` sharing an identity with entry `other`: the same
    internal ID up to case (`tool` None) or `value` in `tool` (the fields of a model.Clash)."""
    if tool is None:
        return Problem(
            name, _entry_path(internal), f"same task as {show(other)} (IDs differ only in case)"
        )
    return Problem(
        name,
        _entry_path(internal, tool),
        f"{tool} {value} is also held by {show(other)}{SETTLE}",
    )


def _entry_path(internal: str, field: str | None = None) -> str:
    path = jpath("$.mappings", internal)
    return path if field is None else jpath(path, field)


def _check_counters(doc: Any, name: str, out: list[Problem]) -> None:
    if not _check_envelope(doc, COUNTERS, name, out):
        return
    for tool, value in doc["counters"].items():
        path = jpath("$.counters", tool)
        if tool not in TOOLS:
            out.append(Problem(name, path, f"unknown tool (expected one of {', '.join(TOOLS)})"))
        elif tool not in KEYED_TOOLS:
            _check_counter(value, path, name, out)
        elif not isinstance(value, dict):
            out.append(Problem(name, path, f"must be an object of project keys, got {show(value)}"))
        else:
            for key, number in value.items():
                sub = jpath(path, key)
                if PROJECT_KEY_RE.fullmatch(key) is None:
                    out.append(Problem(name, sub, f"{show(key)} is not a project key (e.g. PROJ)"))
                _check_counter(number, sub, name, out)


def _check_counter(value: Any, path: str, name: str, out: list[Problem]) -> None:
    if type(value) is not int:
        out.append(Problem(name, path, f"counter must be an integer, got {show(value)}"))
    elif value < 0:
        out.append(Problem(name, path, f"counter {value} is negative"))
    elif value > MAX_COUNTER:
        out.append(Problem(name, path, f"counter {show(value)} is above 2**53"))


def _second_opinion(obj: Any, kind: Kind, name: str, found: list[Problem]) -> list[Problem]:
    """Add jsonschema's findings on the offending part that the fast pass did not name."""
    from .schemas import validator  # deferred: jsonschema costs ~100 ms to import

    flagged = {p.where for p in found}
    extra = [
        Problem(name, where, message)
        for where, message in validator(kind).errors(_offending_part(obj, kind, found))
        if not any(_within(f, where) or _within(where, f) for f in flagged)
    ]
    return found + extra


def _within(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith((ancestor + ".", ancestor + "["))


def _offending_part(obj: Any, kind: Kind, found: list[Problem]) -> Any:
    """The document cut down to its envelope and the entries a problem points into."""
    if kind != MAPPING or not isinstance(obj, dict) or not isinstance(obj.get("mappings"), dict):
        return obj
    mappings = obj["mappings"]
    keep = (
        {
            k: v
            for k, v in mappings.items()
            if any(p.where.startswith(jpath("$.mappings", k)) for p in found)
        }
        if len(found) < 50
        else mappings
    )
    return {**obj, "mappings": keep}


# --- the pair ------------------------------------------------------------------------------


def check_pair(
    mapping: Any,
    counters: Any,
    mapping_name: str,
    counters_name: str,
    high: dict[tuple[str, str | None], int] | None = None,
) -> list[Problem]:
    """Cross-file rule: every counter is above every number used in the mappings (`high`:
    the mappings' `model.highest_used`, when the caller has it already)."""
    if not isinstance(mapping, dict) or not isinstance(counters, dict):
        return []
    if not isinstance(mapping.get("mappings"), dict) or not isinstance(
        counters.get("counters"), dict
    ):
        return []
    problems = []
    if high is None:
        high = highest_used(mapping["mappings"])
    for (tool, key), used in sorted(high.items(), key=str):
        have = get_counter(counters["counters"], tool, key)
        if have <= used:
            where = f"$.counters.{tool}" + (f".{key}" if key else "")
            ext = f"{key}-{used}" if key else str(used)
            # An absent counter is not "counter 0": say what is really wrong.
            if _has_counter(counters, tool, key):
                what = f"counter {have} is at or below {tool} {ext}, already used"
            else:
                what = f"counter missing, though {tool} {ext} is already used"
            problems.append(
                Problem(
                    counters_name,
                    where,
                    f"{what} in {mapping_name} (run `extid repair` to reconcile)",
                )
            )
    return problems


def _has_counter(counters: dict[str, Any], tool: str, key: str | None) -> bool:
    value = counters["counters"].get(tool)
    return isinstance(value, dict) and key in value if key is not None else value is not None
