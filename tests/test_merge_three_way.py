"""extid.merge.three_way: the per-entry, per-field merge of mappings and counters, and a
property test that the merge is symmetric and loses nothing."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from merge_helpers import (
    T1,
    T2,
    both_ways,
    cdoc,
    holders,
    mapping_sets,
    mdoc,
    no_collisions,
    pick,
)

from extid.document import canonical
from extid.merge import MISSING, merge, newer_version, time_key
from extid.model import highest_used

# --- mappings ------------------------------------------------------------------------------


def test_adds_on_both_sides_are_united() -> None:
    base = mdoc({"TASK-AAAA": {"jira": "P-1"}})
    ours = mdoc({"TASK-AAAA": {"jira": "P-1"}, "TASK-BBBB": {"jira": "P-2"}}, T1)
    theirs = mdoc({"TASK-AAAA": {"jira": "P-1"}, "TASK-CCCC": {"jira": "P-3"}}, T2)
    r = both_ways(base, ours, theirs)
    assert r.clean
    assert r.doc == mdoc(
        {"TASK-AAAA": {"jira": "P-1"}, "TASK-BBBB": {"jira": "P-2"}, "TASK-CCCC": {"jira": "P-3"}},
        T2,
    )
    assert r.render() == canonical(r.doc)


def test_one_sided_change_is_taken_and_same_change_is_clean() -> None:
    base = mdoc({"TASK-AAAA": {"jira": "P-1"}, "TASK-BBBB": {"jira": "P-2"}})
    ours = mdoc({"TASK-AAAA": {"jira": "P-1", "github": "7"}, "TASK-BBBB": {"jira": "P-5"}})
    theirs = mdoc({"TASK-AAAA": {"jira": "P-1"}, "TASK-BBBB": {"jira": "P-5"}})
    r = both_ways(base, ours, theirs)
    assert r.clean
    assert r.doc["mappings"] == {
        "TASK-AAAA": {"jira": "P-1", "github": "7"},
        "TASK-BBBB": {"jira": "P-5"},
    }


def test_different_fields_of_one_entry_merge() -> None:
    base = mdoc({"TASK-AAAA": {"jira": "P-1"}})
    ours = mdoc({"TASK-AAAA": {"jira": "P-1", "linear": "T-1"}})
    theirs = mdoc({"TASK-AAAA": {"github": "3"}})
    r = both_ways(base, ours, theirs)
    assert r.clean
    assert r.doc["mappings"] == {"TASK-AAAA": {"linear": "T-1", "github": "3"}}


def test_deletions() -> None:
    base = mdoc({"TASK-AAAA": {"jira": "P-1"}, "TASK-BBBB": {"jira": "P-2"}})
    ours = mdoc({"TASK-BBBB": {"jira": "P-2"}})
    theirs = mdoc({})
    r = both_ways(base, ours, theirs)
    assert r.clean
    assert r.doc["mappings"] == {}


@pytest.mark.parametrize("prefer", ["ours", "theirs"])
def test_on_conflict_takes_a_side(prefer: str) -> None:
    base = mdoc({"TASK-AAAA": {"jira": "P-1"}})
    ours = mdoc({"TASK-AAAA": {"jira": "P-7"}})
    theirs = mdoc({"TASK-AAAA": {"jira": "P-8"}})
    r = merge(base, ours, theirs, "mapping", on_conflict=prefer)  # type: ignore[arg-type]
    assert r.clean
    assert r.doc["mappings"]["TASK-AAAA"]["jira"] == ("P-7" if prefer == "ours" else "P-8")


def test_delete_against_modify_is_a_conflict_of_the_whole_entry() -> None:
    base = mdoc({"TASK-AAAA": {"jira": "P-1"}, "TASK-BBBB": {"jira": "P-2"}})
    ours = mdoc({"TASK-BBBB": {"jira": "P-2"}})
    theirs = mdoc({"TASK-AAAA": {"jira": "P-1", "github": "4"}, "TASK-BBBB": {"jira": "P-2"}})
    r = both_ways(base, ours, theirs)
    assert [c.path for c in r.conflicts] == [("mappings", "TASK-AAAA")]
    assert r.conflicts[0].ours is MISSING
    assert "deleted on ours" in r.conflicts[0].message
    text = r.render()
    assert pick(text, "ours")["mappings"] == {"TASK-BBBB": {"jira": "P-2"}}
    assert pick(text, "theirs")["mappings"]["TASK-AAAA"] == {"jira": "P-1", "github": "4"}


def test_both_added_the_file() -> None:
    ours = mdoc({"TASK-AAAA": {"jira": "P-1"}})
    theirs = mdoc({"TASK-BBBB": {"jira": "P-2"}})
    r = both_ways(None, ours, theirs)
    assert r.clean
    assert set(r.doc["mappings"]) == {"TASK-AAAA", "TASK-BBBB"}


def test_both_added_one_task_differently_conflicts() -> None:
    r = both_ways(None, mdoc({"TASK-AAAA": {"jira": "P-1"}}), mdoc({"TASK-AAAA": {"jira": "P-2"}}))
    assert [c.path for c in r.conflicts] == [("mappings", "TASK-AAAA", "jira")]


def test_internal_ids_fold_case() -> None:
    base = mdoc({"TASK-e01a": {"jira": "P-1"}})
    ours = mdoc({"TASK-E01A": {"jira": "P-1"}})  # only the spelling changed
    theirs = mdoc({"TASK-e01a": {"jira": "P-1", "github": "9"}})
    r = both_ways(base, ours, theirs)
    assert r.clean
    assert r.doc["mappings"] == {"TASK-E01A": {"jira": "P-1", "github": "9"}}


def test_created_set_on_both_sides_takes_the_earlier() -> None:
    r = both_ways(
        None,
        mdoc({"TASK-AAAA": {"created": "2025-01-02T00:00:00Z", "jira": "P-1"}}),
        mdoc({"TASK-AAAA": {"created": "2025-01-01T23:00:00.5Z", "jira": "P-1"}}),
    )
    assert r.clean
    assert r.doc["mappings"]["TASK-AAAA"]["created"] == "2025-01-01T23:00:00.5Z"


def test_updated_is_the_later_instant_whatever_the_offset() -> None:
    ours = mdoc({}, "2025-01-01T10:00:00+02:00")  # 08:00 UTC
    theirs = mdoc({}, "2025-01-01T09:00:00Z")
    r = both_ways(None, ours, theirs)
    assert r.doc["updated"] == "2025-01-01T09:00:00Z"
    assert time_key("2025-01-01T10:00:00.1Z") > time_key("2025-01-01T10:00:00Z")


def test_version_helper() -> None:
    assert newer_version("0", "1.0") == "1.0" == newer_version("1.0", "0")


# --- counters ------------------------------------------------------------------------------


def test_counters_take_the_maximum_and_keep_one_sided_keys() -> None:
    base = cdoc({"github": 5, "jira": {"P": 5}})
    ours = cdoc({"github": 7, "jira": {"P": 4, "Q": 2}}, T1)  # P went backwards on ours
    theirs = cdoc({"github": 6, "jira": {"P": 6}, "linear": {"T": 3}}, T2)
    for a, b in ((ours, theirs), (theirs, ours)):
        r = merge(base, a, b, "counters")
        assert r.clean
        assert r.doc == cdoc({"github": 7, "jira": {"P": 6, "Q": 2}, "linear": {"T": 3}}, T2)


def test_counters_rise_above_the_merged_mappings() -> None:
    mappings = {"TASK-AAAA": {"jira": "P-9", "github": "12"}, "TASK-BBBB": {"linear": "T-4"}}
    r = merge(None, cdoc({"jira": {"P": 3}}), cdoc({"github": 2}), "counters", mappings=mappings)
    assert r.doc["counters"] == {"github": 13, "jira": {"P": 10}, "linear": {"T": 5}}


# --- property: symmetric, nothing lost -----------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mapping_sets, mapping_sets, mapping_sets, st.sampled_from(["conflict", "renumber"]))
def test_merge_is_symmetric_and_loses_nothing(
    b: dict[str, Any], o: dict[str, Any], t: dict[str, Any], mode: str
) -> None:
    b, o, t = no_collisions(b), no_collisions(o), no_collisions(t)
    r = both_ways(mdoc(b), mdoc(o), mdoc(t), on_collision=mode)
    merged = r.doc["mappings"]
    conflicted = {c.path[1] for c in r.conflicts}
    renumbered = {(x.internal_id, x.tool) for x in r.renumbered}
    for side, other in ((o, t), (t, o)):
        for key, entry in side.items():
            if key in conflicted:
                continue
            if key not in merged:  # only a deletion on the other side of an unchanged entry
                assert key not in other and b.get(key) == entry
                continue
            for name, value in entry.items():
                got = merged[key].get(name, MISSING)
                if got != value and (key, name) not in renumbered:
                    # the other side changed it (created: the earlier of two wins)
                    assert other.get(key, {}).get(name, MISSING) != b.get(key, {}).get(
                        name, MISSING
                    )
    if r.clean:
        assert len(set(holders(merged))) == len(holders(merged)), "a clean merge has no collision"
        assert json.loads(r.render()) == r.doc
        if mode == "renumber":
            used = highest_used(merged)
            assert all(n >= 1 for n in used.values())
    else:
        for side in ("ours", "theirs"):
            assert "mappings" in pick(r.render(), side)
    assert not re.search(rb"extid-conflict", r.render())
