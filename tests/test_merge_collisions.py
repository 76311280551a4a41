"""extid.merge.collisions: two tasks holding one external ID after a merge are a conflict, or
the later task is renumbered above every counter and used number."""

from __future__ import annotations

import pytest
from merge_helpers import T0, T1, T2, both_ways, cdoc, mdoc, pick

from extid.merge import merge, merge_counter_floor

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
