"""extid.merge.collisions: two tasks holding one external ID after a merge are a conflict, or
the later task is renumbered above every counter and used number."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from merge_helpers import T0, T1, T2, both_ways, cdoc, mdoc, pick

import extid.merge.collisions as collisions_module
from extid.merge import merge, merge_counter_floor, renumber_committed

BASE = mdoc({"TASK-AAAA": {"created": T0, "jira": "P-1"}})
OURS = mdoc({**BASE["mappings"], "TASK-CCCC": {"created": T2, "jira": "P-2"}})
THEIRS = mdoc({**BASE["mappings"], "TASK-BBBB": {"created": T1, "jira": "P-2", "github": "5"}})


def test_collision_is_a_conflict_by_default() -> None:
    r = both_ways(BASE, OURS, THEIRS)
    assert len(r.conflicts) == 1
    c = r.conflicts[0]
    assert c.collision and c.path == ("mappings", "TASK-CCCC", "jira")  # the later task
    assert "TASK-BBBB" in c.message and "TASK-CCCC" in c.message
    text = r.render()
    assert "jira" not in pick(text, "theirs")["mappings"]["TASK-CCCC"]
    assert pick(text, "ours")["mappings"]["TASK-CCCC"]["jira"] == "P-2"


def test_collision_renumbers_the_later_task_above_every_counter() -> None:
    floor = merge_counter_floor(cdoc({"jira": {"P": 9}}), cdoc({"jira": {"P": 3}, "github": 6}))
    r = both_ways(BASE, OURS, THEIRS, on_collision="renumber", counter_floor=floor)
    assert r.clean
    assert r.doc["mappings"]["TASK-BBBB"]["jira"] == "P-2"
    assert r.doc["mappings"]["TASK-CCCC"]["jira"] == "P-9"
    assert [str(x) for x in r.renumbered] == [
        "renumbered TASK-CCCC jira P-2 -> P-9 (TASK-BBBB keeps P-2)"
    ]


def test_renumber_ties_are_broken_by_internal_id_and_go_above_used_numbers() -> None:
    ours = mdoc({"TASK-AAAA": {"jira": "P-3"}, "TASK-DDDD": {"jira": "P-40"}})
    theirs = mdoc({"TASK-BBBB": {"jira": "P-3"}})
    r = both_ways(None, ours, theirs, on_collision="renumber")
    assert r.doc["mappings"]["TASK-AAAA"]["jira"] == "P-3"
    assert r.doc["mappings"]["TASK-BBBB"]["jira"] == "P-41"


@pytest.mark.parametrize("side, keeper", [("ours", "TASK-CCCC"), ("theirs", "TASK-BBBB")])
def test_collision_decided_for_a_side(side: str, keeper: str) -> None:
    r = merge(BASE, OURS, THEIRS, "mapping", on_collision=side)  # type: ignore[arg-type]
    assert r.clean
    assert r.doc["mappings"][keeper]["jira"] == "P-2"
    assert len(r.renumbered) == 1 and r.renumbered[0].kept_by == keeper


def test_numeric_tool_collision() -> None:
    r = both_ways(
        None,
        mdoc({"TASK-AAAA": {"github": "5"}}),
        mdoc({"TASK-BBBB": {"github": "5"}}),
        on_collision="renumber",
    )
    assert r.doc["mappings"]["TASK-BBBB"]["github"] == "6"


def test_a_renumbering_heavy_merge_scans_the_used_numbers_once_per_tool_and_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each renumbering used to scan every entry for the highest used number: quadratic in a
    merge with many collisions. Counted, not timed: one scan per tool/key, same numbers."""
    scans: list[tuple[str, str | None]] = []
    highest = collisions_module._highest

    def counting(mappings: dict[str, Any], tool: str, key: str | None) -> int:
        scans.append((tool, key))
        return highest(mappings, tool, key)

    monkeypatch.setattr(collisions_module, "_highest", counting)
    base = mdoc({f"TASK-{i:04X}": {"created": T0, "jira": f"P-{i}"} for i in range(1, 201)})
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    for i in range(100):  # the same numbers on both sides; theirs' tasks are the later
        numbers = {"jira": f"P-{1000 + i}", "github": f"{500 + i}"}
        ours["mappings"][f"TASK-A{i:03X}"] = {"created": T1, **numbers}
        theirs["mappings"][f"TASK-B{i:03X}"] = {"created": T2, **numbers}
    r = merge(base, ours, theirs, "mapping", on_collision="renumber")
    assert r.clean and len(r.renumbered) == 200
    assert sorted(scans) == [("github", None), ("jira", "P")]
    merged = r.doc["mappings"]
    assert sorted(merged[f"TASK-B{i:03X}"]["jira"] for i in range(100)) == sorted(
        f"P-{1100 + i}" for i in range(100)
    )
    assert {merged[f"TASK-B{i:03X}"]["github"] for i in range(100)} == {
        str(600 + i) for i in range(100)
    }


def test_a_committed_collision_keeps_the_task_the_merge_would_keep() -> None:
    """The post-merge hook and the merge driver pick the same keeper: times compared as times
    (10:00:00Z is before 10:00:00.5Z, although '.' sorts before 'Z' as text)."""
    entries = {
        "TASK-aaaa": {"created": "2025-01-08T10:00:00.5Z", "jira": "PROJ-4"},
        "TASK-bbbb": {"created": "2025-01-08T10:00:00Z", "jira": "PROJ-4"},
    }
    base = mdoc({})
    ours = mdoc({"TASK-aaaa": entries["TASK-aaaa"]})
    theirs = mdoc({"TASK-bbbb": entries["TASK-bbbb"]})
    merged = merge(base, ours, theirs, "mapping", on_collision="renumber")
    assert [r.internal_id for r in merged.renumbered] == ["TASK-aaaa"]

    mappings = copy.deepcopy(entries)
    counters: dict[str, Any] = {"jira": {"PROJ": 5}}
    actions = renumber_committed(mappings, counters)
    assert actions == ["renumbered TASK-aaaa jira PROJ-4 -> PROJ-5 (TASK-bbbb keeps it)"]
    assert mappings["TASK-bbbb"]["jira"] == "PROJ-4" and counters == {"jira": {"PROJ": 6}}


def test_committed_collisions_scan_the_used_numbers_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Renumbering n committed collisions is one pass over the mappings, not n."""
    mappings = {f"TASK-{i:04x}": {"jira": f"PROJ-{i // 2 + 1}"} for i in range(400)}
    calls = []
    real = collisions_module.model.highest_used
    monkeypatch.setattr(
        collisions_module.model, "highest_used", lambda m: calls.append(1) or real(m)
    )
    actions = renumber_committed(mappings, {})
    assert len(actions) == 200 and len(calls) == 1
    numbers = [e["jira"] for e in mappings.values()]
    assert len(set(numbers)) == 400  # every task now holds its own ID
