"""The pure three-way merge (extid/merge.py): unit cases, conflict rendering, and a property
test that the merge is symmetric and loses nothing."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extid.document import canonical
from extid.merge import (
    MISSING,
    MergeResult,
    fast_merge_mapping,
    merge,
    merge_counter_floor,
    newer_version,
    time_key,
)
from extid.model import highest_used

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


def test_same_field_changed_differently_is_a_conflict_in_the_smallest_region() -> None:
    base = mdoc({"TASK-AAAA": {"created": T0, "jira": "P-1"}, "TASK-BBBB": {"jira": "P-2"}})
    ours = mdoc({"TASK-AAAA": {"created": T0, "jira": "P-7"}, "TASK-BBBB": {"jira": "P-2"}})
    theirs = mdoc({"TASK-AAAA": {"created": T0, "jira": "P-8"}, "TASK-BBBB": {"jira": "P-2"}})
    r = both_ways(base, ours, theirs)
    assert [c.path for c in r.conflicts] == [("mappings", "TASK-AAAA", "jira")]
    assert "P-7" in r.conflicts[0].message and "P-8" in r.conflicts[0].message
    text = r.render()
    assert text.count(b"<<<<<<< ours") == 1
    region = text.split(b"<<<<<<< ours\n")[1].split(b">>>>>>> theirs")[0]
    assert region == b'      "jira": "P-7"\n=======\n      "jira": "P-8"\n'
    assert pick(text, "ours")["mappings"]["TASK-AAAA"]["jira"] == "P-7"
    assert pick(text, "theirs")["mappings"]["TASK-AAAA"]["jira"] == "P-8"
    assert pick(text, "ours")["mappings"]["TASK-BBBB"] == {"jira": "P-2"}


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


def test_an_empty_side_at_the_end_of_an_object_keeps_both_sides_valid() -> None:
    base = mdoc({"TASK-AAAA": {"jira": "P-1"}, "TASK-FFFF": {"jira": "P-2"}})
    ours = mdoc({"TASK-AAAA": {"jira": "P-1"}, "TASK-FFFF": {"jira": "P-3"}})
    theirs = mdoc({"TASK-AAAA": {"jira": "P-1"}})
    r = merge(base, ours, theirs, "mapping")
    text = r.render()
    assert pick(text, "ours")["mappings"] == {
        "TASK-AAAA": {"jira": "P-1"},
        "TASK-FFFF": {"jira": "P-3"},
    }
    assert pick(text, "theirs")["mappings"] == {"TASK-AAAA": {"jira": "P-1"}}


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


def test_unversioned_output_keeps_markers() -> None:
    r = merge(
        None, mdoc({"TASK-AAAA": {"jira": "P-1"}}), mdoc({"TASK-AAAA": {"jira": "P-2"}}), "mapping"
    )
    text = r.render("0")
    assert pick(text, "theirs") == {"TASK-AAAA": {"jira": "P-2"}}


# --- collisions ----------------------------------------------------------------------------

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


# --- the large-file fast path: the same answer as the document merge, or none ----------------


def test_fast_path_applies_to_canonical_files_and_agrees() -> None:
    base = mdoc({f"TASK-{n:04X}": {"jira": f"P-{n}", "created": T0} for n in range(1, 300)})
    ours = copy.deepcopy(base)
    theirs = copy.deepcopy(base)
    ours["mappings"]["TASK-A000"] = {"jira": "P-900"}
    ours["mappings"]["TASK-0005"]["github"] = "5"
    del ours["mappings"]["TASK-0007"]
    theirs["mappings"]["TASK-B000"] = {"linear": "T-1"}
    theirs["mappings"]["TASK-0006"]["github"] = "6"
    theirs["updated"] = T2
    fast = fast_merge_mapping(canonical(base), canonical(ours), canonical(theirs))
    assert fast is not None and fast.clean
    assert fast.data == merge(base, ours, theirs, "mapping").render()
    # swapped sides: the same bytes
    swapped = fast_merge_mapping(canonical(base), canonical(theirs), canonical(ours))
    assert swapped is not None and swapped.data == fast.data


def test_fast_path_declines_what_it_cannot_prove() -> None:
    base = mdoc({f"TASK-{n:04X}": {"jira": f"P-{n}"} for n in range(1, 5)})
    ours = copy.deepcopy(base)
    ours["mappings"]["TASK-A000"] = {"jira": "P-900"}
    theirs = copy.deepcopy(base)
    theirs["mappings"]["TASK-0004"] = {"jira": "P-44"}
    b, o, t = canonical(base), canonical(ours), canonical(theirs)
    assert fast_merge_mapping(b, o, t) is not None
    assert fast_merge_mapping(b, o, t.replace(b'"P-44"', b'"P-44",')) is None  # broken JSON
    assert fast_merge_mapping(b, o, t + b" ") is None  # not canonical
    del theirs["mappings"]["TASK-0004"]
    ours["mappings"]["TASK-0004"] = {"jira": "P-4", "github": "1"}
    assert fast_merge_mapping(b, canonical(ours), canonical(theirs)) is None  # delete/modify


def test_fast_path_renders_field_conflicts_and_collisions_like_the_document_merge() -> None:
    base = mdoc({f"TASK-{n:04X}": {"jira": f"P-{n}"} for n in range(1, 5)})
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    ours["mappings"]["TASK-A000"] = {"created": T1, "jira": "P-900"}
    theirs["mappings"]["TASK-B000"] = {"created": T2, "jira": "P-900"}  # a collision
    ours["mappings"]["TASK-0002"]["jira"] = "P-20"  # a field conflict
    theirs["mappings"]["TASK-0002"]["jira"] = "P-21"
    fast = fast_merge_mapping(*(canonical(d) for d in (base, ours, theirs)))
    slow = merge(base, ours, theirs, "mapping")
    assert fast is not None and len(fast.conflicts) == 2
    assert fast.data == slow.render()
    assert sorted(c.message for c in fast.conflicts) == sorted(c.message for c in slow.conflicts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mapping_sets, mapping_sets, mapping_sets)
def test_fast_path_equals_the_document_merge(
    b: dict[str, Any], o: dict[str, Any], t: dict[str, Any]
) -> None:
    b, o, t = no_collisions(b), no_collisions(o), no_collisions(t)
    docs = [mdoc(b), mdoc(o, T1), mdoc(t, T2)]
    fast = fast_merge_mapping(*(canonical(d) for d in docs))
    slow = merge(*docs, "mapping")
    if fast is not None:
        assert fast.data == slow.render()
        assert sorted(c.path for c in fast.conflicts) == sorted(c.path for c in slow.conflicts)
    elif slow.clean and slow.doc["mappings"] and o and t:
        # declining is only for conflicts, collisions and empty objects, never a clean merge
        # of non-empty sides
        raise AssertionError("the fast path declined a clean merge")
