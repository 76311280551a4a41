"""Shared by the merge tests: document builders, marked-region picking, a merge checked both
ways round, and hypothesis strategies for small mapping sets."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

from extid.merge import MergeResult, merge

T0 = "2025-01-01T00:00:00Z"
T1 = "2025-01-02T00:00:00Z"
T2 = "2025-01-03T00:00:00Z"


def mdoc(mappings: dict[str, Any], updated: str = T0) -> dict[str, Any]:
    return {"mappings": mappings, "updated": updated, "version": "1.0"}


def cdoc(counters: dict[str, Any], updated: str = T0) -> dict[str, Any]:
    return {"counters": counters, "updated": updated, "version": "1.0"}


def pick(text: bytes, side: str) -> Any:
    """Resolve every marked region of `text` to one side and parse the result."""
    out, state = [], "both"
    for line in text.decode().split("\n"):
        if line.startswith("<<<<<<< "):
            state = "ours"
        elif line == "=======":
            state = "theirs"
        elif line.startswith(">>>>>>> "):
            state = "both"
        elif state in ("both", side):
            out.append(line)
    return json.loads("\n".join(out))


def both_ways(base: Any, ours: Any, theirs: Any, **kw: Any) -> MergeResult:
    """Merge, and check that swapping the sides merges to the same content."""
    one = merge(copy.deepcopy(base), copy.deepcopy(ours), copy.deepcopy(theirs), "mapping", **kw)
    two = merge(copy.deepcopy(base), copy.deepcopy(theirs), copy.deepcopy(ours), "mapping", **kw)
    assert one.clean == two.clean
    if one.clean:
        assert one.doc == two.doc
    assert sorted(c.path for c in one.conflicts) == sorted(c.path for c in two.conflicts)
    return one


IDS = ["TASK-AAAA", "TASK-BBBB", "TASK-CCCC", "TASK-DDDD", "TASK-EEEE"]
TIMES = [T0, T1, T2]
entries = st.fixed_dictionaries(
    {},
    optional={
        "jira": st.sampled_from([f"P-{n}" for n in range(1, 6)]),
        "github": st.sampled_from([str(n) for n in range(1, 6)]),
        "created": st.sampled_from(TIMES),
    },
)
mapping_sets = st.dictionaries(st.sampled_from(IDS), entries, max_size=5)


def no_collisions(mappings: dict[str, Any]) -> dict[str, Any]:
    seen: set[tuple[str, str]] = set()
    out = {}
    for key in sorted(mappings):
        entry = {}
        for name, value in mappings[key].items():
            if name != "created" and (name, value) in seen:
                continue
            seen.add((name, value))
            entry[name] = value
        out[key] = entry
    return out


def holders(mappings: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t, v) for e in mappings.values() for t, v in e.items() if t != "created"]
